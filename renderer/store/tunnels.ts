/**
 * Tunnels slice: port mappings, upstream chains and routes (the order of
 * which decides which traffic goes through which chain), and the health check
 * of a chain. Loaded at start, reloaded on `tunnels` events, and the mappings
 * again when sharing turns on or off (their listeners follow it). Saving
 * actions return the outcome so a dialog keeps what was typed when a save is
 * refused; changes made from a list (switch, move, remove) report their
 * failure in `tunnelsActionError`.
 */
import type { Chain, ChainInput, HopCheck, Input, Mapping, MappingInput, Route, RouteInput } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';
import type { Outcome } from './users.js';
import { testBasis } from './rules.js';

export interface ChainCheck {
  pending: boolean;
  probe: string;
  hops: HopCheck[] | null;
  error: UiError | null;
  /** when the answer came */
  at: number | null;
}

export interface TunnelsSlice {
  mappings: Mapping[];
  chains: Chain[];
  routes: Route[];
  tunnelsLoaded: boolean;
  tunnelsError: UiError | null;
  /** a change made from a list is being saved */
  tunnelsBusy: boolean;
  tunnelsActionError: UiError | null;
  /** the last health check of each chain, by name */
  chainChecks: Record<string, ChainCheck>;
  loadTunnels(): Promise<void>;
  addMapping(mapping: Input<'mappings.add'>['mapping']): Promise<Outcome>;
  updateMapping(id: number, mapping: Partial<MappingInput>): Promise<Outcome>;
  setMappingEnabled(id: number, enabled: boolean): Promise<void>;
  removeMapping(id: number): Promise<Outcome>;
  addChain(chain: Input<'chains.add'>['chain']): Promise<Outcome>;
  updateChain(name: string, chain: Partial<ChainInput>): Promise<Outcome>;
  removeChain(name: string): Promise<Outcome>;
  checkChain(name: string, probe?: string): Promise<void>;
  addRoute(route: RouteInput, position?: number): Promise<Outcome>;
  updateRoute(id: number, route: Partial<RouteInput>): Promise<Outcome>;
  setRouteEnabled(id: number, enabled: boolean): Promise<void>;
  moveRoute(id: number, position: number): Promise<void>;
  removeRoute(id: number): Promise<Outcome>;
  dismissTunnelsError(): void;
}

export function createTunnelsSlice({ set, get, call }: SliceDeps): TunnelsSlice {
  /** a save from a dialog: the lists reloaded after it succeeds */
  const save = async (run: () => Promise<unknown>): Promise<Outcome> => {
    try {
      await run();
    } catch (e) {
      return { ok: false, error: toUiError(e) };
    }
    await get().loadTunnels();
    return { ok: true };
  };

  /** a change from a list: one at a time, the lists reloaded afterwards either way */
  const listChange = async (run: () => Promise<unknown>): Promise<Outcome> => {
    set({ tunnelsBusy: true, tunnelsActionError: null });
    try {
      await run();
      return { ok: true };
    } catch (e) {
      const error = toUiError(e);
      set({ tunnelsActionError: error });
      return { ok: false, error };
    } finally {
      await get().loadTunnels();
      set({ tunnelsBusy: false });
    }
  };

  return {
    mappings: [],
    chains: [],
    routes: [],
    tunnelsLoaded: false,
    tunnelsError: null,
    tunnelsBusy: false,
    tunnelsActionError: null,
    chainChecks: {},

    async loadTunnels() {
      try {
        const [mappings, chains, { routes }] = await Promise.all([
          call('mappings.list', {}),
          call('chains.list', {}),
          call('routes.list', {}),
        ]);
        const t = get().ruleTest;
        // the tester's answer names a route: it no longer holds once the routes or chains changed
        const stale = t.result !== null && testBasis({ ...get(), routes, chains }) !== t.basis;
        set({ mappings, chains, routes, tunnelsLoaded: true, tunnelsError: null, ruleTest: stale === t.stale ? t : { ...t, stale } });
      } catch (e) {
        set({ tunnelsLoaded: true, tunnelsError: toUiError(e) });
      }
    },

    addMapping: (mapping) => save(() => call('mappings.add', { mapping })),
    updateMapping: (id, mapping) => save(() => call('mappings.update', { id, mapping })),
    async setMappingEnabled(id, enabled) {
      if (get().tunnelsBusy) return;
      // the switch follows the click; the reload shows whether it listens
      set({ mappings: get().mappings.map((m) => (m.id === id ? { ...m, enabled } : m)) });
      await listChange(() => call('mappings.update', { id, mapping: { enabled } }));
    },
    removeMapping: (id) => save(() => call('mappings.remove', { id })),

    addChain: (chain) => save(() => call('chains.add', { chain })),
    updateChain: (name, chain) =>
      save(async () => {
        await call('chains.update', { name, chain });
        // an answer about the chain as it was no longer holds
        const { [name]: _gone, ...rest } = get().chainChecks;
        set({ chainChecks: rest });
      }),
    removeChain: (name) => save(() => call('chains.remove', { name })),

    async checkChain(name, probe) {
      const p = probe?.trim() ?? '';
      const mark = (c: ChainCheck) => set({ chainChecks: { ...get().chainChecks, [name]: c } });
      mark({ pending: true, probe: p, hops: get().chainChecks[name]?.hops ?? null, error: null, at: null });
      try {
        const { hops } = await call('chains.test', p ? { name, probe: p } : { name });
        mark({ pending: false, probe: p, hops, error: null, at: Date.now() });
      } catch (e) {
        mark({ pending: false, probe: p, hops: null, error: toUiError(e), at: Date.now() });
      }
    },

    addRoute: (route, position) => save(() => call('routes.add', position === undefined ? { route } : { route, position })),
    updateRoute: (id, route) => save(() => call('routes.update', { id, route })),
    async setRouteEnabled(id, enabled) {
      if (get().tunnelsBusy) return;
      set({ routes: get().routes.map((r) => (r.id === id ? { ...r, enabled } : r)) });
      await listChange(() => call('routes.update', { id, route: { enabled } }));
    },
    async moveRoute(id, position) {
      if (get().tunnelsBusy) return;
      const routes = [...get().routes];
      const from = routes.findIndex((r) => r.id === id);
      if (from < 0 || position < 0 || position >= routes.length || position === from) return;
      // show the new order at once; the server's order replaces it
      const [moved] = routes.splice(from, 1);
      routes.splice(position, 0, moved!);
      set({ routes });
      await listChange(async () => set({ routes: await call('routes.move', { id, position }) }));
    },
    removeRoute: (id) => save(() => call('routes.remove', { id })),

    dismissTunnelsError: () => set({ tunnelsActionError: null }),
  };
}
