/**
 * The renderer's only way into the main process: `createBridge(ipcRenderer)`
 * builds the object the preload exposes as `window.gatehouse`. It offers two
 * named functions and nothing else — never `ipcRenderer` itself, never an
 * IpcRendererEvent (whose `sender` would hand the page the raw IPC object).
 * Results cross as data (`{ok, value}` / `{ok, error}`); nothing here throws
 * at the page for a bad call.
 *
 * Imports only types and channel names, so the sandboxed preload bundle stays
 * a few hundred bytes and needs nothing but `electron`.
 */
import type { GatehouseEvent, Result } from '../contract/index.js';
import { CALL_CHANNEL, EVENT_CHANNEL } from './channels.js';

/** What `window.gatehouse` is (the renderer's transport declares the same shape). */
export interface GatehouseBridge {
  call(method: string, input: unknown): Promise<Result<unknown>>;
  onEvent(cb: (e: GatehouseEvent) => void): () => void;
}

/** The parts of Electron's ipcRenderer the bridge uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export function createBridge(ipcRenderer: IpcRendererLike): GatehouseBridge {
  const bridge: GatehouseBridge = {
    async call(method, input) {
      if (typeof method !== 'string' || method === '') {
        return {
          ok: false,
          error: { code: 'E_VALIDATION', message: `method must be a non-empty string, got ${describe(method)}` },
        };
      }
      try {
        return (await ipcRenderer.invoke(CALL_CHANNEL, method, input)) as Result<unknown>;
      } catch (e) {
        // invoke rejects when the input cannot be cloned or no handler is
        // registered yet; the page still gets data, not an exception.
        return { ok: false, error: { code: 'E_INTERNAL', message: `IPC call ${method} failed: ${(e as Error).message}` } };
      }
    },
    onEvent(cb) {
      if (typeof cb !== 'function') throw new TypeError(`onEvent needs a function, got ${describe(cb)}`);
      // Drop Electron's event argument: the page receives the payload only.
      const listener = (_event: unknown, payload: unknown) => cb(payload as GatehouseEvent);
      ipcRenderer.on(EVENT_CHANNEL, listener);
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        ipcRenderer.removeListener(EVENT_CHANNEL, listener);
      };
    },
  };
  return Object.freeze(bridge);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  return v === null ? 'null' : typeof v;
}
