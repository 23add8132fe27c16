/**
 * The main-process end of the IPC transport: one invoke channel that forwards
 * (method, input) to the control service, and one push channel that carries
 * control events to our window. Like the web admin and the CLI it has no logic
 * of its own; the control service validates input and never throws.
 *
 * Trust: a call is answered only when it comes from our window's webContents,
 * from its top frame, while that frame shows our renderer (app://gatehouse/).
 * Anything else (another window, an iframe, a page that navigated away)
 * gets E_FORBIDDEN as data. Events go only to our window, and only while it
 * shows our renderer: log rows name the sites LAN users visit.
 *
 * Typed against small structural interfaces rather than `electron`, so tests
 * drive it with a fake ipcMain; Electron's own objects satisfy them.
 */
import type { ControlService } from '../control/types.js';
import type { Result } from '../contract/index.js';
import { GatehouseError } from '../contract/errors.js';
import { CALL_CHANNEL, EVENT_CHANNEL } from './channels.js';
import { isAppUrl } from './security.js';

export interface WebContentsLike {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  getURL(): string;
}

export interface FrameLike {
  readonly url: string;
  readonly parent: FrameLike | null;
}

export interface InvokeEventLike {
  readonly sender: WebContentsLike;
  /** null when the frame has navigated away or been destroyed since it sent */
  readonly senderFrame: FrameLike | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: InvokeEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export type SenderCheck = (event: InvokeEventLike) => boolean;

/** Trusts the top frame of `getContents()` while it shows our renderer; nothing else. */
export function windowSenderCheck(getContents: () => WebContentsLike | null | undefined): SenderCheck {
  return (event) => {
    const ours = getContents();
    if (!ours || ours.isDestroyed() || event.sender.id !== ours.id) return false;
    const frame = event.senderFrame;
    return frame !== null && frame.parent === null && isAppUrl(frame.url);
  };
}

export interface IpcOptions {
  isTrustedSender: SenderCheck;
  /** where control events go: our window's webContents, or null while there is none */
  eventTarget: () => WebContentsLike | null | undefined;
  /** told about every refused call (for the diagnostic log) */
  onRefused?: (info: { method: string; senderId: number; url: string | null }) => void;
}

/** Wires the control service to IPC; returns a function that unwires it. */
export function registerIpc(ipcMain: IpcMainLike, control: ControlService, opts: IpcOptions): () => void {
  ipcMain.handle(CALL_CHANNEL, async (event, method: unknown, input: unknown): Promise<Result<unknown>> => {
    const name = typeof method === 'string' ? method : String(method);
    if (!opts.isTrustedSender(event)) {
      const url = event.senderFrame?.url ?? null;
      opts.onRefused?.({ method: name, senderId: event.sender.id, url });
      return failure(
        new GatehouseError(
          'E_FORBIDDEN',
          `IPC call "${name}" refused: it came from ${url === null ? 'a frame that is gone' : `"${url}"`}, not from the Gatehouse window`,
        ),
      );
    }
    if (typeof method !== 'string') {
      return failure(new GatehouseError('E_VALIDATION', `method must be a string, got ${typeof method}`));
    }
    try {
      return await control.call(method, input);
    } catch (e) {
      return failure(GatehouseError.from(e)); // the service should not throw; if it does, the page still gets data
    }
  });

  const unsubscribe = control.subscribe((e) => {
    const target = opts.eventTarget();
    if (!target || target.isDestroyed() || !isAppUrl(target.getURL())) return;
    target.send(EVENT_CHANNEL, e);
  });

  return () => {
    unsubscribe();
    ipcMain.removeHandler(CALL_CHANNEL);
  };
}

function failure(err: GatehouseError): Result<never> {
  return { ok: false, error: err.toData() };
}
