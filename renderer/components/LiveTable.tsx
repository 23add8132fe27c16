/** Recent requests, newest first, as they happen. */
import { memo } from 'react';
import type { LogRow } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { LOG_CAP } from '../store/log.js';
import { formatBytes, formatDateTime, formatDuration, formatTime, outcomeOf } from '../format.js';
import { httpService, proxyEndpoints, urlHost } from '../endpoints.js';

const Row = memo(function Row({ row }: { row: LogRow }) {
  const outcome = outcomeOf(row);
  const target = row.url || `${row.host}:${row.port}`;
  const client = row.user ? `${row.user} @ ${row.clientAddr}` : row.clientAddr;
  const statusTitle = [
    row.allowed ? null : `Denied${row.rule ? ` by rule ${row.rule}` : ''}`,
    row.error || outcome.title || null,
  ]
    .filter(Boolean)
    .join(' — ');
  return (
    <tr data-testid="log-row" className={row.allowed ? undefined : 'is-denied'} data-status={row.status}>
      <td className="col-time mono" title={formatDateTime(row.ts)}>
        {formatTime(row.ts)}
      </td>
      <td className="col-client mono" title={`${client}:${row.clientPort}`}>
        {client}
      </td>
      <td className="col-method">
        <span className="method">{row.method}</span>
      </td>
      <td className="col-url" title={target}>
        <span className="ellipsis">{target}</span>
      </td>
      <td className="col-status" title={statusTitle || undefined}>
        <span className={`status status-${outcome.cls}`}>{outcome.text}</span>
        {!row.allowed && outcome.text !== 'refused' && <span className="tag tag-denied">denied</span>}
      </td>
      <td className="col-num mono">{formatBytes(row.bytesUp)}</td>
      <td className="col-num mono">{formatBytes(row.bytesDown)}</td>
      <td className="col-num col-dur mono">{formatDuration(row.durationMs)}</td>
    </tr>
  );
});

function EmptyState() {
  const status = useApp((s) => s.status);
  const running = httpService(status)?.state === 'running';
  const first = proxyEndpoints(status)[0];
  const local = first ? { host: first.localOnly ? first.host : '127.0.0.1', port: first.port } : null;
  return (
    <div className="empty">
      <svg width="40" height="40" viewBox="0 0 24 24" aria-hidden="true" className="empty-icon">
        <path
          d="M4 6h16M4 12h10M4 18h7"
          fill="none"
          stroke="currentColor"
          strokeWidth="1.8"
          strokeLinecap="round"
        />
        <circle cx="18" cy="16" r="3.2" fill="none" stroke="currentColor" strokeWidth="1.8" />
      </svg>
      <p className="empty-title">No requests yet</p>
      {!status?.sharing ? (
        <p className="muted">
          Turn on sharing, set a device to use the proxy (see <b>How to connect a device</b>), then open any web page on
          it. Each request shows up here as it happens.
        </p>
      ) : !running ? (
        <p className="muted">Requests show up here as they happen, once the HTTP proxy is running.</p>
      ) : (
        <>
          <p className="muted">
            Set a device to use the proxy (see <b>How to connect a device</b>) and open any web page on it. Each request
            shows up here as it happens.
          </p>
          {local && (
            <p className="muted">
              Or try it from this PC:{' '}
              <code className="mono">
                curl -x http://{urlHost(local.host)}:{local.port} http://example.com/
              </code>
            </p>
          )}
        </>
      )}
    </div>
  );
}

export function LiveTable() {
  const rows = useApp((s) => s.rows);
  const loaded = useApp((s) => s.logLoaded);
  const error = useApp((s) => s.logError);
  const paused = useApp((s) => s.stream === 'reconnecting');
  return (
    <section className="card live" aria-labelledby="live-title">
      <div className="card-head">
        <h2 id="live-title">Recent requests</h2>
        <span className="muted small">
          {rows.length > 0 && `${rows.length === LOG_CAP ? `latest ${LOG_CAP}` : rows.length} · `}
          <span className={`live-state ${paused ? 'is-paused' : ''}`}>
            <span className="live-dot" aria-hidden="true" /> {paused ? 'paused' : 'live'}
          </span>
        </span>
      </div>
      {error && <p className="inline-error">Could not load the request log: {error.message}</p>}
      <div className="table-wrap">
        <table className="log-table" data-testid="live-table">
          <thead>
            <tr>
              <th className="col-time">Time</th>
              <th className="col-client">Client</th>
              <th className="col-method">Method</th>
              <th className="col-url">URL / host</th>
              <th className="col-status">Status</th>
              <th className="col-num">Up</th>
              <th className="col-num">Down</th>
              <th className="col-num col-dur">Duration</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <Row key={r.id} row={r} />
            ))}
          </tbody>
        </table>
        {loaded && rows.length === 0 && <EmptyState />}
        {!loaded && <p className="muted empty">Loading recent requests…</p>}
      </div>
    </section>
  );
}
