/**
 * Port mappings: a port of this PC forwarded to one fixed destination, for
 * programs that know nothing of proxies (a mail client, a remote desktop).
 * The table shows where each listens, where it forwards to and whether it
 * runs (or why not), with an enabled switch, edit and remove.
 */
import { useEffect, useState } from 'react';
import type { Mapping, ServiceStatus } from '../../main/contract/index.js';
import { proxyEndpoints } from '../endpoints.js';
import { useApp } from '../store/hooks.js';
import { ErrorCallout } from '../components/ErrorCallout.js';
import { Toggle } from '../components/Toggle.js';
import { MappingDialog } from '../components/tunnels/MappingDialog.js';
import { ConfirmRemove } from '../components/tunnels/ConfirmRemove.js';
import { listenText, mappingState } from '../tunnels-text.js';

type Dialog = { kind: 'edit'; mapping: Mapping | null } | { kind: 'remove'; mapping: Mapping };

function StateCell({ mapping }: { mapping: Mapping }) {
  const sharing = useApp((s) => s.status?.sharing ?? false);
  const { word, why } = mappingState(mapping, sharing);
  return (
    <div className="map-state" data-testid="mapping-state" data-state={word.toLowerCase()}>
      <span className={`pill state-${word === 'Running' ? 'running' : word === 'Error' ? 'error' : 'stopped'}`}>
        <span className="dot" aria-hidden="true" />
        {word}
      </span>
      {why && <span className={`small ${word === 'Error' ? 'field-error' : 'muted'}`}>{word === 'Error' ? why : `(${why})`}</span>}
    </div>
  );
}

/** Where devices reach a running mapping (this PC's LAN addresses first), or where it would listen. */
function ListenWhere({ mapping: m }: { mapping: Mapping }) {
  const status = useApp((s) => s.status);
  const service: ServiceStatus = { name: 'mapping', label: m.name, state: m.state === 'running' ? 'running' : 'stopped', addresses: m.addresses, port: m.port, error: m.error };
  const at = proxyEndpoints(status, service);
  if (at.length === 0) return <span className="muted small map-where">{listenText(m)}</span>;
  const lan = at.filter((e) => !e.localOnly);
  const shown = lan.length ? lan : at;
  return (
    <span className="muted small map-where" title={m.addresses.join(', ')}>
      on <span className="mono">{shown.map((e) => e.host).join(', ')}</span>
      {lan.length === 0 && ' (this PC only)'}
    </span>
  );
}

function MappingRow({ mapping, onDialog }: { mapping: Mapping; onDialog: (d: Dialog) => void }) {
  const busy = useApp((s) => s.tunnelsBusy);
  const setEnabled = useApp((s) => s.setMappingEnabled);
  const m = mapping;
  return (
    <tr data-testid="mapping-row" data-mapping={m.name} className={m.enabled ? undefined : 'is-off'}>
      <td className="col-map-name">
        <span className="user-name">{m.name}</span>
        {m.note && <span className="user-note muted small">{m.note}</span>}
      </td>
      <td className="col-proto">
        <span className="proto">{m.proto.toUpperCase()}</span>
      </td>
      <td className="col-listen">
        <span className="mono map-port">{m.port}</span>
        <ListenWhere mapping={m} />
      </td>
      <td className="col-to mono">{m.to}</td>
      <td className="col-state">
        <StateCell mapping={m} />
      </td>
      <td className="col-enabled">
        <Toggle checked={m.enabled} disabled={busy} label={`Enabled ${m.name}`} onChange={(v) => void setEnabled(m.id, v)} />
      </td>
      <td className="col-actions">
        <button type="button" className="btn btn-small" aria-label={`Edit ${m.name}`} onClick={() => onDialog({ kind: 'edit', mapping: m })}>
          Edit
        </button>
        <button type="button" className="btn btn-small btn-danger-ghost" aria-label={`Remove ${m.name}`} onClick={() => onDialog({ kind: 'remove', mapping: m })}>
          Remove
        </button>
      </td>
    </tr>
  );
}

function Empty({ onAdd }: { onAdd: () => void }) {
  return (
    <div className="empty" data-testid="mappings-empty">
      <p className="empty-title">No port mappings yet</p>
      <p className="muted empty-text">
        A mapping is for programs that know nothing of proxies. Point a mail client at this PC’s port; Gatehouse forwards
        every connection to the one destination, such as your provider’s mail server. The rules decide who may use it, and
        the log records each connection.
      </p>
      <button type="button" className="btn btn-primary" onClick={onAdd}>
        Add the first mapping
      </button>
    </div>
  );
}

export function MappingsView() {
  const mappings = useApp((s) => s.mappings);
  const loaded = useApp((s) => s.tunnelsLoaded);
  const error = useApp((s) => s.tunnelsError);
  const actionError = useApp((s) => s.tunnelsActionError);
  const dismiss = useApp((s) => s.dismissTunnelsError);
  const reload = useApp((s) => s.loadTunnels);
  const remove = useApp((s) => s.removeMapping);
  const sharing = useApp((s) => s.status?.sharing ?? false);
  const setView = useApp((s) => s.setView);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const close = () => setDialog(null);
  const add = () => setDialog({ kind: 'edit', mapping: null });

  // changes made with the CLI reach a running gateway within a second: take a fresh copy whenever the page opens
  useEffect(() => {
    void reload();
  }, [reload]);

  return (
    <div className="page-stack mappings-page">
      <div className="page-head page-head-row">
        <div>
          <h1>Port mappings</h1>
          <p className="muted">A port of this PC forwarded to one destination, for programs that cannot use a proxy.</p>
        </div>
        {mappings.length > 0 && (
          <button type="button" className="btn btn-primary" onClick={add}>
            Add mapping
          </button>
        )}
      </div>

      {error && <ErrorCallout title="Could not load the port mappings" error={error} onDismiss={() => void reload()} />}
      {actionError && <ErrorCallout title="The change was not saved" error={actionError} onDismiss={dismiss} />}

      <section className="card" aria-labelledby="mappings-title">
        <div className="card-head">
          <h2 id="mappings-title">
            Mappings {mappings.length > 0 && <span className="count">{mappings.length}</span>}
          </h2>
        </div>
        {mappings.length > 0 && !sharing && (
          <p className="note note-top">
            Sharing is off, so no mapping listens. Turn sharing on from the{' '}
            <button type="button" className="link" onClick={() => setView('dashboard')}>
              Dashboard
            </button>
            .
          </p>
        )}
        {!loaded ? (
          <p className="muted">Loading port mappings…</p>
        ) : mappings.length === 0 ? (
          <Empty onAdd={add} />
        ) : (
          <div className="table-wrap table-plain">
            <table className="data-table mappings-table" data-testid="mappings-table">
              <thead>
                <tr>
                  <th className="col-map-name">Name</th>
                  <th className="col-proto">Protocol</th>
                  <th className="col-listen">Listens on</th>
                  <th className="col-to">Forwards to</th>
                  <th className="col-state">State</th>
                  <th className="col-enabled">Enabled</th>
                  <th className="col-actions">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {mappings.map((m) => (
                  <MappingRow key={m.id} mapping={m} onDialog={setDialog} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {mappings.length > 0 && (
          <p className="muted small map-help">
            A device uses a mapping by connecting to this PC’s address and the mapping’s port as if it were the destination:
            in a mail client, enter this PC as the mail server. The rules decide who may (service “mapping”), and the Log
            records every connection.
          </p>
        )}
      </section>

      {dialog?.kind === 'edit' && <MappingDialog mapping={dialog.mapping} onClose={close} />}
      {dialog?.kind === 'remove' && (
        <ConfirmRemove
          title={`Remove mapping “${dialog.mapping.name}”?`}
          confirmLabel="Remove mapping"
          onConfirm={() => remove(dialog.mapping.id)}
          onClose={close}
          testId="remove-mapping-dialog"
        >
          <p>
            Port <span className="mono">{dialog.mapping.port}</span>/{dialog.mapping.proto.toUpperCase()} stops forwarding to{' '}
            <span className="mono">{dialog.mapping.to}</span>, and its open connections end.
          </p>
          <p className="muted">To stop it for a while, turn it off instead.</p>
        </ConfirmRemove>
      )}
    </div>
  );
}
