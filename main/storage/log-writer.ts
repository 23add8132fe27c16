/**
 * Writes request-log rows in batches: rows queue in memory and are inserted in
 * one transaction per batch, at most `delayMs` after the first queued row (or
 * at once when `maxBatch` rows wait). Listeners see each batch with its ids once
 * it is on disk. close() flushes everything: a clean stop loses nothing.
 *
 * Each batch also feeds the full-text index (host and URL) and adds to the
 * per-minute and per-hour aggregates (log_agg) in the same transaction, so the
 * statistics always agree with the rows on disk. A batch runs on the caller's
 * thread, so it is cut into slices of at most `sliceMs`: a burst of rows is
 * written in several short transactions with the event loop free in between,
 * and the proxies never wait long for the log.
 */
import type { LogRow } from '../contract/index.js';
import { rowSearchText } from '../contract/log-filter.js';
import type { Db } from './db.js';

type NewRow = Omit<LogRow, 'id'>;

export interface LogWriterOptions {
  delayMs?: number;
  maxBatch?: number;
  /** longest a timer-driven slice may hold the thread before the rest waits for the next turn (ms) */
  sliceMs?: number;
  onError?: (err: unknown) => void;
}

/** Aggregate dimensions (log_agg.dim) and resolutions (log_agg.res, ms). */
export const AGG_DIM = { all: 0, client: 1, user: 2, host: 3, service: 4 } as const;
export const AGG_MINUTE = 60_000;
export const AGG_HOUR = 3_600_000;

type Agg = [dim: number, bucket: number, key: string, requests: number, denied: number, errors: number, up: number, down: number, dur: number];

function addAgg(map: Map<string, Agg>, dim: number, bucket: number, key: string, r: NewRow, n = 1): Agg {
  const k = `${dim}\u0000${bucket}\u0000${key}`;
  let a = map.get(k);
  if (!a) map.set(k, (a = [dim, bucket, key, 0, 0, 0, 0, 0, 0]));
  a[3] += n;
  if (!r.allowed) a[4]++;
  if (r.error) a[5]++;
  a[6] += r.bytesUp;
  a[7] += r.bytesDown;
  a[8] += r.durationMs;
  return a;
}

/** Per-minute aggregates of some rows, and the per-hour ones summed from them. */
export function aggregate(rows: readonly NewRow[]): { minute: Agg[]; hour: Agg[] } {
  const minute = new Map<string, Agg>();
  for (const r of rows) {
    const b = r.ts - (r.ts % AGG_MINUTE);
    addAgg(minute, AGG_DIM.all, b, '', r);
    addAgg(minute, AGG_DIM.client, b, r.clientAddr, r);
    if (r.user) addAgg(minute, AGG_DIM.user, b, r.user, r);
    addAgg(minute, AGG_DIM.host, b, r.host, r);
    addAgg(minute, AGG_DIM.service, b, r.service, r);
  }
  const hour = new Map<string, Agg>();
  for (const a of minute.values()) {
    const b = a[1] - (a[1] % AGG_HOUR);
    const k = `${a[0]}\u0000${b}\u0000${a[2]}`;
    const h = hour.get(k);
    if (!h) hour.set(k, [a[0], b, a[2], a[3], a[4], a[5], a[6], a[7], a[8]]);
    else for (let i = 3; i < 9; i++) (h[i] as number) += a[i] as number;
  }
  return { minute: [...minute.values()], hour: [...hour.values()] };
}

/**
 * Parameters per row. (Several rows per INSERT statement was tried: quicker on uniform rows in
 * isolation, but half the speed in the log benchmark's varied rows on a growing table.)
 */
const ROW_PARAMS = 18;

function bindRow(p: unknown[], o: number, r: NewRow): void {
  p[o] = r.ts;
  p[o + 1] = r.service;
  p[o + 2] = r.clientAddr;
  p[o + 3] = r.clientPort;
  p[o + 4] = r.user;
  p[o + 5] = r.method;
  p[o + 6] = r.url;
  p[o + 7] = r.host;
  p[o + 8] = r.port;
  p[o + 9] = r.status;
  p[o + 10] = r.bytesUp;
  p[o + 11] = r.bytesDown;
  p[o + 12] = r.packetsUp;
  p[o + 13] = r.packetsDown;
  p[o + 14] = r.durationMs;
  p[o + 15] = r.allowed ? 1 : 0;
  p[o + 16] = r.rule;
  p[o + 17] = r.error;
}

/** The row with its id, as a fresh object of one fixed shape (a spread costs several times more). */
export function withId(r: NewRow, id: number): LogRow {
  return {
    id,
    ts: r.ts,
    service: r.service,
    clientAddr: r.clientAddr,
    clientPort: r.clientPort,
    user: r.user,
    method: r.method,
    url: r.url,
    host: r.host,
    port: r.port,
    status: r.status,
    bytesUp: r.bytesUp,
    bytesDown: r.bytesDown,
    packetsUp: r.packetsUp,
    packetsDown: r.packetsDown,
    durationMs: r.durationMs,
    allowed: r.allowed,
    rule: r.rule,
    error: r.error,
  };
}

export class LogWriter {
  private queue: NewRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private readonly listeners = new Set<(rows: LogRow[]) => void>();
  private readonly insert;
  private readonly insertFts;
  private readonly upsertAgg;
  private readonly writeTx;
  private readonly delayMs: number;
  private readonly maxBatch: number;
  private readonly sliceMs: number;
  private closed = false;
  written = 0;
  /** transactions committed, and the longest one (ms): the bench reads these */
  batches = 0;
  maxBatchMs = 0;

  constructor(
    private readonly db: Db,
    private readonly opts: LogWriterOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? 200;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.sliceMs = opts.sliceMs ?? 8;
    const COLS = `INSERT INTO log (ts, service, client_addr, client_port, user, method, url, host, port, status,
        bytes_up, bytes_down, packets_up, packets_down, duration_ms, allowed, rule, error) VALUES `;
    const one = `(${new Array(ROW_PARAMS).fill('?').join(', ')})`;
    this.insert = db.prepare(COLS + one);
    this.insertFts = db.prepare('INSERT INTO log_fts (rowid, text) VALUES (?, ?)');
    this.upsertAgg = db.prepare(
      `INSERT INTO log_agg (res, dim, bucket, key, requests, denied, errors, bytes_up, bytes_down, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (res, dim, bucket, key) DO UPDATE SET
         requests = requests + excluded.requests, denied = denied + excluded.denied, errors = errors + excluded.errors,
         bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down,
         duration_ms = duration_ms + excluded.duration_ms`,
    );
    // one parameter array, filled in place for every row
    const params: unknown[] = new Array(ROW_PARAMS);
    // writes queue[0..n) or fewer when the deadline passes; returns the rows with their ids
    this.writeTx = db.transaction((rows: NewRow[], n: number, deadline: number): LogRow[] => {
      const out: LogRow[] = [];
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        bindRow(params, 0, r);
        const id = Number(this.insert.run(params).lastInsertRowid);
        this.insertFts.run(id, rowSearchText(r.host, r.url));
        out.push(withId(r, id));
        if ((i & 31) === 31 && performance.now() > deadline) break;
      }
      const { minute, hour } = aggregate(out);
      for (const a of minute) this.upsertAgg.run(AGG_MINUTE, ...a);
      for (const a of hour) this.upsertAgg.run(AGG_HOUR, ...a);
      return out;
    });
  }

  push(row: NewRow): void {
    if (this.closed) return;
    this.queue.push(row);
    if (this.queue.length >= this.maxBatch) {
      this.writeSlice(performance.now() + this.sliceMs);
    } else if (!this.timer && !this.immediate) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.writeSlice(performance.now() + this.sliceMs);
      }, this.delayMs);
      this.timer.unref();
    }
  }

  onRows(listener: (rows: LogRow[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Writes every queued row now (several transactions when there are many). */
  flush(): void {
    this.clearTimers();
    while (this.queue.length > 0) {
      if (!this.writeOnce(Infinity)) return;
    }
  }

  close(): void {
    this.flush();
    this.closed = true;
    this.clearTimers();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  /** One slice; what is left is written on the next turn of the event loop. */
  private writeSlice(deadline: number): void {
    this.clearTimers();
    if (!this.writeOnce(deadline)) return;
    if (this.queue.length > 0 && !this.closed) {
      this.immediate = setImmediate(() => {
        this.immediate = null;
        this.writeSlice(performance.now() + this.sliceMs);
      });
    }
  }

  /** Writes up to maxBatch rows in one transaction; false when the database refused. */
  private writeOnce(deadline: number): boolean {
    if (this.queue.length === 0) return true;
    const t0 = performance.now();
    let written: LogRow[];
    try {
      written = this.writeTx(this.queue, Math.min(this.queue.length, this.maxBatch), deadline);
    } catch (err) {
      // the database is busy or failing: keep the rows and try again later
      this.opts.onError?.(err);
      if (!this.closed && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.writeSlice(performance.now() + this.sliceMs);
        }, Math.max(this.delayMs, 1000));
        this.timer.unref();
      }
      return false;
    }
    const ms = performance.now() - t0;
    this.batches++;
    if (ms > this.maxBatchMs) this.maxBatchMs = ms;
    this.queue = written.length === this.queue.length ? [] : this.queue.slice(written.length);
    this.written += written.length;
    for (const l of this.listeners) {
      try {
        l(written);
      } catch (err) {
        // a broken listener must not stop the others, nor the writer
        this.opts.onError?.(err);
      }
    }
    return true;
  }
}

export interface DbRow {
  id: number;
  ts: number;
  service: string;
  client_addr: string;
  client_port: number;
  user: string;
  method: string;
  url: string;
  host: string;
  port: number;
  status: number;
  bytes_up: number;
  bytes_down: number;
  packets_up: number;
  packets_down: number;
  duration_ms: number;
  allowed: number;
  rule: string;
  error: string;
}

export function toLogRow(r: DbRow): LogRow {
  return {
    id: r.id,
    ts: r.ts,
    service: r.service,
    clientAddr: r.client_addr,
    clientPort: r.client_port,
    user: r.user,
    method: r.method,
    url: r.url,
    host: r.host,
    port: r.port,
    status: r.status,
    bytesUp: r.bytes_up,
    bytesDown: r.bytes_down,
    packetsUp: r.packets_up,
    packetsDown: r.packets_down,
    durationMs: r.duration_ms,
    allowed: r.allowed === 1,
    rule: r.rule,
    error: r.error,
  };
}

/** Newest rows first (or, with afterId, the rows after it, oldest first). */
export function recentLog(db: Db, limit: number, afterId?: number): LogRow[] {
  if (afterId !== undefined) {
    return db
      .prepare<[number, number], DbRow>('SELECT * FROM log WHERE id > ? ORDER BY id ASC LIMIT ?')
      .all(afterId, limit)
      .map(toLogRow);
  }
  return db.prepare<[number], DbRow>('SELECT * FROM log ORDER BY id DESC LIMIT ?').all(limit).map(toLogRow);
}
