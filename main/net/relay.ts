/**
 * Byte relays between two sockets (CONNECT tunnels, upgrades, SOCKS sessions).
 * Half-close is passed on: when one side ends, the other side's writable end is
 * ended and data keeps flowing the other way. An idle deadline and any error
 * close both sides. `done` runs once, after both sockets are closed.
 *
 * For sockets we dial ourselves, `fastReader` gives node's `onread` option:
 * every such socket reads into one shared 256 KiB buffer (fewer syscalls and
 * callbacks per byte than node's default 64 KiB reads on a bulk transfer), and
 * each read is copied at once into a spare buffer that returns to a small pool
 * when its write is done, so a transfer allocates nothing and an idle socket
 * holds no buffer. Reading pauses while the other side is backed up.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { ThrottleStream, type TokenBucket } from '../policy/limits.js';

const READ_SIZE = 256 * 1024;
const SHARED = Buffer.allocUnsafe(READ_SIZE);
const shared = () => SHARED;
/** copies of reads wait here for their write to finish; reused so a bulk transfer allocates nothing */
const spare: Buffer[] = [];
const SPARE_MAX = 64;

/** A copy of the first n bytes of a read, in a pooled 256 KiB buffer; hand it back with giveBack once written. */
export function copyOut(buf: Buffer, n: number): Buffer {
  const b = spare.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE);
  buf.copy(b, 0, 0, n);
  return b;
}
export function giveBack(b: Buffer): void {
  if (spare.length < SPARE_MAX) spare.push(b);
}
const kRelay = Symbol('gatehouse.relay');
const kReader = Symbol('gatehouse.reader');

export interface FastReader {
  /** pass as `onread` to net.connect */
  onread: { buffer: () => Buffer; callback: (this: net.Socket, n: number, buf: Buffer) => boolean };
  /** bytes read so far */
  bytes: number;
  /** bytes that arrived before there was a target (a server that speaks first) */
  early: Buffer[];
}

/**
 * An `onread` configuration whose reads go to the relay the socket joins later
 * (bytes that come before, from a server that speaks first, wait in `early`).
 * Call `attach(socket)` once the socket exists, before it can read.
 */
export function fastReader(): FastReader {
  return { bytes: 0, early: [], onread: ONREAD };
}

const ONREAD = { buffer: shared, callback: onFastReadShim };

/** An `onread` option that reads into the shared buffer and calls `callback(n, buf)`; copy what you keep. */
export function sharedOnread(callback: (this: net.Socket, n: number, buf: Buffer) => boolean): FastReader['onread'] {
  return { buffer: shared, callback };
}
function onFastReadShim(this: net.Socket, n: number, buf: Buffer): boolean {
  return onFastRead.call(this as RelaySocket, n, buf);
}

/** Binds a reader to the socket dialed with its onread. */
export function attachReader(socket: net.Socket, reader: FastReader): void {
  (socket as RelaySocket & { [kReader]?: FastReader })[kReader] = reader;
}

export interface RelayOptions {
  idleTimeoutMs: number;
  /** `b` was dialed with this reader's onread: its data is forwarded by the reader, not by 'data' events */
  bReader?: FastReader;
  /** bandwidth limits: a → b is "up", b → a is "down" (then bReader must not be used) */
  up?: TokenBucket | null;
  down?: TokenBucket | null;
}

/**
 * One relayed pair. Its sockets share module-level listener functions and find
 * their relay through a symbol, and one sweeper timer checks idleness for all
 * relays, so an idle pair costs two sockets and this small object, no closures
 * and no timers of its own.
 */
class Relay {
  closed = 0;
  last = Date.now();
  finished = false;
  throttles: ThrottleStream[] | null = null;
  constructor(
    readonly a: net.Socket,
    readonly b: net.Socket,
    readonly idleMs: number,
    readonly done: () => void,
  ) {}
  other(s: net.Socket): net.Socket {
    return s === this.a ? this.b : this.a;
  }
  kill(): void {
    this.a.destroy();
    this.b.destroy();
    if (this.throttles) for (const t of this.throttles) t.destroy();
  }
}

type RelaySocket = net.Socket & { [kRelay]?: Relay };

function onData(this: RelaySocket, chunk: Buffer): void {
  const r = this[kRelay]!;
  r.last = Date.now();
  if (!r.other(this).write(chunk)) this.pause();
}
function onDrain(this: RelaySocket): void {
  const r = this[kRelay]!;
  r.other(this).resume();
}
function onEnd(this: RelaySocket): void {
  const peer = this[kRelay]!.other(this);
  // both ways are done (the peer ended first) and all its bytes are with the kernel: closing it
  // sends the same FIN a shutdown would, one system call and one callback fewer per session
  if (peer.readableEnded && peer.writableLength === 0) peer.destroy();
  // half-close: this side is done sending, the other way may still flow
  else peer.end();
}
function onError(this: RelaySocket): void {
  this[kRelay]!.kill();
}
function onClose(this: RelaySocket): void {
  const r = this[kRelay]!;
  const peer = r.other(this);
  // this side is gone entirely: the other gets what is already queued, then closes
  if (!peer.destroyed) peer.destroySoon();
  if (++r.closed === 2 && !r.finished) {
    r.finished = true;
    live.delete(r);
    if (r.throttles) for (const t of r.throttles) t.destroy();
    r.done();
  }
}

/** Reads of a FastReader socket go straight to its relay's other side. */
function onFastRead(this: RelaySocket, n: number, buf: Buffer): boolean {
  const r = this[kRelay];
  const reader = (this as RelaySocket & { [kReader]?: FastReader })[kReader];
  if (reader) reader.bytes += n;
  if (!r) {
    reader?.early.push(Buffer.from(buf.subarray(0, n)));
    return true;
  }
  r.last = Date.now();
  const out = r.other(this);
  if (out.destroyed) return false;
  // the shared buffer is reused by the next read of any socket: copy out into a spare
  const copy = copyOut(buf, n);
  return out.write(copy.subarray(0, n), () => giveBack(copy));
}

const live = new Set<Relay>();
let sweeper: NodeJS.Timeout | null = null;
const SWEEP_MS = 1000;

function sweep(): void {
  const now = Date.now();
  for (const r of live) if (r.idleMs > 0 && now - r.last > r.idleMs) r.kill();
  if (live.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** Relays bytes both ways until both sides are done; returns a function that ends it. */
export function relay(aDuplex: Duplex, bDuplex: Duplex, opts: RelayOptions, done: () => void): () => void {
  const a = aDuplex as RelaySocket;
  const b = bDuplex as RelaySocket;
  const r = new Relay(a, b, opts.idleTimeoutMs, done);
  a[kRelay] = r;
  b[kRelay] = r;
  live.add(r);
  if (!sweeper && opts.idleTimeoutMs > 0) {
    sweeper = setInterval(sweep, Math.min(SWEEP_MS, Math.max(50, opts.idleTimeoutMs / 4)));
    sweeper.unref();
  }
  a.on('error', onError);
  b.on('error', onError);
  a.on('close', onClose);
  b.on('close', onClose);
  if (opts.up) {
    const t = new ThrottleStream(opts.up);
    (r.throttles ??= []).push(t);
    a.pipe(t).pipe(b);
  } else {
    a.on('data', onData);
    a.on('end', onEnd);
    b.on('drain', onDrain);
  }
  if (opts.down) {
    const t = new ThrottleStream(opts.down);
    (r.throttles ??= []).push(t);
    b.pipe(t).pipe(a);
  } else {
    if (opts.bReader) {
      for (const chunk of opts.bReader.early) a.write(chunk);
      opts.bReader.early = [];
    } else {
      b.on('data', onData);
    }
    b.on('end', onEnd);
    a.on('drain', onDrain);
  }
  a.resume();
  b.resume();
  return () => r.kill();
}
