/**
 * Byte relays between two sockets (CONNECT tunnels, upgrades, and later SOCKS).
 * Half-close is passed on: when one side ends, the other side's writable end is
 * ended and data keeps flowing the other way. An idle deadline and any error
 * close both sides. `done` runs once, after both sockets are closed.
 *
 * For sockets we dial ourselves, `dialBuffers` gives node's `onread` option:
 * reads land in large pooled buffers (fewer syscalls and callbacks per byte
 * than the default 64 KiB reads) and go straight to the other socket; the
 * buffer returns to the pool once written, and reading pauses while the
 * other side is backed up.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { ThrottleStream, type TokenBucket } from '../policy/limits.js';

const BUFFER_SIZE = 256 * 1024;
const POOL_MAX = 32;
const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE);
}

function giveBack(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

export interface PooledReader {
  /** pass as `onread` to net.connect */
  onread: { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };
  /** where the bytes go; set once the other side is known */
  target: Duplex | null;
  /** bytes read so far */
  bytes: number;
  /** bytes that arrived before there was a target (a server that speaks first) */
  early: Buffer[];
}

/** An `onread` configuration that forwards each read to `reader.target`. */
export function pooledReader(): PooledReader {
  const reader: PooledReader = {
    target: null,
    bytes: 0,
    early: [],
    onread: {
      buffer: takeBuffer,
      callback(n, buf) {
        reader.bytes += n;
        const out = reader.target;
        if (!out) {
          reader.early.push(Buffer.from(buf.subarray(0, n)));
          giveBack(buf);
          return true;
        }
        if (out.destroyed) {
          giveBack(buf);
          return false;
        }
        // the buffer is reused after the write, so it goes back only once written
        const more = out.write(buf.subarray(0, n), () => giveBack(buf));
        return more;
      },
    },
  };
  return reader;
}

export interface RelayOptions {
  idleTimeoutMs: number;
  /** `b` was dialed with this reader's onread: its data is forwarded by the reader, not by pipe */
  bReader?: PooledReader;
  /** bandwidth limits: a → b is "up", b → a is "down" (then bReader must not be used) */
  up?: TokenBucket | null;
  down?: TokenBucket | null;
}

export function relay(a: Duplex, b: Duplex, opts: RelayOptions, done: () => void): () => void {
  let closed = 0;
  let finished = false;
  const onClose = () => {
    if (++closed === 2 && !finished) {
      finished = true;
      done();
    }
  };
  a.once('close', onClose);
  b.once('close', onClose);
  const throttles: ThrottleStream[] = [];
  const kill = () => {
    a.destroy();
    b.destroy();
    for (const t of throttles) t.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  for (const s of [a, b] as net.Socket[]) {
    if (typeof s.setTimeout === 'function' && opts.idleTimeoutMs > 0) {
      s.setTimeout(opts.idleTimeoutMs);
      s.on('timeout', kill);
    }
  }
  if (opts.up) {
    const t = new ThrottleStream(opts.up);
    throttles.push(t);
    a.pipe(t).pipe(b);
  } else {
    a.pipe(b);
  }
  if (opts.down) {
    const t = new ThrottleStream(opts.down);
    throttles.push(t);
    b.pipe(t).pipe(a);
  } else if (opts.bReader) {
    const r = opts.bReader;
    r.target = a;
    for (const chunk of r.early) a.write(chunk);
    r.early = [];
    // backpressure: a paused reader resumes when the client drains
    a.on('drain', () => (b as net.Socket).resume());
    b.on('end', () => a.end());
    (b as net.Socket).resume();
  } else {
    b.pipe(a);
  }
  return kill;
}
