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
    </>
  );
}
