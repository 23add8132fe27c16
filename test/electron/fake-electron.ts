/**
 * A stand-in for the parts of Electron's IPC that cannot run under Node:
 * ipcMain.handle / ipcRenderer.invoke and webContents.send / ipcRenderer.on,
 * with Electron's observable behaviour — arguments and results are
 * structured-cloned, delivery is asynchronous, a second handler for a channel
 * throws, invoking a channel without a handler rejects, and every invoke event
 * carries `sender` (the webContents) and `senderFrame` (the frame that sent it).
 */
import type { FrameLike, IpcMainLike, InvokeEventLike, WebContentsLike } from '../../main/electron/ipc.js';
import type { IpcRendererLike } from '../../main/electron/bridge.js';

type Handler = (event: InvokeEventLike, ...args: unknown[]) => unknown;
type Listener = (event: unknown, ...args: unknown[]) => void;

let nextId = 1;

export class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, Handler>();
  handle(channel: string, listener: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
}

export class FakeFrame implements FrameLike {
  constructor(
    public url: string,
    public parent: FakeFrame | null = null,
  ) {}
}

/** One renderer: its webContents (main side) and its ipcRenderer (page side). */
export class FakeWebContents implements WebContentsLike {
  readonly id = nextId++;
  readonly mainFrame: FakeFrame;
  destroyed = false;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly ipcMain: FakeIpcMain,
    url: string,
  ) {
    this.mainFrame = new FakeFrame(url);
  }

  getURL(): string {
    return this.mainFrame.url;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }

  /** main → renderer */
  send(channel: string, ...args: unknown[]): void {
    if (this.destroyed) throw new Error('Object has been destroyed');
    const cloned = structuredClone(args);
    setImmediate(() => {
      for (const l of this.listeners.get(channel) ?? []) l({ sender: this.ipcRenderer }, ...cloned);
    });
  }

  /** The page's ipcRenderer; `frame` is the frame it runs in (the main frame unless given). */
  rendererIn(frame: FakeFrame | null = this.mainFrame): IpcRendererLike {
    const invoke = async (channel: string, ...args: unknown[]): Promise<unknown> => {
      const cloned = structuredClone(args); // throws DataCloneError for functions, as Electron's invoke rejects
      await new Promise((r) => setImmediate(r));
      const handler = this.ipcMain.handlers.get(channel);
      if (!handler) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`);
      const event: InvokeEventLike = { sender: this, senderFrame: frame };
      return structuredClone(await handler(event, ...cloned));
    };
    return {
      invoke,
      on: (channel, listener) => {
        let set = this.listeners.get(channel);
        if (!set) this.listeners.set(channel, (set = new Set()));
        set.add(listener);
      },
      removeListener: (channel, listener) => {
        this.listeners.get(channel)?.delete(listener);
      },
    };
  }

  get ipcRenderer(): IpcRendererLike {
    return this.rendererIn();
  }

  listenerCount(channel: string): number {
    return this.listeners.get(channel)?.size ?? 0;
  }
}

/** Lets queued setImmediate deliveries run. */
export const settle = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));
