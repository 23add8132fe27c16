/**
 * The routes, in order (first match wins; what matches no route goes
 * direct): each with its enable switch, the way out (a chain or direct), what
 * it matches and what happens when its chain is down, move up/down, edit and
 * remove. The route the rule tester's last answer took is highlighted.
 */
import type { Route } from '../../../main/contract/index.js';
import { useApp } from '../../store/hooks.js';
import { Toggle } from '../Toggle.js';
import { fallbackText, routeMatchText } from '../../tunnels-text.js';

function RouteRow({ routes, index, onEdit, onRemove }: { routes: Route[]; index: number; onEdit: (r: Route) => void; onRemove: (r: Route) => void }) {
  const route = routes[index]!;
  const busy = useApp((s) => s.tunnelsBusy);
  const setEnabled = useApp((s) => s.setRouteEnabled);
  const move = useApp((s) => s.moveRoute);
  const known = useApp((s) => s.chains.some((c) => c.name.toLowerCase() === route.chain.toLowerCase()));
  const matched = useApp((s) => s.ruleTest.result?.route?.routeId === route.id && !s.ruleTest.pending);
  const direct = route.chain.toLowerCase() === 'direct';
  const n = index + 1;
  return (
    <li className={`rule route ${route.enabled ? '' : 'is-off'} ${matched ? 'is-match' : ''}`} data-testid="route-row" data-chain={route.chain}>
      <span className="rule-num" aria-label={`Route ${n}`}>
        {n}
      </span>
      <Toggle
        checked={route.enabled}
        disabled={busy}
        label={route.enabled ? `Route ${n} is on (click to turn off)` : `Route ${n} is off (click to turn on)`}
        onChange={(v) => void setEnabled(route.id, v)}
      />
      <span className={`badge route-badge ${direct ? 'badge-direct' : 'badge-chain'}`} title={direct ? 'Straight to the destination' : `Through chain ${route.chain}`}>
        {direct ? 'direct' : route.chain}
      </span>
      <div className="rule-body">
        <p className="rule-summary" data-testid="route-summary">
          <span className="muted">Matches </span>
          {routeMatchText(route)}
        </p>
        {!direct && <p className="rule-note">When {route.chain} is down: {fallbackText(route.fallback)}.</p>}
        {route.note && <p className="rule-note">{route.note}</p>}
        {!direct && !known && <p className="rule-warning">Chain “{route.chain}” no longer exists: edit this route to choose another.</p>}
        {matched && <span className="tag tag-match">the tester’s request goes this way</span>}
      </div>
      <div className="rule-actions">
        <div className="move-buttons">
          <button type="button" className="btn btn-icon" disabled={busy || index === 0} aria-label={`Move route ${n} up`} title="Move up (checked earlier)" onClick={() => void move(route.id, index - 1)}>
            ↑
          </button>
          <button
            type="button"
            className="btn btn-icon"
            disabled={busy || index === routes.length - 1}
            aria-label={`Move route ${n} down`}
            title="Move down (checked later)"
            onClick={() => void move(route.id, index + 1)}
          >
            ↓
          </button>
        </div>
        <button type="button" className="btn btn-small" aria-label={`Edit route ${n}`} onClick={() => onEdit(route)}>
          Edit
        </button>
        <button type="button" className="btn btn-small btn-danger-ghost" aria-label={`Remove route ${n}`} onClick={() => onRemove(route)}>
          Remove
        </button>
      </div>
    </li>
  );
}

export function RouteList({ onEdit, onRemove }: { onEdit: (r: Route) => void; onRemove: (r: Route) => void }) {
  const routes = useApp((s) => s.routes);
  return (
    <ol className="rule-list" data-testid="route-list">
      {routes.map((r, i) => (
        <RouteRow key={r.id} routes={routes} index={i} onEdit={onEdit} onRemove={onRemove} />
      ))}
      <li className="rule rule-default route-default">
        <span className="rule-num" aria-hidden="true">
          ∗
        </span>
        <div className="rule-body">
          <div className="rule-title">
            <span className="rule-name">Everything else</span>
          </div>
          <p className="rule-summary">{routes.length === 0 ? 'No routes yet: every request goes straight to its destination.' : 'Goes direct: straight from this PC to the destination.'}</p>
        </div>
      </li>
    </ol>
  );
}
