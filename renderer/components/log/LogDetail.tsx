/** The selected row in full, with one-click filters by its client, user and host. */
import type { LogRow } from '../../../main/contract/index.js';
import { useApp } from '../../store/hooks.js';
import { formatBytes, formatDuration, routeOfRow, serviceOfRow } from '../../format.js';
import { Outcome } from './LogTable.js';
import { CopyButton } from '../CopyButton.js';

function Field({ label, children, testId }: { label: string; children: React.ReactNode; testId?: string }) {
  return (
    <div className="lv-field" data-testid={testId}>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

export function LogDetail({ row }: { row: LogRow }) {
  const select = useApp((s) => s.selectLogRow);
  const setFilter = useApp((s) => s.setLogFilter);
  const target = row.url || `${row.host}:${row.port}`;
  return (
    <aside className="lv-detail card" aria-label="Request details" data-testid="lv-detail">
      <div className="lv-detail-head">
        <h2>
          <span className="method">{row.method}</span>{' '}
          <Outcome row={row} />
          {!row.allowed && <span className="tag tag-denied">denied</span>}
        </h2>
        <button type="button" className="btn btn-ghost btn-small" onClick={() => select(null)} aria-label="Close details">
          ✕
        </button>
      </div>
      <div className="lv-detail-url mono" data-testid="lv-detail-url">
        {target}
      </div>
      <div className="lv-detail-actions">
        <CopyButton text={target} label="Copy URL" />
      </div>
      <dl className="lv-fields">
        <Field label="Started">{new Date(row.ts).toLocaleString()} <span className="muted">(+{row.ts % 1000} ms)</span></Field>
        <Field label="Duration">{formatDuration(row.durationMs)}</Field>
        <Field label="Client" testId="lv-detail-client">
          <span className="mono">
            {row.clientAddr}:{row.clientPort}
          </span>{' '}
          <button type="button" className="link small" onClick={() => setFilter({ clients: [row.clientAddr] })}>
            only this client
          </button>
        </Field>
        <Field label="User">
          {row.user ? (
            <>
              {row.user}{' '}
              <button type="button" className="link small" onClick={() => setFilter({ users: [row.user] })}>
                only this user
              </button>
            </>
          ) : (
            <span className="muted">not signed in</span>
          )}
        </Field>
        <Field label="Host">
          <span className="mono">
            {row.host}:{row.port}
          </span>{' '}
          {row.host && (
            <button type="button" className="link small" onClick={() => setFilter({ hosts: [row.host] })}>
              only this host
            </button>
          )}
        </Field>
        <Field label="Service" testId="lv-detail-service">
          {serviceOfRow(row)}
        </Field>
        <Field label="Route" testId="lv-detail-route">
          {routeOfRow(row.chain)}
        </Field>
        <Field label="Decision">
          {row.allowed ? 'allowed' : <b className="lv-denied-text">denied</b>}
          {row.rule ? <> by rule “{row.rule}”</> : null}
        </Field>
        <Field label="Sent by client">
          {formatBytes(row.bytesUp)}
          {row.packetsUp ? ` in ${row.packetsUp} datagrams` : ''}
        </Field>
        <Field label="Sent to client">
          {formatBytes(row.bytesDown)}
          {row.packetsDown ? ` in ${row.packetsDown} datagrams` : ''}
        </Field>
        {row.error && (
          <Field label="Error">
            <span className="lv-error-text">{row.error}</span>
          </Field>
        )}
        <Field label="Row">#{row.id}</Field>
      </dl>
    </aside>
  );
}
