/** The Enable sharing switch with what sharing is doing now, and any error with what to do next. */
import { useApp } from '../store/hooks.js';
import { httpService } from '../endpoints.js';
import { ErrorCallout } from './ErrorCallout.js';

export function SharingCard() {
  const sharing = useApp((s) => s.status?.sharing ?? false);
  const http = useApp((s) => httpService(s.status));
  const pending = useApp((s) => s.sharingPending);
  const error = useApp((s) => s.sharingError);
  const setSharing = useApp((s) => s.setSharing);
  const dismiss = useApp((s) => s.dismissSharingError);
  const busy = pending !== null;

  let line: string;
  if (pending === true) line = 'Starting the proxy…';
  else if (pending === false) line = 'Stopping the proxy…';
  else if (!sharing) line = 'Off. Turn it on to let devices on your network use this PC’s internet connection.';
  else if (http?.state === 'error') line = 'On, but the HTTP proxy could not start. See below.';
  else if (http?.state === 'starting') line = 'On. The proxy is starting…';
  else line = 'On. Devices on your network can reach the internet through this PC.';

  return (
    <section className="card hero" aria-labelledby="sharing-title">
      <div className="hero-row">
        <div className="hero-text">
          <h1 id="sharing-title">Internet sharing</h1>
          <p className="hero-line" aria-live="polite">
            {busy && <span className="spinner spinner-sm" aria-hidden="true" />}
            {line}
          </p>
        </div>
        <div className="switch-wrap">
          <span className="switch-caption" aria-hidden="true">
            {busy ? (pending ? 'Turning on…' : 'Turning off…') : sharing ? 'On' : 'Off'}
          </span>
          <button
            type="button"
            role="switch"
            className={`switch ${sharing ? 'is-on' : ''} ${busy ? 'is-busy' : ''}`}
            aria-checked={sharing}
            aria-busy={busy}
            aria-disabled={busy}
            aria-label="Enable sharing"
            onClick={() => {
              if (!busy) void setSharing(!sharing);
            }}
          >
            <span className="switch-thumb">{busy && <span className="spinner spinner-xs" aria-hidden="true" />}</span>
          </button>
        </div>
      </div>
      {error && (
        <ErrorCallout
          title={error.code === 'E_PORT_IN_USE' ? 'The proxy port is in use' : 'Sharing could not be changed'}
          error={error}
          onDismiss={dismiss}
        />
      )}
    </section>
  );
}
