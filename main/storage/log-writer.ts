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
import { LOG_FIELDS, ROW_INDEX, fromTuple, toTuple, type LogRow, type RowTuple } from '../contract/log-row.js';
import { rowSearchText } from '../contract/log-filter.js';
import type { Db } from './db.js';

// the tuple form of a row is the contract's (the recorder builds it); these names stay importable here
export { fromTuple, toTuple, type RowTuple } from '../contract/log-row.js';

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

/** The log table's columns in tuple order: the INSERT binds a RowTuple to them as it is. */
export const LOG_COLUMNS = LOG_FIELDS.map((f) => f.column).join(', ');

/** A SELECT list that reads a row as its tuple followed by its id: read it with `.raw()` and rowOf. */
export const ROW_SELECT = `${LOG_COLUMNS}, id`;

/** A row read raw with ROW_SELECT, as a LogRow. */
export function rowOf(raw: unknown[]): LogRow {
  return fromTuple(raw as unknown as RowTuple, raw[LOG_FIELDS.length] as number);
}

const I = ROW_INDEX;

function addAgg(map: Map<string, Agg>, dim: number, bucket: number, key: string, t: RowTuple): void {
  const k = `${dim}\u0000${bucket}\u0000${key}`;
  let a = map.get(k);
  if (!a) map.set(k, (a = [dim, bucket, key, 0, 0, 0, 0, 0, 0]));
  a[3]++;
  if (t[I.allowed] === 0) a[4]++;
  if (t[I.error]) a[5]++;
  a[6] += t[I.bytesUp];
  a[7] += t[I.bytesDown];
  a[8] += t[I.durationMs];
}

/** Per-minute aggregates of some rows, and the per-hour ones summed from them. */
export function aggregate(rows: readonly RowTuple[], n = rows.length): { minute: Agg[]; hour: Agg[] } {
  const minute = new Map<string, Agg>();
  for (let i = 0; i < n; i++) {
    const t = rows[i]!;
    const b = t[I.ts] - (t[I.ts] % AGG_MINUTE);
    addAgg(minute, AGG_DIM.all, b, '', t);
    addAgg(minute, AGG_DIM.client, b, t[I.clientAddr], t);
    if (t[I.user]) addAgg(minute, AGG_DIM.user, b, t[I.user], t);
    addAgg(minute, AGG_DIM.host, b, t[I.host], t);
    addAgg(minute, AGG_DIM.service, b, t[I.service], t);
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

/** Rows just written: their ids, in the order of `rows` (only the first `ids.length` of it were written). */
export type WrittenListener = (ids: Float64Array, rows: readonly Readonly<RowTuple>[]) => void;

export class LogWriter {
  private queue: RowTuple[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private readonly listeners = new Set<WrittenListener>();
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
    db: Db,
    private readonly opts: LogWriterOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? 200;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.sliceMs = opts.sliceMs ?? 8;
    // one row per statement: several rows per INSERT was tried, quicker on uniform rows in
    // isolation, but half the speed in the log benchmark's varied rows on a growing table
    this.insert = db.prepare(`INSERT INTO log (${LOG_COLUMNS}) VALUES (${LOG_FIELDS.map(() => '?').join(', ')})`);
    this.insertFts = db.prepare('INSERT INTO log_fts (rowid, text) VALUES (?, ?)');
    this.upsertAgg = db.prepare(
      `INSERT INTO log_agg (res, dim, bucket, key, requests, denied, errors, bytes_up, bytes_down, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (res, dim, bucket, key) DO UPDATE SET
         requests = requests + excluded.requests, denied = denied + excluded.denied, errors = errors + excluded.errors,
         bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down,
         duration_ms = duration_ms + excluded.duration_ms`,
    );
    // writes queue[0..n), or fewer when the deadline passes; returns the ids of the rows written
    this.writeTx = db.transaction((rows: RowTuple[], n: number, deadline: number): Float64Array => {
      const ids = new Float64Array(n);
      let i = 0;
      while (i < n) {
        const t = rows[i]!;
        const id = Number(this.insert.run(t).lastInsertRowid);
        this.insertFts.run(id, rowSearchText(t[I.host], t[I.url]));
        ids[i++] = id;
        if ((i & 31) === 0 && performance.now() > deadline) break;
      }
      const { minute, hour } = aggregate(rows, i);
      for (const a of minute) this.upsertAgg.run(AGG_MINUTE, ...a);
      for (const a of hour) this.upsertAgg.run(AGG_HOUR, ...a);
      return i === n ? ids : ids.subarray(0, i);
    });
  }

  push(row: NewRow): void {
    this.pushTuple(toTuple(row));
  }

  pushTuple(row: RowTuple): void {
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

  /** `listener` gets every batch once it is on disk, as rows with their ids */
  onRows(listener: (rows: LogRow[]) => void): () => void {
    return this.onWritten((ids, rows) => {
      const out: LogRow[] = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) out[i] = fromTuple(rows[i]!, ids[i]!);
      listener(out);
    });
  }

  /** `listener` gets every batch once it is on disk, as ids beside the tuples (no objects made) */
  onWritten(listener: WrittenListener): () => void {
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
    const rows = this.queue;
    let ids: Float64Array;
    try {
      ids = this.writeTx(rows, Math.min(rows.length, this.maxBatch), deadline);
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
    this.queue = ids.length === rows.length ? [] : rows.slice(ids.length);
    this.written += ids.length;
    for (const l of this.listeners) {
      try {
        l(ids, rows);
      } catch (err) {
        // a broken listener must not stop the others, nor the writer
        this.opts.onError?.(err);
      }
    }
    return true;
  }
}

/** Newest rows first (or, with afterId, the rows after it, oldest first). */
export function recentLog(db: Db, limit: number, afterId?: number): LogRow[] {
  if (afterId !== undefined) {
    return db
      .prepare<[number, number], unknown[]>(`SELECT ${ROW_SELECT} FROM log WHERE id > ? ORDER BY id ASC LIMIT ?`)
      .raw()
      .all(afterId, limit)
      .map(rowOf);
  }
  return db.prepare<[number], unknown[]>(`SELECT ${ROW_SELECT} FROM log ORDER BY id DESC LIMIT ?`).raw().all(limit).map(rowOf);
}
