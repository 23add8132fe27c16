/**
 * The port mapping dialog (add and edit): name, TCP or UDP, the port on this
 * PC, the destination, an optional listen address and a note, with quick
 * picks for common services. What can be checked here is checked before
 * saving; a refusal from Gatehouse (a port already in use, naming its owner)
 * shows beside the buttons, marks the field it is about and keeps the form.
 */
import { useState, type FormEvent } from 'react';
import { EMPTY_MAPPING, parseHostPort, type Mapping, type MappingInput, type MappingProto } from '../../../main/contract/index.js';
import type { UiError } from '../../store/errors.js';
import { useApp } from '../../store/hooks.js';
import { MAPPING_PRESETS, presetText, withPort } from '../../tunnels-text.js';
import { Modal, ModalFooter } from '../Modal.js';
import { Segmented } from '../Segmented.js';

type Field = 'name' | 'port' | 'to' | 'listen';

interface Draft {
  name: string;
  proto: MappingProto;
  port: string;
  to: string;
  listen: string;
  enabled: boolean;
  note: string;
}

const toDraft = (m: MappingInput): Draft => ({ ...m, port: m === EMPTY_MAPPING ? '' : String(m.port) });

/** The draft as a mapping, or what is wrong with it and where. */
function fromDraft(d: Draft): { mapping: MappingInput } | { field: Field; message: string } {
  if (!d.name.trim()) return { field: 'name', message: 'Give the mapping a name, e.g. “mail” or “pop3”.' };
  const port = Number(d.port.trim());
  if (!/^\d+$/.test(d.port.trim()) || port < 1 || port > 65535) return { field: 'port', message: `Port “${d.port}” is not a number from 1 to 65535.` };
  if (!d.to.trim()) return { field: 'to', message: 'Enter where to forward to, as host:port, e.g. mail.example.com:110.' };
  try {
    parseHostPort(d.to, 'the destination');
  } catch (e) {
    return { field: 'to', message: `${(e as Error).message}.` };
  }
  return { mapping: { name: d.name.trim(), proto: d.proto, port, to: d.to.trim(), listen: d.listen.trim(), enabled: d.enabled, note: d.note } };
}

/** The field a refusal from Gatehouse is about. */
function fieldOf(e: UiError): Field | null {
  if (e.code === 'E_PORT_IN_USE') return 'port';
  const m = e.message.toLowerCase();
  if (/listen/.test(m)) return 'listen';
  if (/destination|\bto\b/.test(m)) return 'to';
  if (/named|name is empty|\bname\b/.test(m)) return 'name';
  if (/port/.test(m)) return 'port';
  return null;
}

/** What to do next, where the message does not say it already. */
function hintOf(e: UiError): string | null {
  if (e.code === 'E_VALIDATION' || /choose/i.test(e.message)) return null;
  if (e.code === 'E_PORT_IN_USE') return 'Choose another port.';
  return e.hint;
}

export function MappingDialog({ mapping, onClose }: { mapping: Mapping | null; onClose: () => void }) {
  const add = useApp((s) => s.addMapping);
  const update = useApp((s) => s.updateMapping);
  const [d, setD] = useState<Draft>(() => toDraft(mapping ?? EMPTY_MAPPING));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: Field | null; text: string; hint: string | null } | null>(null);
  const patch = (p: Partial<Draft>) => {
    setD((cur) => ({ ...cur, ...p }));
    if (error?.field && error.field in p) setError(null);
  };
  const bad = (f: Field) => (error?.field === f ? true : undefined);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const built = fromDraft(d);
    if ('message' in built) {
      setError({ field: built.field, text: built.message, hint: null });
      document.getElementById(`map-${built.field}`)?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    const r = mapping ? await update(mapping.id, built.mapping) : await add(built.mapping);
    setBusy(false);
    if (r.ok) return onClose();
    const field = fieldOf(r.error);
    setError({ field, text: r.error.message, hint: hintOf(r.error) });
    if (field) document.getElementById(`map-${field}`)?.focus();
  };

  return (
    <Modal
      title={mapping ? `Edit mapping “${mapping.name}”` : 'New port mapping'}
      subtitle="Every connection to the port on this PC is forwarded to one destination."
      onClose={onClose}
      testId="mapping-dialog"
    >
      <form className="modal-form" onSubmit={(e) => void submit(e)} noValidate>
        <div className="modal-body">
          <div className="field">
            <span className="field-label">Quick picks</span>
            <div className="presets" role="group" aria-label="Common services">
              {MAPPING_PRESETS.map((p) => (
                <button
                  key={p.label}
                  type="button"
                  className={`preset ${d.port === String(p.port) && d.proto === p.proto ? 'is-on' : ''}`}
                  onClick={() => patch({ port: String(p.port), proto: p.proto, name: d.name.trim() ? d.name : p.name, to: withPort(d.to, p.port) })}
                >
                  {presetText(p)}
                </button>
              ))}
            </div>
          </div>
          <div className="field-row field-row-main">
            <div className="field field-grow">
              <label htmlFor="map-name">Name</label>
              <input id="map-name" className="input" value={d.name} maxLength={64} autoFocus aria-invalid={bad('name')} placeholder="e.g. mail" onChange={(e) => patch({ name: e.target.value })} />
            </div>
            <div className="field">
              <span className="field-label">Protocol</span>
              <Segmented
                label="Protocol"
                value={d.proto}
                options={[
                  { value: 'tcp', label: 'TCP' },
                  { value: 'udp', label: 'UDP' },
                ]}
                onChange={(proto) => patch({ proto })}
                testId="map-proto"
              />
            </div>
          </div>
          <div className="field-row map-ports">
            <div className="field field-port">
              <label htmlFor="map-port">Port</label>
              <input id="map-port" className="input mono" inputMode="numeric" value={d.port} aria-invalid={bad('port')} placeholder="110" onChange={(e) => patch({ port: e.target.value })} />
            </div>
            <span className="map-arrow" aria-hidden="true">
              →
            </span>
            <div className="field field-grow">
              <label htmlFor="map-to">Forward to</label>
              <input
                id="map-to"
                className="input mono"
                value={d.to}
                spellCheck={false}
                autoComplete="off"
                aria-invalid={bad('to')}
                aria-describedby="map-to-help"
                placeholder="mail.example.com:110"
                onChange={(e) => patch({ to: e.target.value })}
              />
            </div>
          </div>
          <p className="field-help map-to-help" id="map-to-help">
            The port on this PC that devices connect to, and where Gatehouse forwards them: host:port — an IPv6 address goes
            in brackets: <code>[fd00::1]:53</code>
          </p>
          <div className="field">
            <label htmlFor="map-listen">Listen address (optional)</label>
            <input
              id="map-listen"
              className="input mono"
              value={d.listen}
              spellCheck={false}
              autoComplete="off"
              aria-invalid={bad('listen')}
              aria-describedby="map-listen-help"
              placeholder="where the proxies listen"
              onChange={(e) => patch({ listen: e.target.value })}
            />
            <p className="field-help" id="map-listen-help">
              Empty: the addresses the proxies listen on (the <code>listen</code> setting). Or one address of this PC, e.g.{' '}
              <code>192.168.1.2</code>.
            </p>
          </div>
          <div className="field">
            <label htmlFor="map-note">Note</label>
            <input id="map-note" className="input" value={d.note} maxLength={500} placeholder="What it is for" onChange={(e) => patch({ note: e.target.value })} />
          </div>
          <label className="check">
            <input type="checkbox" checked={d.enabled} onChange={(e) => patch({ enabled: e.target.checked })} />
            <span>
              <b>Enabled</b> <span className="muted">— listens while sharing is on</span>
            </span>
          </label>
        </div>
        <ModalFooter
          error={
            error && (
              <>
                <b>Not saved.</b> {error.text}
                {error.hint && <span className="modal-error-hint"> {error.hint}</span>}
              </>
            )
          }
        >
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Saving…' : mapping ? 'Save mapping' : 'Add mapping'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}
