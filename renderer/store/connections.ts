/**
 * Connections slice: the gateway's live connections, polled while a page that
 * shows them is open (`watchConnections` returns the function that stops
 * watching; the timer runs while anyone watches), and the "Disconnect now"
 * actions that end one connection or all of a user's.
 */
import type { Connection } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export interface ConnectionsSlice {
  connections: Connection[];
  connectionsLoaded: boolean;
  connectionsError: UiError | null;
  /** user name (lower case) or `#id` → a disconnect is running */
  disconnecting: Record<string, boolean>;
  /** the last disconnect's outcome, for a short message */
  disconnectNote: { key: string; text: string; error: boolean } | null;
  loadConnections(): Promise<void>;
  watchConnections(): () => void;
  disconnectUser(user: string): Promise<void>;
  disconnectConnection(id: number): Promise<void>;
  dismissDisconnectNote(): void;
}

/** How long an ended connection stays hidden while the gateway finishes closing it. */
const ENDED_HIDE_MS = 10_000;

export function createConnectionsSlice({ set, get, call }: SliceDeps, pollMs: number): ConnectionsSlice {
  let watchers = 0;
  let timer: ReturnType<typeof setInterval> | null = null;
  // connections.kill answers before the sockets have closed, so a list fetched
  // right after can still show them: ids ended here are hidden for a while
  const ended = new Map<number, number>();
  const visible = (list: Connection[]) => {
    const now = Date.now();
    for (const [id, at] of ended) if (now - at > ENDED_HIDE_MS) ended.delete(id);
    return ended.size ? list.filter((c) => !ended.has(c.id)) : list;
  };

  const kill = async (key: string, input: { id?: number; user?: string }, what: string) => {
    if (get().disconnecting[key]) return;
    set({ disconnecting: { ...get().disconnecting, [key]: true }, disconnectNote: null });
    const targets = get()
      .connections.filter((c) => (input.id !== undefined ? c.id === input.id : c.user.toLowerCase() === key))
      .map((c) => c.id);
    try {
      const { killed } = await call('connections.kill', input);
      const at = Date.now();
      for (const id of targets) ended.set(id, at);
      set({ connections: visible(get().connections) });
      const text = input.user
        ? killed === 0
          ? `${what} had no open connections.`
          : `Ended ${killed} connection${killed === 1 ? '' : 's'} of ${what}.`
        : killed === 0
          ? 'That connection had already ended.'
          : 'Ended the connection.';
      set({ disconnectNote: { key, text, error: false } });
    } catch (e) {
      const err = toUiError(e);
      set({ disconnectNote: { key, text: `Could not disconnect ${what}: ${err.message} ${err.hint}`, error: true } });
    } finally {
      const next = { ...get().disconnecting };
      delete next[key];
      set({ disconnecting: next });
      await get().loadConnections();
    }
  };

  return {
    connections: [],
    connectionsLoaded: false,
    connectionsError: null,
    disconnecting: {},
    disconnectNote: null,

    async loadConnections() {
      try {
        const connections = visible(await call('connections.list', {}));
        set({ connections, connectionsLoaded: true, connectionsError: null });
      } catch (e) {
        set({ connectionsLoaded: true, connectionsError: toUiError(e) });
      }
    },

    watchConnections() {
      watchers++;
      if (watchers === 1) {
        void get().loadConnections();
        if (pollMs > 0) timer = setInterval(() => void get().loadConnections(), pollMs);
      }
      let stopped = false;
      return () => {
        if (stopped) return;
        stopped = true;
        watchers--;
        if (watchers === 0 && timer) {
          clearInterval(timer);
          timer = null;
        }
      };
    },

    disconnectUser: (user) => kill(user.toLowerCase(), { user }, user),
    disconnectConnection: (id) => kill(`#${id}`, { id }, `connection ${id}`),
    dismissDisconnectNote: () => set({ disconnectNote: null }),
  };
}
