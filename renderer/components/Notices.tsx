/**
 * What the owner should know about the gateway right now, on the dashboard:
 * the request log paused (the disk is full), a damaged database that was set
 * aside and recovered at start, and sign-ins being slowed down after wrong
 * passwords. Nothing shows while all is well.
 */
import { useApp } from '../store/hooks.js';

const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });

export function Notices() {
  const logPaused = useApp((s) => s.status?.logPaused);
  const recovery = useApp((s) => s.status?.recovery);
  const throttles = useApp((s) => s.status?.throttles);
  if (!logPaused && !recovery && !throttles?.length) return null;
  return (
    <div className="notices">
      {logPaused && (
        <div className="callout callout-error" role="alert" data-testid="log-paused">
          <div className="callout-body">
            <strong className="callout-title">Log paused: {logPaused.reason}</strong>
            <p className="callout-hint">
              Since {time(logPaused.since)} the request log cannot be written; {logPaused.waiting.toLocaleString()} rows wait in memory and are
              written as soon as there is room. Sharing goes on. Free some space on the disk of the data folder.
            </p>
          </div>
        </div>
      )}
      {recovery && (
        <div className="callout callout-warn" role="status" data-testid="recovery">
          <div className="callout-body">
            <strong className="callout-title">The database was repaired at start</strong>
            <p className="callout-message">{recovery}</p>
          </div>
        </div>
      )}
      {!!throttles?.length && (
        <div className="callout callout-warn" role="status" aria-label="Sign-ins slowed down" data-testid="throttles">
          <div className="callout-body">
            <strong className="callout-title">Sign-ins slowed down</strong>
            <p className="callout-hint">After repeated wrong passwords, further attempts from these devices wait. Users whose password was accepted before are not held up.</p>
            <ul className="notice-list">
              {throttles.map((t) => (
                <li key={`${t.clientAddr}|${t.user ?? ''}`}>
                  <span className="mono">{t.clientAddr}</span>
                  {t.user ? <> signing in as <strong>{t.user}</strong></> : ', any user name'}: {t.failures} failed sign-ins
                  {t.until > Date.now() ? `, next try after ${time(t.until)}` : ''}
                </li>
              ))}
            </ul>
          </div>
        </div>
      )}
    </div>
  );
}
