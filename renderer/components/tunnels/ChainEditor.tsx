/**
 * The chain editor (a dialog): the chain's name, its hops in order (added,
 * removed, moved), where names are looked up, and a note. Passwords go in
 * and never come back: on edit an empty password field keeps the saved one
 * (sent as "no password given"), "Remove the saved password" sends none.
 */
import { useRef, useState, type FormEvent } from 'react';
import type { Chain, ChainInput, HopInput } from '../../../main/contract/index.js';
import { useApp } from '../../store/hooks.js';
import type { UiError } from '../../store/errors.js';
import { Modal, ModalFooter } from '../Modal.js';
import { Segmented } from '../Segmented.js';
import { HopFields, keepsPassword, type HopDraft } from './HopFields.js';

const MAX_HOPS = 8;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

interface Draft {
  name: string;
  resolve: 'remote' | 'local';
  note: string;
  hops: HopDraft[];
}

function toDraft(c: Chain | null, nextKey: () => number): Draft {
  if (!c) return { name: '', resolve: 'remote', note: '', hops: [blankHop(nextKey())] };
  return {
    name: c.name,
    resolve: c.resolve,
    note: c.note,
    hops: c.hops.map((h, index) => ({
      key: nextKey(),
      kind: h.kind,
      host: h.host.includes(':') ? `[${h.host}]` : h.host,
      port: String(h.port),
      user: h.user ?? '',
      password: '',
      forget: false,
      saved: h.hasPassword ? { index, host: h.host.toLowerCase(), port: String(h.port), user: h.user ?? '' } : null,
    })),
  };
}

function blankHop(key: number): HopDraft {
  return { key, kind: 'socks5', host: '', port: '1080', user: '', password: '', forget: false, saved: null };
}

/** The draft as a chain, or what is wrong and at which hop (1-based; 0: the chain itself). */
function fromDraft(d: Draft): { chain: ChainInput } | { hop: number; message: string } {
  const name = d.name.trim();
  if (!name) return { hop: 0, message: 'Give the chain a name, e.g. “corp” or “tor”.' };
  if (!NAME_RE.test(name)) return { hop: 0, message: `“${name}”: a chain name is letters, digits, “.”, “_” and “-”, starting with a letter or digit.` };
  const hops: HopInput[] = [];
  for (const [i, h] of d.hops.entries()) {
    const host = h.host.trim().replace(/^\[|\]$/g, '');
    const port = Number(h.port.trim());
    if (!host) return { hop: i + 1, message: `Hop ${i + 1}: enter the proxy’s host name or address.` };
    if (!/^\d+$/.test(h.port.trim()) || port < 1 || port > 65535) return { hop: i + 1, message: `Hop ${i + 1}: port “${h.port}” is not a number from 1 to 65535.` };
    const user = h.user.trim() || null;
    const hop: HopInput = { kind: h.kind, host, port, user };
    if (h.kind === 'socks4a' || h.forget) hop.password = null;
    else if (h.password) hop.password = h.password;
    else if (!keepsPassword(h, i)) hop.password = null;
    // left out: the saved password stays
    if (hop.password && !user) return { hop: i + 1, message: `Hop ${i + 1}: a password needs a user name.` };
    hops.push(hop);
  }
  return { chain: { name, hops, resolve: d.resolve, note: d.note } };
}

export function ChainEditor({ chain, onClose }: { chain: Chain | null; onClose: () => void }) {
  const add = useApp((s) => s.addChain);
  const update = useApp((s) => s.updateChain);
  const keyRef = useRef(0);
  const nextKey = () => ++keyRef.current;
  const [d, setD] = useState<Draft>(() => toDraft(chain, nextKey));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ hop: number | null; text: string; hint: string | null } | null>(null);

  const patch = (p: Partial<Draft>) => setD((cur) => ({ ...cur, ...p }));
  const patchHop = (i: number, p: Partial<HopDraft>) => {
    setD((cur) => ({ ...cur, hops: cur.hops.map((h, j) => (j === i ? { ...h, ...p } : h)) }));
    if (error?.hop === i + 1) setError(null);
  };
  const moveHop = (from: number, to: number) =>
    setD((cur) => {
      const hops = [...cur.hops];
      const [h] = hops.splice(from, 1);
      hops.splice(to, 0, h!);
      return { ...cur, hops };
    });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const built = fromDraft(d);
    if ('message' in built) return setError({ hop: built.hop, text: built.message, hint: null });
    setBusy(true);
    setError(null);
    const r = chain ? await update(chain.name, built.chain) : await add(built.chain);
    setBusy(false);
    if (r.ok) return onClose();
    const e2: UiError = r.error;
    const hop = /hop (\d+)/i.exec(e2.message);
    setError({ hop: hop ? Number(hop[1]) : null, text: e2.message, hint: e2.code === 'E_VALIDATION' ? null : e2.hint });
  };

  return (
    <Modal
      title={chain ? `Edit chain “${chain.name}”` : 'New upstream chain'}
      subtitle="One or more proxies, first hop first: each is reached through the one before it."
      onClose={onClose}
      size="wide"
      testId="chain-editor"
    >
      <form className="modal-form" onSubmit={(e) => void submit(e)} noValidate>
        <div className="modal-body">
          <div className="field-row">
            <div className="field field-grow">
              <label htmlFor="chain-name">Name</label>
              <input
                id="chain-name"
                className="input mono"
                value={d.name}
                maxLength={64}
                autoFocus={!chain}
                readOnly={!!chain}
                spellCheck={false}
                aria-invalid={error?.hop === 0 || undefined}
                placeholder="corp"
                onChange={(e) => patch({ name: e.target.value })}
              />
              <p className="field-help">
                {chain ? 'A chain keeps its name: routes name it.' : 'Routes name the chain by it: letters, digits, “.”, “_” and “-”.'}
              </p>
            </div>
            <div className="field">
              <span className="field-label">Resolve names</span>
              <Segmented
                label="Resolve names"
                value={d.resolve}
                options={[
                  { value: 'remote', label: 'At the last hop', title: 'No DNS leak: this PC sends no DNS query for the destination' },
                  { value: 'local', label: 'On this PC', title: 'This PC looks the name up and sends the address to the chain' },
                ]}
                onChange={(resolve) => patch({ resolve })}
                testId="chain-resolve"
              />
              <p className="field-help">
                {d.resolve === 'remote' ? 'No DNS leak: this PC sends no DNS query for the sites.' : 'This PC looks names up, then sends the address.'}
              </p>
            </div>
          </div>
          <fieldset className="form-section">
            <legend>Hops, in order</legend>
            <ol className="hop-edits">
              {d.hops.map((h, i) => (
                <HopFields
                  key={h.key}
                  hop={h}
                  index={i}
                  count={d.hops.length}
                  invalid={error?.hop === i + 1}
                  onChange={(p) => patchHop(i, p)}
                  onMove={(to) => moveHop(i, to)}
                  onRemove={() => patch({ hops: d.hops.filter((_, j) => j !== i) })}
                />
              ))}
            </ol>
            <button
              type="button"
              className="btn btn-small hop-add"
              disabled={d.hops.length >= MAX_HOPS}
              onClick={() => patch({ hops: [...d.hops, blankHop(nextKey())] })}
            >
              Add a hop
            </button>
            {d.hops.length >= MAX_HOPS && <span className="muted small"> A chain has at most {MAX_HOPS} hops.</span>}
          </fieldset>
          <div className="field">
            <label htmlFor="chain-note">Note</label>
            <input id="chain-note" className="input" value={d.note} maxLength={500} placeholder="What it is for" onChange={(e) => patch({ note: e.target.value })} />
          </div>
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
            {busy ? 'Saving…' : chain ? 'Save chain' : 'Add chain'}
          </button>
        </ModalFooter>
      </form>
    </Modal>
  );
}
