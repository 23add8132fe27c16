/**
 * Log viewer slice: the filter, sort and the rows of the Log page, read at a
 * snapshot (the highest id when the view was loaded) so every page and the
 * count agree. Rows live in pages of PAGE rows fetched on demand: the next page
 * by keyset from the one above it, the previous one from the one below, a page
 * far from any loaded one by offset (a jump of the scrollbar). Far pages are
 * dropped again so a long scroll keeps memory bounded. In live mode, new rows
 * that match the filter (the `log` events) go on top; otherwise they are only
 * counted ("N new rows"). Also: the export job, column choice, and the log's size.
 */
import { matchesLogFilter } from '../../main/contract/log-filter.js';
import {
  logCursorOf,
  type ExportFormat,
  type ExportJob,
  type LogCursor,
  type LogFilter,
  type LogInfo,
  type LogRow,
  type LogSort,
  type SortOrder,
} from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export const PAGE = 200;
/** pages kept in memory (the rest are fetched again when scrolled back to) */
export const MAX_PAGES = 150;
/** live rows kept above the snapshot before the view is reloaded */
export const MAX_LIVE = 5000;

export const LOG_COLUMNS = ['time', 'client', 'user', 'service', 'method', 'url', 'status', 'bytes', 'duration', 'rule', 'chain'] as const;
export type LogColumn = (typeof LOG_COLUMNS)[number];

export interface ViewerSlice {
  vFilter: LogFilter;
  vSort: LogSort;
  vOrder: SortOrder;
  /** the snapshot of the loaded view, or null before the first page */
  vMaxId: number | null;
  /** loaded pages by number */
  vPages: Record<number, LogRow[]>;
  /** pages being fetched */
  vLoading: Record<number, true>;
  /** rows that arrived after the snapshot and match the filter (live mode), newest first */
  vLive: LogRow[];
  /** rows that arrived after the snapshot and match, while not live */
  vNew: number;
  /** matching rows at the snapshot, once counted */
  vCount: number | null;
  vCounting: boolean;
  /** the last page reached the end of the listing (known before the count is) */
  vEnd: number | null;
  vError: UiError | null;
  vTookMs: number | null;
  vSelected: LogRow | null;
  vLiveMode: boolean;
  vColumns: Record<LogColumn, boolean>;
  vExport: ExportJob | null;
  vExportError: UiError | null;
  vInfo: LogInfo | null;
  /** bumps on every reload, so the table scrolls to the top */
  vEpoch: number;

  setLogFilter(patch: Partial<LogFilter>): void;
  replaceLogFilter(filter: LogFilter): void;
  setLogSort(sort: LogSort, order?: SortOrder): void;
  reloadLog(): Promise<void>;
  /** makes sure the rows from..to (view indexes) are loaded or loading */
  ensureLogRows(from: number, to: number): void;
  setLiveMode(on: boolean): void;
  selectLogRow(row: LogRow | null): void;
  setLogColumn(col: LogColumn, visible: boolean): void;
  startExport(format: ExportFormat): Promise<void>;
  cancelExport(): Promise<void>;
  dismissExport(): void;
  loadLogInfo(): Promise<void>;
  /** from the event stream */
  viewerRows(rows: LogRow[]): void;
  viewerExport(job: ExportJob): void;
}

/** The row at view index i (live rows first), or undefined while its page loads. */
export function rowAt(s: Pick<ViewerSlice, 'vLive' | 'vPages'>, i: number): LogRow | undefined {
  if (i < s.vLive.length) return s.vLive[i];
  const j = i - s.vLive.length;
  return s.vPages[Math.floor(j / PAGE)]?.[j % PAGE];
}

/** How many rows the table shows: the count once known, else what is loaded (plus a page while more may follow). */
export function viewLength(s: Pick<ViewerSlice, 'vLive' | 'vPages' | 'vCount' | 'vEnd' | 'vMaxId'>): number {
  if (s.vMaxId === null) return 0;
  if (s.vCount !== null) return s.vLive.length + s.vCount;
  if (s.vEnd !== null) return s.vLive.length + s.vEnd;
  let n = 0;
  while (s.vPages[n]) n++;
  return s.vLive.length + n * PAGE + PAGE;
}

const cursorOf = logCursorOf;

function clean(f: LogFilter): LogFilter {
  const out: LogFilter = {};
  for (const [k, v] of Object.entries(f) as Array<[keyof LogFilter, unknown]>) {
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    (out as Record<string, unknown>)[k] = v;
  }
  delete out.maxId;
  return out;
}

const COLUMNS_KEY = 'gatehouse.log.columns';
const DEFAULT_COLUMNS: Record<LogColumn, boolean> = {
  time: true,
  client: true,
  user: true,
  service: false,
  method: true,
  url: true,
  status: true,
  bytes: true,
  duration: true,
  rule: false,
  chain: false,
};

function loadColumns(): Record<LogColumn, boolean> {
  try {
    const saved = JSON.parse(globalThis.localStorage?.getItem(COLUMNS_KEY) ?? 'null') as Partial<Record<LogColumn, boolean>> | null;
    return { ...DEFAULT_COLUMNS, ...(saved ?? {}) };
  } catch {
    return { ...DEFAULT_COLUMNS };
  }
}

export function createViewerSlice({ set, get, call }: SliceDeps): ViewerSlice {
  // bumps with every reload: answers for an older view are dropped
  let generation = 0;
  let reloadTimer: ReturnType<typeof setTimeout> | null = null;

  const loadPage = async (p: number) => {
    const s = get();
    if (s.vMaxId === null || s.vPages[p] || s.vLoading[p]) return;
    if (s.vCount !== null && p * PAGE >= s.vCount) return;
    if (s.vEnd !== null && p * PAGE >= s.vEnd) return;
    const gen = generation;
    const above = s.vPages[p - 1];
    const below = s.vPages[p + 1];
    const base = { filter: { ...s.vFilter, maxId: s.vMaxId }, sort: s.vSort, order: s.vOrder, limit: PAGE };
    let input;
    if (p === 0) input = base;
    else if (above && above.length === PAGE) input = { ...base, after: cursorOf(above[PAGE - 1]!, s.vSort) };
    else if (below && below.length > 0) input = { ...base, before: cursorOf(below[0]!, s.vSort) };
    else input = { ...base, offset: p * PAGE };
    set({ vLoading: { ...s.vLoading, [p]: true } });
    try {
      const page = await call('log.query', input);
      if (gen !== generation) return;
      const pages = { ...get().vPages, [p]: page.rows };
      const patch: Partial<ViewerSlice> = { vPages: pages, vError: null };
      if (!page.hasMore && !('before' in input)) patch.vEnd = p * PAGE + page.rows.length;
      set(patch);
      trim(p);
    } catch (e) {
      if (gen === generation) set({ vError: toUiError(e) });
    } finally {
      if (gen === generation) {
        const loading = { ...get().vLoading };
        delete loading[p];
        set({ vLoading: loading });
      }
    }
  };

  /** drops the pages farthest from `near` while there are too many */
  const trim = (near: number) => {
    const pages = get().vPages;
    const keys = Object.keys(pages).map(Number);
    if (keys.length <= MAX_PAGES) return;
    keys.sort((a, b) => Math.abs(b - near) - Math.abs(a - near));
    const next = { ...pages };
    for (const k of keys.slice(0, keys.length - MAX_PAGES)) delete next[k];
    set({ vPages: next });
  };

  const count = async (gen: number, filter: LogFilter) => {
    set({ vCounting: true });
    try {
      const r = await call('log.count', { filter });
      if (gen === generation) set({ vCount: r.count });
    } catch (e) {
      if (gen === generation) set({ vError: toUiError(e) });
    } finally {
      if (gen === generation) set({ vCounting: false });
    }
  };

  const reload = async () => {
    if (reloadTimer) clearTimeout(reloadTimer);
    reloadTimer = null;
    const gen = ++generation;
    const s = get();
    set({ vPages: {}, vLoading: { 0: true }, vLive: [], vNew: 0, vCount: null, vEnd: null, vError: null, vEpoch: s.vEpoch + 1 });
    try {
      const page = await call('log.query', { filter: s.vFilter, sort: s.vSort, order: s.vOrder, limit: PAGE });
      if (gen !== generation) return;
      set({
        vMaxId: page.maxId,
        vPages: { 0: page.rows },
        vLoading: {},
        vTookMs: page.tookMs,
        vEnd: page.hasMore ? null : page.rows.length,
      });
      // the count is a call of its own: the first page never waits for it
      void count(gen, { ...s.vFilter, maxId: page.maxId });
    } catch (e) {
      if (gen === generation) set({ vError: toUiError(e), vLoading: {}, vMaxId: get().vMaxId ?? 0 });
    }
  };

  /** filter edits come in bursts (typing): reload once they settle */
  const reloadSoon = (ms = 250) => {
    if (reloadTimer) clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => void reload(), ms);
  };

  return {
    vFilter: {},
    vSort: 'time',
    vOrder: 'desc',
    vMaxId: null,
    vPages: {},
    vLoading: {},
    vLive: [],
    vNew: 0,
    vCount: null,
    vCounting: false,
    vEnd: null,
    vError: null,
    vTookMs: null,
    vSelected: null,
    vLiveMode: false,
    vColumns: loadColumns(),
    vExport: null,
    vExportError: null,
    vInfo: null,
    vEpoch: 0,

    setLogFilter(patch) {
      set({ vFilter: clean({ ...get().vFilter, ...patch }) });
      reloadSoon('text' in patch ? 300 : 0);
    },
    replaceLogFilter(filter) {
      set({ vFilter: clean(filter) });
      reloadSoon(0);
    },
    setLogSort(sort, order) {
      const next = order ?? (sort === get().vSort ? (get().vOrder === 'desc' ? 'asc' : 'desc') : 'desc');
      // live rows only make sense newest first
      set({ vSort: sort, vOrder: next, vLiveMode: get().vLiveMode && sort === 'time' && next === 'desc' });
      void reload();
    },
    reloadLog: reload,

    ensureLogRows(from, to) {
      const live = get().vLive.length;
      const a = Math.max(0, from - live);
      const b = Math.max(0, to - live);
      for (let p = Math.floor(a / PAGE); p <= Math.floor(b / PAGE); p++) void loadPage(p);
    },

    setLiveMode(on) {
      set({ vLiveMode: on });
      if (on) {
        if (get().vSort !== 'time' || get().vOrder !== 'desc') set({ vSort: 'time', vOrder: 'desc' });
        // start from what is on disk now
        void reload();
      }
    },

    selectLogRow: (row) => set({ vSelected: row }),

    setLogColumn(col, visible) {
      const cols = { ...get().vColumns, [col]: visible };
      set({ vColumns: cols });
      try {
        globalThis.localStorage?.setItem(COLUMNS_KEY, JSON.stringify(cols));
      } catch {
        // storage full or off: the choice lasts this session
      }
    },

    async startExport(format) {
      const s = get();
      set({ vExportError: null });
      try {
        const job = await call('log.export', { filter: { ...s.vFilter, ...(s.vMaxId !== null && !s.vLiveMode ? { maxId: s.vMaxId } : {}) }, sort: s.vSort, order: s.vOrder, format });
        // an event may have brought a newer state of the job already
        if (get().vExport?.id !== job.id) set({ vExport: job });
      } catch (e) {
        set({ vExportError: toUiError(e) });
      }
    },
    async cancelExport() {
      const job = get().vExport;
      if (!job || job.state !== 'running') return;
      try {
        await call('log.exportCancel', { id: job.id });
      } catch (e) {
        set({ vExportError: toUiError(e) });
      }
    },
    dismissExport: () => set({ vExport: null, vExportError: null }),

    async loadLogInfo() {
      try {
        set({ vInfo: await call('log.info', {}) });
      } catch {
        // the size line just stays as it was
      }
    },

    viewerRows(rows) {
      const s = get();
      if (s.vMaxId === null) return;
      const filter = s.vFilter;
      const fresh = rows.filter((r) => r.id > s.vMaxId! && matchesLogFilter(r, filter));
      if (fresh.length === 0) return;
      if (s.vLiveMode && s.vSort === 'time' && s.vOrder === 'desc') {
        const known = new Set(s.vLive.map((r) => r.id));
        const add = fresh.filter((r) => !known.has(r.id)).sort((a, b) => b.ts - a.ts || b.id - a.id);
        const live = add.concat(s.vLive).sort((a, b) => b.ts - a.ts || b.id - a.id);
        if (live.length > MAX_LIVE) void reload();
        else set({ vLive: live });
      } else {
        set({ vNew: s.vNew + fresh.length });
      }
    },

    viewerExport(job) {
      const cur = get().vExport;
      if (!cur || cur.id === job.id) set({ vExport: job });
    },
  };
}
