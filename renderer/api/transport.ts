/**
 * The two ways the renderer reaches the control API, behind one interface:
 * the Electron preload bridge (`window.gatehouse`) and the web admin
 * (`POST /api/call/<method>` + server-sent events on `/api/events`).
 * Both return results as data; neither throws. Each also reports whether its
 * event stream is up, so the UI can say "reconnecting…" and resync afterwards.
 */
import type { ErrorData, GatehouseEvent, Result } from '../../main/contract/index.js';
import type { Transport } from '../../main/contract/client.js';

/** What the Electron preload exposes (see main/electron/preload.ts). */
export interface GatehouseBridge {
  call(method: string, input: unknown): Promise<Result<unknown>>;
  onEvent(cb: (e: GatehouseEvent) => void): () => void;
}

declare global {
  interface Window {
    gatehouse?: GatehouseBridge;
  }
}

export type StreamState = 'connecting' | 'connected' | 'reconnecting';

export interface RendererTransport extends Transport {
  /** calls `cb` with the event stream's state now and whenever it changes */
  onStreamState(cb: (s: StreamState) => void): () => void;
}

function failure(code: ErrorData['code'], message: string): Result<never> {
  return { ok: false, error: { code, message } };
}

export function createBridgeTransport(bridge: GatehouseBridge): RendererTransport {
  return {
    async call(method, input) {
      try {
        return await bridge.call(method, input);
      } catch (e) {
        return failure('E_UNAVAILABLE', `Gatehouse did not answer ${method}: ${(e as Error).message}`);
      }
    },
    subscribe: (onEvent) => bridge.onEvent(onEvent),
    // IPC has no connection that can drop while the window lives.
    onStreamState(cb) {
      cb('connected');
      return () => {};
    },
  };
}

/** The parts of EventSource we use, so tests or other hosts can supply one. */
interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  close(): void;
}

export interface HttpTransportOptions {
  /** '' for same-origin (the web admin); an absolute origin in tests */
  baseUrl?: string;
  fetch?: typeof fetch;
  EventSource?: new (url: string) => EventSourceLike;
}

const CLOSED = 2; // EventSource.CLOSED
const MAX_RETRY_MS = 10_000;

export function createHttpTransport(opts: HttpTransportOptions = {}): RendererTransport {
  const base = opts.baseUrl ?? '';
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  const ES = opts.EventSource ?? (typeof EventSource === 'undefined' ? undefined : EventSource);

  // One shared EventSource for every subscriber; opened on the first subscribe.
  const listeners = new Set<(e: GatehouseEvent) => void>();
  const stateListeners = new Set<(s: StreamState) => void>();
  let state: StreamState = 'connecting';
  let source: EventSourceLike | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let retryMs = 1000;

  const setState = (s: StreamState) => {
    if (s === state) return;
    state = s;
    for (const l of stateListeners) l(s);
  };

  const open = () => {
    if (!ES) return;
    const es = new ES(`${base}/api/events`);
    source = es;
    es.onopen = () => {
      retryMs = 1000;
      setState('connected');
    };
    es.onmessage = (ev) => {
      let event: GatehouseEvent;
      try {
        event = JSON.parse(String(ev.data)) as GatehouseEvent;
      } catch {
        return; // a comment or keep-alive line that is not an event
      }
      for (const l of listeners) l(event);
    };
    es.onerror = () => {
      setState('reconnecting');
      // The browser retries by itself after a dropped stream, but gives up for
      // good on an HTTP error (e.g. 401, 502): then we retry, backing off.
      if (es.readyState === CLOSED && source === es) {
        es.close();
        source = null;
        retryTimer = setTimeout(() => {
          retryTimer = null;
          if (listeners.size > 0) open();
        }, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    };
  };

  const close = () => {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    source?.close();
    source = null;
    state = 'connecting';
  };

  return {
    async call(method, input) {
      let res: Response;
      try {
        res = await doFetch(`${base}/api/call/${encodeURIComponent(method)}`, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(input ?? {}),
        });
      } catch (e) {
        return failure('E_UNAVAILABLE', `Cannot reach Gatehouse (${(e as Error).message}).`);
      }
      if (res.status === 401) {
        return failure('E_UNAUTHORIZED', 'This browser is not signed in to Gatehouse.');
      }
      const text = await res.text().catch(() => '');
      try {
        const body = JSON.parse(text) as Result<unknown>;
        if (body && typeof body === 'object' && typeof body.ok === 'boolean') return body;
      } catch {
        // fall through: not a Result
      }
      return failure(
        res.ok ? 'E_INTERNAL' : 'E_UNAVAILABLE',
        `Unexpected answer from Gatehouse to ${method}: HTTP ${res.status}${text ? ` ${text.slice(0, 120)}` : ''}`,
      );
    },
    subscribe(onEvent) {
      listeners.add(onEvent);
      if (!source && !retryTimer) open();
      return () => {
        listeners.delete(onEvent);
        if (listeners.size === 0) close();
      };
    },
    onStreamState(cb) {
      stateListeners.add(cb);
      cb(state);
      return () => stateListeners.delete(cb);
    },
  };
}

/** Electron's bridge when present, else the web admin over HTTP. */
export function pickTransport(): RendererTransport {
  if (typeof window !== 'undefined' && window.gatehouse) return createBridgeTransport(window.gatehouse);
  return createHttpTransport();
}
