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
 * into a right-sized Buffer and emitted as 'data' directly while the socket
 * flows with a 'data' listener, no encoding and nothing queued; otherwise it is
 * pushed into the readable queue as node would. (A read under 4 KiB is a slice
 * of node's shared 8 KiB pool, as `Buffer.allocUnsafe` gives: a kept partial
 * head holds that slab.)
 *
 * 'end', half-close, bytesRead and timeouts are node's own. So is pause: with
 * `onread`, node's pause stops reading from the kernel at once, and a paused
 * socket would not notice that its peer reset or closed (a client giving up
 * during a sign-in check). Here a paused socket goes on reading into its
 * readable queue until the queue is full (16 KiB by default), as by default,
 * and only then stops reading.
 *
 * GATEHOUSE_SHARED_READS=0 in the environment turns it off.
 *
 * It needs three of net.Socket's own symbols, found once on a probe socket made
 * with `onread`. Where they are missing, or do not hold what the probe's
 * `onread` set (another node), nothing changes.
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
  if (process.env.GATEHOUSE_SHARED_READS === '0') return null;
  try {
    // every socket has these symbols; that they hold this probe's onread shows they still mean it
    const probeBuf = Buffer.alloc(1);
    const probeCb = () => true;
    const probe = new net.Socket({ onread: { buffer: probeBuf, callback: probeCb } } as net.SocketConstructorOpts) as Keyed;
    const bySym = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
    const buffer = bySym.get('kBuffer');
    const callback = bySym.get('kBufferCb');
    const gen = bySym.get('kBufferGen');
    const ok = buffer && callback && gen && probe[buffer] === probeBuf && probe[callback] === probeCb && probe[gen] === null;
    probe.destroy();
    return ok ? { buffer, callback, gen } : null;
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
  if (this.readableFlowing === true && this.readableLength === 0 && this.readableEncoding === null && this.listenerCount('data') > 0) {
    this.emit('data', chunk);
    return true;
  }
  // paused, not yet flowing, decoding, no listener, or bytes still queued: as node would (false stops reading)
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
