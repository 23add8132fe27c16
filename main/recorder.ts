/**
 * One record per request or connection, opened when it starts and completed
 * exactly once when it ends (the go-gost recorder model). Completed records go
 * to the log writer; open ones are the live connections (their count, the
 * connections view, and "disconnect now").
 *
 * Records are plain class instances with no closures of their own: a gateway
 * may hold tens of thousands of idle sessions, and each byte per record counts.
 */
import type { Socket } from 'node:net';
import type { LogRow } from './contract/index.js';
import type { RowTuple } from './contract/log-row.js';

export type RecordFields = Omit<LogRow, 'id' | 'ts' | 'durationMs'>;

/** Something that ends a connection: a socket, a response, or a function. */
export type KillTarget = { destroy(): void } | (() => void);

export interface ConnRecord {
  readonly id: number;
  readonly start: number;
  readonly fields: Readonly<RecordFields>;
  /** fill in as the request proceeds; the last values win */
  set(patch: Partial<RecordFields>): void;
  /** ends the record (only the first call counts) */
  complete(patch?: Partial<RecordFields>): void;
  /** ends the record without a log row (its story is told by other rows) */
  discard(): void;
  /** how to end this connection from outside ("disconnect now") */
  onKill(target: KillTarget): void;
}

export interface LiveConnection {
  id: number;
  start: number;
  fields: Readonly<RecordFields>;
}

export interface Recorder {
  /** `start` backdates the record (e.g. a UDP destination's first datagram) */
  open(init: Pick<RecordFields, 'service' | 'clientAddr' | 'clientPort'> & Partial<RecordFields>, start?: number): ConnRecord;
  readonly active: number;
  readonly total: number;
  /** the records open right now */
  live(): LiveConnection[];
  /** ends the live connections that match; returns how many */
  kill(match: (c: LiveConnection) => boolean): number;
  /**
   * The log is far behind (its writer runs at low priority and yields to the proxies): engines
   * take new work only as fast as it writes, so waiting rows cannot grow without bound.
   */
  readonly congested: boolean;
}

/** Where completed records go: the log writer, as rows in its tuple form (no object per row). */
export type RowSink = (row: RowTuple) => void;

class Rec implements ConnRecord {
  done = false;
  killer: KillTarget | null = null;
  constructor(
    readonly owner: RecorderImpl,
    readonly id: number,
    readonly start: number,
    readonly fields: RecordFields,
  ) {}
  set(patch: Partial<RecordFields>): void {
    if (!this.done) Object.assign(this.fields, patch);
  }
  complete(patch?: Partial<RecordFields>): void {
    if (this.done) return;
    if (patch) Object.assign(this.fields, patch);
    this.owner.close(this, true);
  }
  discard(): void {
    if (!this.done) this.owner.close(this, false);
  }
  onKill(target: KillTarget): void {
    this.killer = target;
  }
}

class RecorderImpl implements Recorder {
  active = 0;
  total = 0;
  private nextId = 1;
  private readonly open_ = new Map<number, Rec>();

  constructor(
    private readonly sink: RowSink,
    private readonly clock: () => number,
    private readonly backlogged: () => boolean,
  ) {}

  get congested(): boolean {
    return this.backlogged();
  }

  open(init: Pick<RecordFields, 'service' | 'clientAddr' | 'clientPort'> & Partial<RecordFields>, start?: number): ConnRecord {
    // one fixed shape for every record (a spread of `init` would make one per call site)
    const fields: RecordFields = {
      service: init.service,
      clientAddr: init.clientAddr,
      clientPort: init.clientPort,
      user: init.user ?? '',
      method: init.method ?? '',
      url: init.url ?? '',
      host: init.host ?? '',
      port: init.port ?? 0,
      status: init.status ?? 0,
      bytesUp: init.bytesUp ?? 0,
      bytesDown: init.bytesDown ?? 0,
      packetsUp: init.packetsUp ?? 0,
      packetsDown: init.packetsDown ?? 0,
      allowed: init.allowed ?? true,
      rule: init.rule ?? '',
      error: init.error ?? '',
      chain: init.chain ?? '',
      mapping: init.mapping ?? '',
    };
    const rec = new Rec(this, this.nextId++, start ?? this.clock(), fields);
    this.open_.set(rec.id, rec);
    this.active++;
    return rec;
  }

  close(rec: Rec, write: boolean): void {
    rec.done = true;
    rec.killer = null;
    this.open_.delete(rec.id);
    this.active--;
    if (!write) return;
    this.total++;
    const f = rec.fields;
    // spelled out in LOG_FIELDS' order (an array literal costs least here, once per request);
    // test/recorder.test.ts checks the order against LOG_FIELDS
    this.sink([
      rec.start,
      f.service,
      f.clientAddr,
      f.clientPort,
      f.user,
      f.method,
      f.url,
      f.host,
      f.port,
      f.status,
      f.allowed ? 1 : 0,
      f.rule,
      f.bytesUp,
      f.bytesDown,
      f.packetsUp,
      f.packetsDown,
      Math.max(0, this.clock() - rec.start),
      f.error,
      f.chain,
      f.mapping,
    ]);
  }

  live(): LiveConnection[] {
    return [...this.open_.values()].map((o) => ({ id: o.id, start: o.start, fields: o.fields }));
  }

  kill(match: (c: LiveConnection) => boolean): number {
    let n = 0;
    for (const o of [...this.open_.values()]) {
      const k = o.killer;
      if (k && match(o)) {
        n++;
        if (typeof k === 'function') k();
        else k.destroy();
      }
    }
    return n;
  }
}

export function createRecorder(sink: RowSink, clock: () => number = Date.now, backlogged: () => boolean = () => false): Recorder {
  return new RecorderImpl(sink, clock, backlogged);
}

/** How often a connection held back by a congested log looks again (ms). */
export const CONGESTION_RETRY_MS = 20;

/**
 * Starts `go` for a new connection once the log keeps up: at once when it does, else the
 * socket waits paused (its bytes stay in the kernel) and is looked at again every few ms.
 */
export function whenLogKeepsUp(recorder: Recorder, socket: Socket, go: () => void): void {
  if (!recorder.congested) return go();
  socket.pause();
  const onError = () => socket.destroy();
  socket.on('error', onError);
  const retry = () => {
    if (socket.destroyed) return;
    if (recorder.congested) return void setTimeout(retry, CONGESTION_RETRY_MS);
    socket.removeListener('error', onError);
    socket.resume();
    go();
  };
  setTimeout(retry, CONGESTION_RETRY_MS);
}
