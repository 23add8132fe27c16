/** The routes in short, for the Rules page: which allowed traffic leaves through which chain, and a link to change them. */
import { useApp } from '../../store/hooks.js';
import { routeChainText, routeMatchText } from '../../tunnels-text.js';

const SHOWN = 4;

export function RoutesSummary() {
  const routes = useApp((s) => s.routes);
  const setView = useApp((s) => s.setView);
  const on = routes.filter((r) => r.enabled);
  return (
    <section className="card routes-summary" aria-labelledby="routes-summary-title" data-testid="routes-summary">
      <div className="card-head">
        <h2 id="routes-summary-title">Routes</h2>
        <button type="button" className="link small" onClick={() => setView('upstream')}>
          Chains &amp; routes
        </button>
      </div>
      <p className="muted small">The rules decide whether a request may go; the routes decide which way it goes out.</p>
      {on.length === 0 ? (
        <p className="small routes-summary-none">{routes.length === 0 ? 'No routes: every allowed request goes direct.' : 'Every route is off: every allowed request goes direct.'}</p>
      ) : (
        <ol className="routes-summary-list small">
          {on.slice(0, SHOWN).map((r) => (
            <li key={r.id}>
              {routeMatchText(r)} goes <b>{routeChainText(r.chain)}</b>
            </li>
          ))}
          {on.length > SHOWN && <li className="muted">+{on.length - SHOWN} more</li>}
          <li className="muted">everything else goes direct</li>
        </ol>
      )}
    </section>
  );
}
