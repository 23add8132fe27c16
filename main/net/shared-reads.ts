/**
 * Cheaper reads for sockets a server accepts.
 *
 * By default node reads each socket into a fresh 64 KiB allocation, shrinks it
 * to the bytes read, wraps it in an ArrayBuffer and a Buffer, and pushes that
 * through the Readable machinery before 'data' is emitted. For a proxy, where
 * most reads are one small request, that is a large share of the work.
 *
 * Node's `onread` option avoids it (the socket reads into a buffer we give),
 * but only for sockets we dial. `sharedReads` sets the same thing up on an
 * accepted socket: it reads into one shared buffer, and each read is copied
 * into a right-sized Buffer (small ones come from node's pool) and emitted as
 * 'data' directly while the socket flows and nothing is queued.
 *
 * Everything else behaves as node's default: listeners, 'end', bytesRead and
 * timeouts. So does pause: with `onread`, node's pause stops reading from the
 * kernel at once, and a paused socket would not notice that its peer reset or
 * closed (a client giving up during a sign-in check). Here a paused socket
 * goes on reading into its readable queue until the queue is full, as by
 * default, and only then stops reading.
 *
 * It needs three of net.Socket's own symbols, found once on a socket made with
 * `onread`. Where they are missing (another node), nothing changes.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';

const READ_SIZE = 64 * 1024;
const SHARED = Buffer.allocUnsafeSlow(READ_SIZE);

interface Keys {
  buffer: symbol;
  callback: symbol;
  gen: symbol;
}

function findKeys(): Keys | null {
  try {
    const probe = new net.Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as net.SocketConstructorOpts);
    const bySym = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
    probe.destroy();
    const buffer = bySym.get('kBuffer');
    const callback = bySym.get('kBufferCb');
    const gen = bySym.get('kBufferGen');
    return buffer && callback && gen ? { buffer, callback, gen } : null;
  } catch {
    return null;
  }
}

let keys: Keys | null | undefined;

type Handle = { useUserBuffer?: (b: Uint8Array) => void };
type Keyed = net.Socket & Record<symbol, unknown> & { _handle?: Handle | null };

function emitCopy(this: net.Socket, n: number, buf: Buffer): boolean {
  const chunk = Buffer.allocUnsafe(n);
  buf.copy(chunk, 0, 0, n);
  if (this.readableFlowing === true && this.readableLength === 0) {
    this.emit('data', chunk);
    return true;
  }
  // paused, not yet flowing, or bytes still queued: queue behind them (false stops reading)
  return this.push(chunk);
}

/** Readable's own pause, without net's stop of the kernel reads (see above). */
function pauseReading(this: net.Socket): net.Socket {
  return Duplex.prototype.pause.call(this) as net.Socket;
}

/**
 * Makes an accepted socket read through the shared buffer (see above). Call it
 * right after the socket is accepted, before any read was delivered. Returns
 * false, and changes nothing, where node does not offer what it needs.
 */
export function sharedReads(socket: net.Socket): boolean {
  if (keys === undefined) keys = findKeys();
  const s = socket as Keyed;
  const handle = s._handle;
  if (!keys || !handle || typeof handle.useUserBuffer !== 'function' || s[keys.buffer]) return false;
  handle.useUserBuffer(SHARED);
  s[keys.buffer] = SHARED;
  s[keys.gen] = null;
  s[keys.callback] = emitCopy;
  socket.pause = pauseReading as typeof socket.pause;
  return true;
}
