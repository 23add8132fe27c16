/**
 * The renderer's one zustand store, made of slices: connection (start, events,
 * stream), status (sharing switch, services, counters), settings, log (live
 * requests), ui (current page), users (users, groups, sign-in modes), rules
 * (order, default action, tester), connections (open connections,
 * disconnect) and tunnels (port mappings, upstream chains, routes). Actions
 * call the API; components only select state and call actions.
 * `createAppStore` takes the API so tests can drive a store over their own
 * transport.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { GatehouseError } from '../../main/contract/index.js';
import type { Api } from '../api/client.js';
import { createConnectionSlice, type ConnectionOptions } from './connection.js';
import { createLogSlice } from './log.js';
import { createSettingsSlice } from './settings.js';
import { createStatusSlice } from './status.js';
import type { AppState, CallFn, SliceDeps } from './types.js';
import { createUiSlice } from './ui.js';
import { createUsersSlice } from './users.js';
import { createRulesSlice } from './rules.js';
import { createConnectionsSlice } from './connections.js';
import { createViewerSlice } from './viewer.js';
import { createStatsSlice } from './stats.js';
import { createTunnelsSlice } from './tunnels.js';

export type { AppState } from './types.js';
export type AppStore = StoreApi<AppState>;

const DEFAULTS: ConnectionOptions = { statusPollMs: 5000, statusAfterLogMs: 400, connectionsPollMs: 3000 };

export function createAppStore(api: Api, options: Partial<ConnectionOptions> = {}): AppStore {
  const opts = { ...DEFAULTS, ...options };
  const store = createStore<AppState>()((set, get) => {
    const call: CallFn = async (method, input) => {
      try {
        return await api.client.call(method, input);
      } catch (e) {
        if (e instanceof GatehouseError && e.code === 'E_UNAUTHORIZED') {
          get().stop();
          set({ phase: 'unauthorized' });
        }
        throw e;
      }
    };
    const deps: SliceDeps = { set, get, call };
    return {
      ...createConnectionSlice(deps, api, opts),
      ...createStatusSlice(deps),
      ...createSettingsSlice(deps),
      ...createLogSlice(deps),
      ...createUiSlice(deps),
      ...createUsersSlice(deps),
      ...createRulesSlice(deps),
      ...createConnectionsSlice(deps, opts.connectionsPollMs),
      ...createViewerSlice(deps),
      ...createStatsSlice(deps),
      ...createTunnelsSlice(deps),
    };
  });
  // port mappings listen only while sharing is on: however the status learnt of a change
  // (the switch, an event, a refresh), their states changed with it
  store.subscribe((s, prev) => {
    if (s.phase === 'ready' && prev.status && s.status && prev.status.sharing !== s.status.sharing) void s.loadTunnels();
  });
  return store;
}
