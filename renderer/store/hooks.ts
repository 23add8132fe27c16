/**
 * The app's store instance and the hook components read it with. Components
 * select narrow slices of state (`useApp((s) => s.status?.sharing)`) and call
 * actions; they never touch the API client.
 */
import { useStore } from 'zustand';
import { api } from '../api/client.js';
import { createAppStore, type AppState } from './index.js';

export const appStore = createAppStore(api);

export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(appStore, selector);
}
