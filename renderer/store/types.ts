/**
 * Shapes shared by the store's slices: the whole state, and what each slice
 * factory gets (set/get of the one store, and the API call it may use).
 */
import type { StoreApi } from 'zustand/vanilla';
import type { Input, MethodName, Output } from '../../main/contract/index.js';
import type { ConnectionSlice } from './connection.js';
import type { StatusSlice } from './status.js';
import type { SettingsSlice } from './settings.js';
import type { LogSlice } from './log.js';
import type { UiSlice } from './ui.js';
import type { UsersSlice } from './users.js';
import type { RulesSlice } from './rules.js';
import type { ConnectionsSlice } from './connections.js';
import type { ViewerSlice } from './viewer.js';
import type { StatsSlice } from './stats.js';
import type { TunnelsSlice } from './tunnels.js';

export type AppState = ConnectionSlice &
  StatusSlice &
  SettingsSlice &
  LogSlice &
  UiSlice &
  UsersSlice &
  RulesSlice &
  ConnectionsSlice &
  ViewerSlice &
  StatsSlice &
  TunnelsSlice;

export type CallFn = <M extends MethodName>(method: M, input: Input<M>) => Promise<Output<M>>;

export interface SliceDeps {
  set: StoreApi<AppState>['setState'];
  get: StoreApi<AppState>['getState'];
  /** the API client's call; an E_UNAUTHORIZED also switches the app to the sign-in screen */
  call: CallFn;
}
