/**
 * Routes: which traffic goes through which upstream chain. Ordered, first
 * match wins; what matches no route goes direct. A route matches as a rule
 * does (destinations by name or range, users, groups, services), so it is
 * compiled by the rules' own matcher; a route to "direct" is an exception
 * above a broader route.
 *
 * Like a rule, a route that names an address range cannot decide on a name
 * alone: `pick` then answers undefined and the caller resolves the name first.
 */
import { parseIp } from '../contract/addresses.js';
import { hopText, resolvesAt, type ChainData, type Route, type RouteChoice } from '../contract/index.js';
import { compileRule, type CompiledRule, type RuleRequest } from './rules.js';

/** Where a request goes: a chain (with what to do when it is down), or direct. */
export interface RouteTaken {
  routeId: number | null;
  chain: ChainData | null;
  /** when the chain is down: "fail", "direct", or the fallback chain */
  fallback: 'fail' | 'direct' | ChainData;
}

export const DIRECT: RouteTaken = Object.freeze({ routeId: null, chain: null, fallback: 'fail' as const });

interface CompiledRoute {
  taken: RouteTaken;
  match: CompiledRule;
}

export class Router {
  private routes: CompiledRoute[] = [];

  constructor(routes: readonly Route[] = [], chains: readonly ChainData[] = []) {
    this.set(routes, chains);
  }

  /** the routes and chains in force (a route naming a chain that is gone is skipped) */
  set(routes: readonly Route[], chains: readonly ChainData[]): void {
    const byName = new Map(chains.map((c) => [c.name.toLowerCase(), c]));
    this.routes = routes.flatMap((r): CompiledRoute[] => {
      if (!r.enabled) return [];
      const name = r.chain.toLowerCase();
      const chain = name === 'direct' ? null : byName.get(name);
      if (chain === undefined) return [];
      const fb = r.fallback.toLowerCase();
      const fallback = fb === 'direct' || fb === 'fail' ? fb : (byName.get(fb) ?? 'fail');
      const match = compileRule({
        id: r.id,
        name: `route ${r.id}`,
        action: 'allow',
        enabled: true,
        services: r.services as never,
        sources: [],
        users: r.users,
        groups: r.groups,
        destinations: r.destinations,
        ports: '',
        schedule: null,
        limits: null,
        note: '',
      });
      return [{ taken: { routeId: r.id, chain, fallback: chain ? fallback : 'fail' }, match }];
    });
  }

  get empty(): boolean {
    return this.routes.length === 0;
  }

  /**
   * The route for a request; `address`: the address being dialled, when known. Undefined when a
   * route that comes first names an address range and only the name is known.
   */
  pick(req: RuleRequest, address: string | null, time: number): RouteTaken | undefined {
    if (this.routes.length === 0) return DIRECT;
    const addr = address ? parseIp(address) : null;
    for (const r of this.routes) {
      const m = r.match.matches(req, addr, time);
      if (m === undefined) return undefined;
      if (m) return r.taken;
    }
    return DIRECT;
  }
}

/** The way a request goes, in words for the rule tester and the UI. */
export function describeRoute(t: RouteTaken): RouteChoice {
  if (!t.chain) return { routeId: t.routeId, chain: null, fallback: 'fail', text: t.routeId === null ? 'direct (no route matches)' : `direct (route ${t.routeId})` };
  const hops = t.chain.hops.map(hopText).join(' → ');
  const fb = typeof t.fallback === 'string' ? t.fallback : t.fallback.name;
  const whenDown = fb === 'fail' ? 'fails when a hop is down' : fb === 'direct' ? 'goes direct when a hop is down' : `goes through ${fb} when a hop is down`;
  return { routeId: t.routeId, chain: t.chain.name, fallback: fb, text: `through ${t.chain.name} (${hops}); ${resolvesAt(t.chain)}; ${whenDown}` };
}
