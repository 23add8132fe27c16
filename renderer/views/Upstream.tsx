/**
 * Chains & routes: the upstream chains (proxies this PC goes out through,
 * each checkable from here) and the routes that send traffic through them,
 * in order, with the rule tester beside them to see which way a request
 * would go.
 */
import { useEffect, useState } from 'react';
import type { Chain, Route } from '../../main/contract/index.js';
import { useApp } from '../store/hooks.js';
import { ErrorCallout } from '../components/ErrorCallout.js';
import { RuleTester } from '../components/RuleTester.js';
import { ChainCard } from '../components/tunnels/ChainCard.js';
import { ChainEditor } from '../components/tunnels/ChainEditor.js';
import { ConfirmRemove } from '../components/tunnels/ConfirmRemove.js';
import { RouteEditor } from '../components/tunnels/RouteEditor.js';
import { RouteList } from '../components/tunnels/RouteList.js';
import { summarizeRoute } from '../tunnels-text.js';

type Dialog =
  | { kind: 'chain'; chain: Chain | null }
  | { kind: 'removeChain'; chain: Chain }
  | { kind: 'route'; route: Route | null }
  | { kind: 'removeRoute'; route: Route; index: number };

function ChainsCard({ onDialog }: { onDialog: (d: Dialog) => void }) {
  const chains = useApp((s) => s.chains);
  const routes = useApp((s) => s.routes);
  const loaded = useApp((s) => s.tunnelsLoaded);
  const usedBy = (c: Chain) => routes.filter((r) => [r.chain, r.fallback].some((n) => n.toLowerCase() === c.name.toLowerCase())).length;
  return (
    <section className="card" aria-labelledby="chains-title" data-testid="chains-card">
      <div className="card-head">
        <div>
          <h2 id="chains-title">
            Upstream chains {chains.length > 0 && <span className="count">{chains.length}</span>}
          </h2>
          <p className="muted small">Proxies this PC goes out through: a company proxy, a SOCKS server, Tor.</p>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => onDialog({ kind: 'chain', chain: null })}>
          Add chain
        </button>
      </div>
      {!loaded ? (
        <p className="muted">Loading chains…</p>
      ) : chains.length === 0 ? (
        <div className="empty empty-compact">
          <p className="empty-title">No chains</p>
          <p className="muted empty-text">
            Without a chain, Gatehouse reaches every site straight from this PC. Add one when traffic must leave through
            another proxy: the company’s HTTP proxy, a SOCKS5 server, or several in a row.
          </p>
        </div>
      ) : (
        <ul className="chain-list">
          {chains.map((c) => (
            <ChainCard
              key={c.name}
              chain={c}
              usedBy={usedBy(c)}
              onEdit={() => onDialog({ kind: 'chain', chain: c })}
              onRemove={() => onDialog({ kind: 'removeChain', chain: c })}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function RoutesCard({ onDialog }: { onDialog: (d: Dialog) => void }) {
  const hasChains = useApp((s) => s.chains.length > 0);
  const routes = useApp((s) => s.routes);
  return (
    <section className="card rules-card" aria-labelledby="routes-title" data-testid="routes-card">
      <div className="card-head">
        <div>
          <h2 id="routes-title">
            Routes, in order {routes.length > 0 && <span className="count">{routes.length}</span>}
          </h2>
          <p className="muted small">
            <b>First match wins.</b> Each request that the rules allow is checked from the top; what matches no route goes
            direct.
          </p>
        </div>
        <button
          type="button"
          className="btn btn-primary"
          disabled={!hasChains && routes.length === 0}
          title={!hasChains && routes.length === 0 ? 'Add a chain first' : undefined}
          onClick={() => onDialog({ kind: 'route', route: null })}
        >
          Add route
        </button>
      </div>
      <RouteList onEdit={(route) => onDialog({ kind: 'route', route })} onRemove={(route) => onDialog({ kind: 'removeRoute', route, index: routes.indexOf(route) })} />
    </section>
  );
}

/** The routes (by position) that name a chain, which must change before it can go. */
function UsedBy({ chain }: { chain: Chain }) {
  const routes = useApp((s) => s.routes);
  const low = chain.name.toLowerCase();
  const at = routes.flatMap((r, i) => (r.chain.toLowerCase() === low || r.fallback.toLowerCase() === low ? [i + 1] : []));
  if (at.length === 0) return <p className="muted">No route uses it.</p>;
  return (
    <p className="note">
      {at.length === 1 ? `Route ${at[0]} uses it` : `Routes ${at.join(', ')} use it`}: change or remove {at.length === 1 ? 'that route' : 'them'} first.
    </p>
  );
}

export function UpstreamView() {
  const error = useApp((s) => s.tunnelsError);
  const actionError = useApp((s) => s.tunnelsActionError);
  const dismiss = useApp((s) => s.dismissTunnelsError);
  const reload = useApp((s) => s.loadTunnels);
  const reloadUsers = useApp((s) => s.loadUsers);
  const removeChain = useApp((s) => s.removeChain);
  const removeRoute = useApp((s) => s.removeRoute);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const close = () => setDialog(null);

  useEffect(() => {
    void reload();
    void reloadUsers();
  }, [reload, reloadUsers]);

  return (
    <div className="page-stack upstream-page">
      <div className="page-head">
        <h1>Chains &amp; routes</h1>
        <p className="muted">Which traffic leaves through another proxy, and through which.</p>
      </div>

      {error && <ErrorCallout title="Could not load the chains and routes" error={error} onDismiss={() => void reload()} />}
      {actionError && <ErrorCallout title="The change was not saved" error={actionError} onDismiss={dismiss} />}

      <div className="rules-layout upstream-layout">
        <div className="upstream-main">
          <ChainsCard onDialog={setDialog} />
          <RoutesCard onDialog={setDialog} />
        </div>
        <aside className="rules-side">
          <RuleTester />
        </aside>
      </div>

      {dialog?.kind === 'chain' && <ChainEditor chain={dialog.chain} onClose={close} />}
      {dialog?.kind === 'route' && <RouteEditor route={dialog.route} onClose={close} />}
      {dialog?.kind === 'removeChain' && (
        <ConfirmRemove
          title={`Remove chain “${dialog.chain.name}”?`}
          confirmLabel="Remove chain"
          onConfirm={() => removeChain(dialog.chain.name)}
          onClose={close}
          testId="remove-chain-dialog"
        >
          <p>Its hops and saved passwords are forgotten.</p>
          <UsedBy chain={dialog.chain} />
        </ConfirmRemove>
      )}
      {dialog?.kind === 'removeRoute' && (
        <ConfirmRemove
          title={`Remove route ${dialog.index + 1}?`}
          confirmLabel="Remove route"
          onConfirm={() => removeRoute(dialog.route.id)}
          onClose={close}
          testId="remove-route-dialog"
        >
          <p className="rule-summary">{summarizeRoute(dialog.route)}</p>
          <p className="muted">Its requests then take the next route that matches them, or go direct.</p>
        </ConfirmRemove>
      )}
    </div>
  );
}
