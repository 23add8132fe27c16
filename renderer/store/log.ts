/**
 * Log slice: the most recent requests, newest first, capped at LOG_CAP rows.
 * Filled from `log.recent` at start, then from `log` events; after the event
 * stream was down it catches up with `afterId`, so no row is missed or doubled.
 */
import type { LogRow } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export const LOG_CAP = 200;

export interface LogSlice {
  rows: LogRow[];
  logLoaded: boolean;
  logError: UiError | null;
  loadRecentLog(): Promise<void>;
  /** fetches rows written while the event stream was down */
  catchUpLog(): Promise<void>;
  addLogRows(rows: LogRow[]): void;
}

/** Merges rows into a list (newest first), dropping duplicates by id, keeping `cap`. */
export function mergeRows(current: LogRow[], incoming: LogRow[], cap = LOG_CAP): LogRow[] {
  if (incoming.length === 0) return current;
  const byId = new Map<number, LogRow>();
  for (const r of current) byId.set(r.id, r);
  for (const r of incoming) byId.set(r.id, r);
  return [...byId.values()].sort((a, b) => b.id - a.id).slice(0, cap);
}

export function createLogSlice({ set, get, call }: SliceDeps): LogSlice {
  return {
    rows: [],
    logLoaded: false,
    logError: null,

    async loadRecentLog() {
      try {
        const rows = await call('log.recent', { limit: LOG_CAP });
        set({ rows: mergeRows(get().rows, rows), logLoaded: true, logError: null });
      } catch (e) {
        set({ logLoaded: true, logError: toUiError(e) });
      }
    },

    async catchUpLog() {
      const newest = get().rows[0];
      if (!newest) return get().loadRecentLog();
      try {
        const rows = await call('log.recent', { limit: LOG_CAP, afterId: newest.id });
        get().addLogRows(rows);
      } catch {
        // the next event or reconnect tries again
      }
    },

    addLogRows: (rows) => set({ rows: mergeRows(get().rows, rows) }),
  };
}
