/**
 * Connection slice: starts the app (first status call decides whether this
 * browser is signed in), subscribes to events and routes them to the other
 * slices, tracks the event stream, and resyncs after it was down. It owns the
 * subscriptions and timers it creates; `stop()` clears them all.
 */
import type { GatehouseEvent } from '../../main/contract/index.js';
import type { Api } from '../api/client.js';
import type { StreamState } from '../api/transport.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export type Phase = 'loading' | 'ready' | 'unauthorized' | 'unreachable';

export interface ConnectionSlice {
  phase: Phase;
  phaseError: UiError | null;
  stream: StreamState;
  start(): Promise<void>;
  stop(): void;
  /** tries again after `unreachable` */
  retry(): Promise<void>;
}

export interface ConnectionOptions {
  /** status refresh period (counters); 0 turns polling off */
  statusPollMs: number;
  /** delay before refreshing counters after log rows arrived */
  statusAfterLogMs: number;
  /** open-connections refresh period while a page shows them; 0 turns polling off */
  connectionsPollMs: number;
}

export function createConnectionSlice(
  { set, get, call }: SliceDeps,
  api: Api,
  opts: ConnectionOptions,
): ConnectionSlice {
  let cleanups: Array<() => void> = [];
  let started = false;
  let statusTimer: ReturnType<typeof setTimeout> | null = null;

  const refreshStatusSoon = () => {
    if (statusTimer || !started) return;
    statusTimer = setTimeout(() => {
      statusTimer = null;
      void get().refreshStatus();
    }, opts.statusAfterLogMs);
  };

  const onEvent = (e: GatehouseEvent) => {
    switch (e.type) {
      case 'status':
        set({ status: e.status });
        break;
      case 'log':
        get().addLogRows(e.rows);
        get().viewerRows(e.rows);
        refreshStatusSoon();
        break;
      case 'export':
        get().viewerExport(e.job);
        break;
      case 'settings':
        get().applySettings(e.settings);
        break;
      case 'users':
        void get().loadUsers();
        break;
      case 'rules':
        void get().loadRules();
        break;
      case 'tunnels':
        void get().loadTunnels();
        break;
    }
  };

  const onStream = (s: StreamState) => {
    const was = get().stream;
    set({ stream: s });
    // events may have been missed while the stream was down
    if (s === 'connected' && was === 'reconnecting' && get().phase === 'ready') {
      void get().refreshStatus();
      void get().catchUpLog();
      if (get().vLiveMode) void get().reloadLog();
      void get().loadSettings();
      void get().loadUsers();
      void get().loadRules();
      void get().loadTunnels();
    }
  };

  const stop = () => {
    started = false;
    for (const c of cleanups) c();
    cleanups = [];
    if (statusTimer) clearTimeout(statusTimer);
    statusTimer = null;
  };

  const start = async () => {
    if (started) return;
    started = true;
    // a retry from the unreachable screen keeps that screen until it succeeds
    if (get().phase !== 'unreachable') set({ phase: 'loading', phaseError: null });
    try {
      const status = await call('status.get', {});
      set({ status });
    } catch (e) {
      const err = toUiError(e);
      stop();
      set({ phase: err.code === 'E_UNAUTHORIZED' ? 'unauthorized' : 'unreachable', phaseError: err });
      return;
    }
    if (!started) return; // stopped while loading
    cleanups.push(api.client.subscribe(onEvent));
    cleanups.push(api.onStreamState(onStream));
    if (opts.statusPollMs > 0) {
      const t = setInterval(() => void get().refreshStatus(), opts.statusPollMs);
      cleanups.push(() => clearInterval(t));
    }
    set({ phase: 'ready', phaseError: null });
    await Promise.all([get().loadSettings(), get().loadRecentLog(), get().loadUsers(), get().loadRules(), get().loadTunnels()]);
  };

  return {
    phase: 'loading',
    phaseError: null,
    stream: 'connecting',
    start,
    stop,
    async retry() {
      stop();
      await start();
    },
  };
}
