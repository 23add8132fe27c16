/**
 * The gateway's open connections, refreshed every few seconds while shown,
 * with the rule that let each in and buttons to end one, or all of a user's.
 * Rule changes do not end connections that are already open; this is where
 * the owner ends them.
 */
import { useEffect } from 'react';
import type { Connection } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { formatDateTime, formatDuration } from '../format.js';

const PROXY: Record<string, string> = { http: 'HTTP', socks4: 'SOCKS4', socks5: 'SOCKS5', socks: 'SOCKS' };

function Row({ c, now }: { c: Connection; now: number }) {
  const disconnectConnection = useApp((s) => s.disconnectConnection);
  const disconnectUser = useApp((s) => s.disconnectUser);
  const busy = useApp((s) => s.disconnecting[`#${c.id}`] || (c.user ? s.disconnecting[c.user.toLowerCase()] : false) || false);
  const target = `${c.method ? `${c.method} ` : ''}${c.url}`;
  return (
    <tr data-testid="connection-row" data-user={c.user}>
      <td className="col-who">
        <span className={c.user ? 'conn-user' : 'muted'}>{c.user || 'not signed in'}</span>
        <span className="conn-sub mono">{c.clientAddr}</span>
      </td>
      <td className="col-target" title={target}>
        <span className="ellipsis mono">{target}</span>
        <span className="conn-sub ellipsis">
          {PROXY[c.service] ?? c.service}
          {c.rule && ` · rule ${c.rule}`}
        </span>
      </td>
      <td className="col-since mono" title={`Open since ${formatDateTime(c.start)}`}>
        {formatDuration(Math.max(0, now - c.start))}
      </td>
      <td className="col-actions">
        <button type="button" className="btn btn-small" disabled={busy} onClick={() => void disconnectConnection(c.id)} title="End this connection">
          End
        </button>
        {c.user && (
          <button
            type="button"
            className="btn btn-small"
            disabled={busy}
            aria-label={`Disconnect ${c.user}`}
            title={`End every open connection of ${c.user}`}
            onClick={() => void disconnectUser(c.user)}
          >
            Disconnect user
          </button>
        )}
      </td>
    </tr>
  );
}

export function LiveConnections() {
  const connections = useApp((s) => s.connections);
  const loaded = useApp((s) => s.connectionsLoaded);
  const error = useApp((s) => s.connectionsError);
  const note = useApp((s) => s.disconnectNote);
  const watch = useApp((s) => s.watchConnections);
  useEffect(() => watch(), [watch]);
  const now = Date.now();
  return (
    <section className="card" aria-labelledby="conns-title" data-testid="live-connections">
      <div className="card-head">
        <h2 id="conns-title">
          Open connections {connections.length > 0 && <span className="count">{connections.length}</span>}
        </h2>
        <span className="muted small">refreshed every few seconds</span>
      </div>
      {error && <p className="inline-error">Could not load the open connections: {error.message}</p>}
      {note && (
        <p className={`small ${note.error ? 'field-error' : 'field-ok'}`} role="status">
          {note.text}
        </p>
      )}
      {!loaded ? (
        <p className="muted">Loading…</p>
      ) : connections.length === 0 ? (
        <p className="muted">No open connections right now.</p>
      ) : (
        <div className="table-wrap table-plain">
          <table className="data-table conn-table">
            <thead>
              <tr>
                <th className="col-who">Who</th>
                <th className="col-target">Target</th>
                <th className="col-since">Open for</th>
                <th className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {connections.map((c) => (
                <Row key={c.id} c={c} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
