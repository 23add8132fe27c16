/**
 * Writes request-log rows in batches: rows queue in memory and are inserted in
 * one transaction per batch, at most `delayMs` after the first queued row (or
 * at once when `maxBatch` rows wait). Listeners see each batch with its ids once
 * it is on disk. close() flushes everything: a clean stop loses nothing.
 */
import type { LogRow } from '../contract/index.js';
import type { Db } from './db.js';

type NewRow = Omit<LogRow, 'id'>;

export interface LogWriterOptions {
  delayMs?: number;
  maxBatch?: number;
  onError?: (err: unknown) => void;
}

export class LogWriter {
  private queue: NewRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(rows: LogRow[]) => void>();
  private readonly insert;
  private readonly delayMs: number;
  private readonly maxBatch: number;
  private closed = false;
  written = 0;

  constructor(
    private readonly db: Db,
    private readonly opts: LogWriterOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? 200;
    this.maxBatch = opts.maxBatch ?? 2000;
    this.insert = db.prepare(
      `INSERT INTO log (ts, service, client_addr, client_port, user, method, url, host, port, status,
        bytes_up, bytes_down, packets_up, packets_down, duration_ms, allowed, rule, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  push(row: NewRow): void {
    if (this.closed) return;
    this.queue.push(row);
    if (this.queue.length >= this.maxBatch) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.delayMs);
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

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    let written: LogRow[];
    try {
      written = this.db.transaction((rows: NewRow[]) => {
        const out: LogRow[] = [];
        for (const r of rows) {
          const info = this.insert.run(
            r.ts, r.service, r.clientAddr, r.clientPort, r.user, r.method, r.url, r.host, r.port, r.status,
            r.bytesUp, r.bytesDown, r.packetsUp, r.packetsDown, r.durationMs, r.allowed ? 1 : 0, r.rule, r.error,
          );
          out.push({ ...r, id: Number(info.lastInsertRowid) });
        }
        return out;
      })(batch);
    } catch (err) {
      // the database is busy or failing: keep the rows and try again later
      this.queue = batch.concat(this.queue);
      this.opts.onError?.(err);
      if (!this.closed && !this.timer) {
        this.timer = setTimeout(() => this.flush(), Math.max(this.delayMs, 1000));
        this.timer.unref();
      }
      return;
    }
    this.written += written.length;
    for (const l of this.listeners) {
      try {
        l(written);
      } catch (err) {
        // a broken listener must not stop the others, nor the writer
        this.opts.onError?.(err);
      }
    }
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}

interface DbRow {
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
