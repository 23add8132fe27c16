/** Each proxy service with its state and the addresses it listens on; counters beside it. */
import type { ServiceStatus } from '../../main/contract/index.js';
import { serviceErrorHint } from '../store/errors.js';
import { useApp } from '../store/hooks.js';
import { formatCount } from '../format.js';

const STATE_LABEL: Record<ServiceStatus['state'], string> = {
  running: 'Running',
  stopped: 'Stopped',
  starting: 'Starting',
  error: 'Error',
};

function ServiceRow({ service }: { service: ServiceStatus }) {
  const setView = useApp((s) => s.setView);
  const help = service.state === 'error' && service.error ? serviceErrorHint(service.error) : null;
  return (
    <li className="service" data-testid={`service-${service.name}`} data-state={service.state}>
      <div className="service-head">
        <span className="service-name">{service.label}</span>
        <span className={`pill state-${service.state}`}>
          <span className="dot" aria-hidden="true" />
          {STATE_LABEL[service.state]}
        </span>
      </div>
      {service.addresses.length > 0 ? (
        <ul className="addr-list" aria-label={`${service.label} addresses`}>
          {service.addresses.map((a) => (
            <li key={a} className="mono" data-testid="service-address">
              {a}
            </li>
          ))}
        </ul>
      ) : service.error ? null : (
        <p className="muted small">{service.state === 'stopped' ? 'Not listening.' : 'No address yet.'}</p>
      )}
      {service.error && (
        <div className="service-error">
          <p>{service.error}</p>
          {help && <p className="muted">{help.hint}</p>}
          {help?.action && (
            <button type="button" className="btn btn-small" onClick={() => setView(help.action!.view, help.action!.focusKey)}>
              {help.action.label}
            </button>
          )}
        </div>
      )}
    </li>
  );
}

export function ServicesCard() {
  const services = useApp((s) => s.status?.services);
  return (
    <section className="card services" aria-labelledby="services-title">
      <h2 id="services-title">Services</h2>
      {services && services.length > 0 ? (
        <ul className="service-list">
          {services.map((s) => (
            <ServiceRow key={s.name} service={s} />
          ))}
        </ul>
      ) : (
        <p className="muted">No services configured.</p>
      )}
    </section>
  );
}

export function StatTile({ label, value, testId }: { label: string; value: number | undefined; testId: string }) {
  return (
    <section className="card stat" aria-label={label}>
      <span className="stat-label">{label}</span>
      <span className="stat-value" data-testid={testId}>
        {value === undefined ? '—' : formatCount(value)}
      </span>
    </section>
  );
}

export function Counters() {
  const active = useApp((s) => s.status?.activeConnections);
  const total = useApp((s) => s.status?.totalRequests);
  return (
    <>
      <StatTile label="Active connections" value={active} testId="active-connections" />
      <StatTile label="Total requests" value={total} testId="total-requests" />
      <SignInThrottles />
    </>
  );
}

/** Addresses whose failed sign-ins are being slowed down (shown only while there are some). */
function SignInThrottles() {
  const throttles = useApp((s) => s.status?.throttles);
  if (!throttles || throttles.length === 0) return null;
  const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });
  return (
    <section className="card" aria-label="Sign-ins slowed down" data-testid="throttles">
      <h2>Sign-ins slowed down</h2>
      <p className="muted">After repeated wrong passwords, further attempts wait. Users whose password was accepted before are not held up.</p>
      <ul>
        {throttles.map((t) => (
          <li key={`${t.clientAddr}|${t.user ?? ''}`}>
            {t.clientAddr}
            {t.user ? ` signing in as ${t.user}` : ''}: {t.failures} failures, next try after {time(t.until)}
          </li>
        ))}
      </ul>
    </section>
  );
}
