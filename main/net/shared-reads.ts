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
 * 'data' directly. Listeners, pause/resume (which stop and start the kernel
 * reads), 'end', bytesRead and timeouts behave as before.
 *
 * It needs three of net.Socket's own symbols, found once on a socket made with
 * `onread`. Where they are missing (another node), nothing changes.
 */
import net from 'node:net';

const READ_SIZE = 64 * 1024;
const SHARED = Buffer.allocUnsafeSlow(READ_SIZE);

interface Keys {
  buffer: symbol;
  callback: symbol;
  gen: symbol;
}

function findKeys(): Keys | null {
  try {
    const probe = new net.Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } });
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
  this.emit('data', chunk);
  return true;
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
  return true;
}
