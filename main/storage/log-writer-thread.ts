/**
 * The proxies' side of the log writer: rows queue here and go, a batch at a
 * time (at most `delayMs` after the first, or at once when a batch is full),
 * to the writing thread (log-writer-worker.ts), which inserts them and sends
 * back their ids; listeners then get the rows with ids, in order, as with
 * LogWriter. The proxies' thread only copies rows into a message, so logging
 * at full speed never stalls it.
 *
 * close() sends what is queued and waits until the thread has written it and
 * closed its connection: a clean stop loses nothing. After a kill, at most the
 * rows not yet written are lost (the last batch or two). Until the thread is
 * up (a moment after start), and for good if it cannot start or dies, rows are
 * written by a LogWriter on the caller's connection, so none waits for it.
 *
 * When writes fail (a full disk), rows are held and retried with a backoff, the
 * logger hears it once (with the cause) and once more when writes resume,
 * `paused` says so for the dashboard ("log paused: disk full", rows waiting),
 * and the proxies are not slowed for it: `pending` (the congestion brake) leaves
 * held rows out, and past `holdMax` held rows new ones are dropped and counted.
 * close(graceMs) ends within its grace even then, and says how many rows it
 * wrote and how many it could not.
 */
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { LogRow } from '../contract/index.js';
import { ROW_INDEX } from '../contract/log-row.js';
import type { Logger } from '../logger.js';
import { DB_FILE, storageFailureReason, type Db } from './db.js';
import { LogWriter, fromTuple, toTuple, type RowTuple } from './log-writer.js';
import type { RetentionLimits } from './log-retention.js';
import type { FromWriter, ToWriter, WriterWorkerData } from './log-writer-worker.js';
import { spawnWorker } from './spawn-worker.js';

type NewRow = Omit<LogRow, 'id'>;

interface SentBatch {
  json: string;
  n: number;
  rows: RowTuple[] | null;
}

/** Rows are handed to the thread this often at most (ms), or at once when a batch is full. */
const SEND_MS = 50;
/**
 * A batch is full at 512 rows or at about 64 KiB of JSON, whichever comes first. Past about
 * 128 KiB a message costs many times more per byte to post (160 KiB: about 700 µs; 60 KiB:
 * about 40 µs), so rows that carry long URLs go in smaller batches.
 */
const SEND_BYTES = 64 * 1024;
const SEND_ROWS = 512;
/** JSON characters of a tuple beyond its strings (numbers, quotes, commas), rounded up */
const TUPLE_JSON_FIXED = 120;

/** About how many characters a tuple takes as JSON (its strings as they are: URLs seldom need escapes). */
function jsonSize(t: RowTuple): number {
  const I = ROW_INDEX;
  return TUPLE_JSON_FIXED + t[I.service].length + t[I.clientAddr].length + t[I.user].length + t[I.method].length + t[I.url].length + t[I.host].length + t[I.rule].length + t[I.error].length;
}

/** Rows held in memory while writes are paused before new ones are dropped (and counted as lost). */
export const HOLD_MAX = 50_000;
/** close() without a grace period: how long it may wait for the disk (ms) */
export const CLOSE_GRACE_MS = 10_000;

export interface ThreadedLogWriterOptions {
  dataDir: string;
  /** the caller's connection: used to fall back on when the thread fails */
  db: Db;
  limits: RetentionLimits;
  delayMs?: number;
  maxBatch?: number;
  pruneEveryMs?: number;
  /** see HOLD_MAX */
  holdMax?: number;
  /**
   * Told once when writes start failing (warn, with the cause) and once when they resume
   * (info: "log writes resumed; N rows written late"). Without it, the failure goes to
   * onError, once per condition.
   */
  logger?: Logger;
  /** failures other than writes failing (the thread dying, pruning, a listener throwing) */
  onError?: (err: unknown) => void;
}

/** Writes are failing since `since` for `reason` ("disk full"); `waiting` rows are held for them. */
export interface LogPause {
  since: number;
  reason: string;
  waiting: number;
}

/** Told when writes pause (a pause) or resume (null, with how many rows were written late). */
export type PauseListener = (paused: LogPause | null, resumed?: { late: number }) => void;

export interface LogWriterClosed {
  /** rows written over the writer's life */
  written: number;
  /** rows pushed that were never written: dropped past holdMax, unwritten at the end of the grace, pushed after close */
  lost: number;
}

function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

export class ThreadedLogWriter {
  private queue: RowTuple[] = [];
  /** jsonSize of the queued rows */
  private queuedSize = 0;
  /**
   * Batches sent to the thread, waiting for their ids, oldest first. Each is kept as the JSON
   * text that was sent: one string per batch instead of hundreds of arrays that would live
   * long enough (the writer runs at low priority) to be copied by every scavenge and promoted.
   * It is parsed again only when a listener wants the rows, or the thread failed.
   */
  private sent: SentBatch[] = [];
  private sentHead = 0;
  /** rows of sent[sentHead] already acknowledged */
  private sentOffset = 0;
  /** rows sent and not yet acknowledged */
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(rows: LogRow[]) => void>();
  /** listeners that only sometimes want rows (see onRows) */
  private readonly wanted = new Map<(rows: LogRow[]) => void, () => boolean>();
  private worker: Worker | null;
  /** writes on the caller's connection: while the thread starts, or after it failed */
  private fallback: LogWriter | null = null;
  private failed = false;
  private readonly ready: Promise<void>;
  private markReady: () => void = () => {};
  private closed = false;
  private closing: Promise<LogWriterClosed> | null = null;
  private seq = 0;
  private readonly waiters = new Map<number, () => void>();
  private readonly delayMs: number;
  private readonly maxBatch: number;
  private readonly holdMax: number;
  /** writes failing, as the thread (or the fallback writer) last said */
  private pause: { since: number; reason: string } | null = null;
  /** who saw the failure, so who can tell that it is over */
  private pauseSource: 'thread' | 'fallback' = 'thread';
  /** rows written while paused (fallback writer) */
  private lateRows = 0;
  private readonly pauseListeners = new Set<PauseListener>();
  written = 0;
  pruned = 0;
  /** rows that will never be written (see LogWriterClosed.lost) */
  lost = 0;

  constructor(private readonly opts: ThreadedLogWriterOptions) {
    this.delayMs = opts.delayMs ?? 200;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.holdMax = opts.holdMax ?? HOLD_MAX;
    const data: WriterWorkerData = { file: join(opts.dataDir, DB_FILE), limits: opts.limits, pruneEveryMs: opts.pruneEveryMs };
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.fallback = this.direct([]);
    let worker: Worker;
    try {
      worker = spawnWorker('log-writer-worker', data);
    } catch (err) {
      this.worker = null;
      this.fail(err);
      return;
    }
    this.worker = worker;
    worker.on('message', (m: FromWriter) => this.onMessage(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (this.worker === worker && !this.closing) this.fail(new Error(`the log writing thread stopped (exit code ${code})`));
    });
  }

  push(row: NewRow): void {
    this.pushTuple(toTuple(row));
  }

  pushTuple(row: RowTuple): void {
    if (this.closing || this.closed) {
      this.lost++;
      return;
    }
    if (this.pause && this.waiting() >= this.holdMax) {
      // memory is bounded while the disk is not there: the newest rows go, the held ones keep their order
      this.lost++;
      return;
    }
    if (this.fallback) {
      // a fallback writer that is failing retries its own rows; new ones wait here meanwhile
      if (this.pause && this.fallback.pending > 0) this.queue.push(row);
      else this.fallback.pushTuple(row);
      return;
    }
    const size = jsonSize(row);
    if (this.queue.length > 0 && this.queuedSize + size > SEND_BYTES) this.send();
    this.queue.push(row);
    this.queuedSize += size;
    if (this.queue.length >= Math.min(this.maxBatch, SEND_ROWS) || this.queuedSize >= SEND_BYTES) this.send();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.send(), Math.min(this.delayMs, SEND_MS));
      this.timer.unref();
    }
  }

  /** `listener` gets every written batch with ids; with `wanted`, only while it says so (others are skipped) */
  onRows(listener: (rows: LogRow[]) => void, wanted?: () => boolean): () => void {
    this.listeners.add(listener);
    if (wanted) this.wanted.set(listener, wanted);
    return () => {
      this.listeners.delete(listener);
      this.wanted.delete(listener);
    };
  }

  /**
   * Rows not yet on disk that the writer is working through: the congestion brake reads it.
   * 0 while writes are paused: a full disk is no reason to slow the proxies (the rows held
   * then are bounded by holdMax instead, and shown by `paused`).
   */
  get pending(): number {
    if (this.pause) return 0;
    return this.fallback ? this.fallback.pending + this.queue.length : this.queue.length + this.inFlight;
  }

  /** null while writes work; else since when and why they fail, and how many rows wait. */
  get paused(): LogPause | null {
    return this.pause ? { since: this.pause.since, reason: this.pause.reason, waiting: this.waiting() } : null;
  }

  /** `listener` is told when writes pause (or fail for a new reason) and when they resume. */
  onPausedChange(listener: PauseListener): () => void {
    this.pauseListeners.add(listener);
    return () => this.pauseListeners.delete(listener);
  }

  /** rows pushed and not yet on disk, held or in flight */
  private waiting(): number {
    return this.queue.length + this.inFlight + (this.fallback?.pending ?? 0);
  }

  setLimits(limits: RetentionLimits): void {
    this.post({ type: 'limits', limits });
  }

  /** Resolves once every row pushed so far is on disk, or writes are paused (see `paused`). */
  flush(): Promise<void> {
    if (this.closing || this.closed) return Promise.resolve();
    if (this.fallback) {
      this.fallback.flush();
      return Promise.resolve();
    }
    this.send();
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.waiters.set(seq, resolve);
      this.post({ type: 'flush', seq });
    });
  }

  /** Prunes to the limits now, as far as they say (tests, "prune now"). */
  async pruneNow(): Promise<number> {
    await Promise.race([this.ready, this.closedOrFailed]);
    if (this.failed || !this.worker) return 0;
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.waiters.set(seq, () => resolve(this.lastPruned));
      this.post({ type: 'prune', seq });
    });
  }
  private endWaiting: () => void = () => {};
  private readonly closedOrFailed = new Promise<void>((resolve) => (this.endWaiting = resolve));
  private lastPruned = 0;

  /**
   * Writes what is queued and stops the thread, within `graceMs` even when writes keep
   * failing; resolves with how many rows were written over the writer's life and how many
   * never will be.
   */
  close(graceMs = CLOSE_GRACE_MS): Promise<LogWriterClosed> {
    this.closing ??= (async () => {
      const deadline = performance.now() + graceMs;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      // rows taken while the thread started are written here first
      if (!this.failed && this.fallback) {
        this.handToFallback();
        this.fallback.flush();
      }
      const worker = this.worker;
      if (worker && !this.failed) {
        this.send();
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        const answered = new Promise<void>((resolve) => (this.closedWaiter = resolve));
        let saidClosed = false;
        void answered.then(() => (saidClosed = true));
        // the thread keeps a margin of the grace to close its connection and answer
        this.post({ type: 'close', graceMs: Math.max(0, graceMs - Math.min(500, graceMs / 4)) });
        // a thread that died meanwhile has handed its rows to the fallback
        const inTime = await within(Promise.race([answered, exited]), deadline - performance.now());
        if (!inTime || !(await within(exited, deadline - performance.now()))) void worker.terminate();
        if (!saidClosed && !this.failed) {
          // stopped without an answer: what it had not acknowledged is counted lost (some may be on disk)
          this.lost += this.inFlight + this.queue.length;
          this.takeSent(this.inFlight, false);
          this.queue = [];
        }
      }
      this.closed = true;
      if (this.fallback) {
        this.handToFallback();
        this.fallback.close();
        this.lost += this.fallback.pending;
      }
      this.endWaiting();
      return { written: this.written, lost: this.lost };
    })();
    return this.closing;
  }

  /** Rows held here while the fallback writer was failing go to it, in order. */
  private handToFallback(): void {
    if (!this.fallback || this.queue.length === 0) return;
    for (const t of this.queue) this.fallback.pushTuple(t);
    this.queue = [];
    this.queuedSize = 0;
  }

  /** Writes fail (the thread says so, or the fallback writer failed): tell once per reason. */
  private enterPause(reason: string, cause: string, since: number, source: 'thread' | 'fallback'): void {
    this.pauseSource = source;
    if (this.pause?.reason === reason) return;
    const first = !this.pause;
    this.pause = { since: this.pause?.since ?? since, reason };
    if (first) this.lateRows = 0;
    if (this.opts.logger) {
      this.opts.logger.warn(`log writes failing (${reason}); rows wait in memory (up to ${this.holdMax}) and are retried`, { err: cause });
    } else {
      this.opts.onError?.(new Error(cause));
    }
    this.tellPause(this.paused);
  }

  private leavePause(late: number): void {
    if (!this.pause) return;
    this.pause = null;
    this.opts.logger?.info(`log writes resumed; ${late} rows written late`);
    this.tellPause(null, { late });
  }

  private tellPause(p: LogPause | null, resumed?: { late: number }): void {
    for (const l of this.pauseListeners) {
      try {
        l(p, resumed);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
  }
  private closedWaiter: (() => void) | null = null;

  private post(m: ToWriter): void {
    this.worker?.postMessage(m);
  }

  private send(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length === 0) return;
    this.queuedSize = 0;
    if (this.fallback) {
      for (const t of this.queue) this.fallback.pushTuple(t);
      this.queue = [];
      return;
    }
    const rows = this.queue;
    this.queue = [];
    const json = JSON.stringify(rows);
    this.sent.push({ json, n: rows.length, rows: null });
    this.inFlight += rows.length;
    this.post({ type: 'rows', json });
  }

  /** Takes the next `n` acknowledged rows off `sent`; with `want`, returns them (parsed again). */
  private takeSent(n: number, want: boolean): RowTuple[] {
    const out: RowTuple[] = [];
    while (n > 0 && this.sentHead < this.sent.length) {
      const b = this.sent[this.sentHead]!;
      const k = Math.min(n, b.n - this.sentOffset);
      if (want) {
        b.rows ??= JSON.parse(b.json) as RowTuple[];
        for (let i = 0; i < k; i++) out.push(b.rows[this.sentOffset + i]!);
      }
      this.sentOffset += k;
      this.inFlight -= k;
      n -= k;
      if (this.sentOffset === b.n) {
        this.sentHead++;
        this.sentOffset = 0;
      }
    }
    if (this.sentHead > 64 && this.sentHead * 2 > this.sent.length) {
      this.sent = this.sent.slice(this.sentHead);
      this.sentHead = 0;
    }
    return out;
  }

  private onMessage(m: FromWriter): void {
    switch (m.type) {
      case 'written': {
        const want = this.wantsRows();
        const rows = this.takeSent(m.ids.length, want);
        this.written += m.ids.length;
        if (this.pause) this.lateRows += m.ids.length;
        // the boot writer's failure: the thread writes, so it is over
        if (this.pause && this.pauseSource === 'fallback') this.leavePause(this.lateRows);
        if (want) {
          const out: LogRow[] = new Array(rows.length);
          for (let i = 0; i < rows.length; i++) out[i] = fromTuple(rows[i]!, m.ids[i]!);
          this.emit(out);
        }
        break;
      }
      case 'flushed':
        this.waiters.get(m.seq)?.();
        this.waiters.delete(m.seq);
        break;
      case 'pruned':
        this.pruned += m.deleted;
        if (m.seq !== undefined) {
          this.lastPruned = m.deleted;
          this.waiters.get(m.seq)?.();
          this.waiters.delete(m.seq);
        }
        break;
      case 'error':
        this.opts.onError?.(new Error(m.message));
        break;
      case 'paused':
        this.enterPause(m.reason, m.cause, m.since, 'thread');
        break;
      case 'resumed':
        this.leavePause(m.late);
        break;
      case 'closed':
        this.lost += m.lost;
        this.takeSent(m.lost, false);
        this.closedWaiter?.();
        break;
      case 'ready':
        if (this.failed || this.closing) break;
        {
          // from now on the thread writes: what was taken meanwhile goes to disk here first, in order
          const boot = this.fallback;
          this.fallback = null;
          boot?.close();
          // rows the boot writer could not write (a full disk at start) are not recovered from it;
          // those held while it failed go to the thread
          if (boot) this.lost += boot.pending;
          if (this.queue.length > 0) this.send();
          // the thread checkpoints the WAL (waiting for the disk there); this connection no longer does
          this.opts.db.pragma('wal_autocheckpoint = 0');
          this.markReady();
        }
        break;
    }
  }

  /** whether any listener wants rows now (rebuilding them from the sent JSON costs time) */
  private wantsRows(): boolean {
    for (const l of this.listeners) {
      const w = this.wanted.get(l);
      if (!w || w()) return true;
    }
    return false;
  }

  private emit(rows: LogRow[]): void {
    for (const l of this.listeners) {
      try {
        l(rows);
      } catch (err) {
        // a broken listener must not stop the others, nor the writer
        this.opts.onError?.(err);
      }
    }
  }

  /** The thread failed: write on the caller's connection from now on, unwritten rows first. */
  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.opts.onError?.(err);
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
    if (!this.closed) this.opts.db.pragma('wal_autocheckpoint = 1000');
    // a pause the thread saw ends when the fallback writes
    this.pauseSource = 'fallback';
    const unwritten = this.takeSent(this.inFlight, true).concat(this.queue);
    this.sent = [];
    this.sentHead = 0;
    this.sentOffset = 0;
    this.inFlight = 0;
    this.queue = [];
    this.queuedSize = 0;
    if (this.fallback) for (const t of unwritten) this.fallback.pushTuple(t);
    else this.fallback = this.direct(unwritten);
    for (const [, resolve] of this.waiters) resolve();
    this.waiters.clear();
    this.closedWaiter?.();
    this.endWaiting();
  }

  /** A LogWriter on the caller's connection that tells our listeners, with `rows` queued first. */
  private direct(rows: RowTuple[]): LogWriter {
    const w: LogWriter = new LogWriter(this.opts.db, {
      delayMs: this.delayMs,
      // only writes fail here (the listener below catches its own); it retries by itself, every
      // second, and the failure is told once, as the thread's are
      onError: (err) => this.enterPause(storageFailureReason(err), String((err as Error)?.message ?? err), Date.now(), 'fallback'),
    });
    w.onRows((written) => {
      this.written += written.length;
      if (this.pause) {
        this.lateRows += written.length;
        if (w.pending === 0 && this.pauseSource === 'fallback') {
          this.leavePause(this.lateRows);
          if (this.fallback === w) this.handToFallback();
        }
      }
      this.emit(written);
    });
    for (const t of rows) w.pushTuple(t);
    return w;
  }
}
