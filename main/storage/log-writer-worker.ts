/**
 * The log's writing thread: owns the one connection that writes log rows, so
 * inserts (with their full-text index and aggregates), pruning and WAL
 * checkpoints (which wait for the disk) never run on the proxies' thread.
 * Messages in: rows, flush, limits, close. Messages out: the ids of written
 * rows (in the order the rows came), flushed, pruned counts, errors, closed.
 * See ThreadedLogWriter (log-writer-thread.ts) for the other side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import Database from 'better-sqlite3';
import { LogWriter, type RowTuple } from './log-writer.js';
import { pruneStep, type RetentionLimits } from './log-retention.js';

export interface WriterWorkerData {
  file: string;
  limits: RetentionLimits;
  /** how often to look at the retention limits, ms */
  pruneEveryMs?: number;
  /** WAL size past which this thread checkpoints by itself (bytes) */
  walGuardBytes?: number;
}

export type ToWriter =
  /** a batch of rows as JSON, an array of RowTuple: one string crosses threads cheaper than hundreds of objects */
  | { type: 'rows'; json: string }
  | { type: 'flush'; seq: number }
  | { type: 'limits'; limits: RetentionLimits }
  | { type: 'prune'; seq: number }
  | { type: 'close' };

export type FromWriter =
  | { type: 'ready' }
  | { type: 'written'; ids: Float64Array }
  | { type: 'flushed'; seq: number }
  | { type: 'pruned'; deleted: number; seq?: number }
  | { type: 'error'; message: string }
  | { type: 'closed' };

const port = parentPort!;
const data = workerData as WriterWorkerData;
const post = (m: FromWriter) => port.postMessage(m);

/**
 * Writing the log is background work: on Linux this thread yields the CPU to the proxies
 * (nice 10) while both want it, and catches up whenever they wait on the network. Rows
 * never wait on it: they queue in memory (see log-writer-thread.ts).
 */
function lowerPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (tid > 0) setPriority(tid, 10);
  } catch {
    // not allowed or not available: run at normal priority
  }
}
lowerPriority();

const db = new Database(data.file);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
// a bigger cache: the log's indexes are many; checkpoints run here, not on the proxies' thread
db.pragma('cache_size = -65536');
db.pragma('journal_size_limit = 67108864');
// the reading thread checkpoints (PASSIVE, beside this thread's writes); while rows come faster
// than it copies them, the WAL grows, so past WAL_GUARD this thread copies it up itself. PASSIVE
// again: it only pauses this thread's own writing, never another connection's (a FULL, RESTART
// or TRUNCATE checkpoint would hold every writer, a settings save included, for seconds). Once
// all of it is copied, the next write starts the WAL over and journal_size_limit shrinks the file.
db.pragma('wal_autocheckpoint = 0');
const WAL_GUARD = data.walGuardBytes ?? 128 * 1024 * 1024;
const walGuard = setInterval(() => {
  try {
    if (statSync(`${data.file}-wal`).size > WAL_GUARD) db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // no WAL file yet, or busy: look again later
  }
}, 2000);

// big transactions: a commit rewrites every page it touched (a leaf of each index, the
// FTS segment, the aggregates), so rows per commit is what keeps the WAL, and the
// checkpoints after it, small per row; latency matters little on this thread
const writer = new LogWriter(db, {
  delayMs: 100,
  maxBatch: 4000,
  sliceMs: 60_000,
  onError: (err) => post({ type: 'error', message: String((err as Error)?.message ?? err) }),
});
// the ids are copied into the message, not transferred: every onWritten listener gets the same array
writer.onWritten((ids) => post({ type: 'written', ids }));

let limits = data.limits;
let pruneBatch = 500;
let pruneTimer: NodeJS.Timeout | null = null;
const pruneEvery = data.pruneEveryMs ?? 2000;

/** One step, sized so it holds the write lock for about 20 ms; soon again while behind. */
function prune(): number {
  const t0 = performance.now();
  let deleted = 0;
  try {
    const r = pruneStep(db, limits, Date.now(), pruneBatch);
    deleted = r.deleted;
    const ms = performance.now() - t0;
    if (r.more && ms < 10) pruneBatch = Math.min(20_000, pruneBatch * 2);
    else if (ms > 30) pruneBatch = Math.max(50, Math.floor(pruneBatch / 2));
    schedulePrune(r.more ? 20 : pruneEvery);
  } catch (err) {
    post({ type: 'error', message: `pruning the log failed: ${String((err as Error)?.message ?? err)}` });
    schedulePrune(pruneEvery * 5);
  }
  if (deleted > 0) post({ type: 'pruned', deleted });
  return deleted;
}

function schedulePrune(ms: number): void {
  if (pruneTimer) clearTimeout(pruneTimer);
  pruneTimer = setTimeout(prune, ms);
}

port.on('message', (m: ToWriter) => {
  switch (m.type) {
    case 'rows':
      for (const t of JSON.parse(m.json) as RowTuple[]) writer.pushTuple(t);
      break;
    case 'flush':
      writer.flush();
      post({ type: 'flushed', seq: m.seq });
      break;
    case 'limits':
      limits = m.limits;
      schedulePrune(0);
      break;
    case 'prune': {
      let deleted = 0;
      for (let i = 0; i < 10_000; i++) {
        const r = pruneStep(db, limits, Date.now(), 5000);
        deleted += r.deleted;
        if (!r.more) break;
      }
      post({ type: 'pruned', deleted, seq: m.seq });
      break;
    }
    case 'close':
      if (pruneTimer) clearTimeout(pruneTimer);
      clearInterval(walGuard);
      clearInterval(optimizeTimer);
      writer.close();
      db.close();
      post({ type: 'closed' });
      port.close();
      break;
  }
});

schedulePrune(Math.min(pruneEvery, 1000));
// fresh planner statistics now and then (bounded work: analysis_limit)
const optimize = () => {
  try {
    db.pragma('analysis_limit = 1000');
    db.pragma('optimize');
  } catch {
    // busy: next time
  }
};
const optimizeTimer = setInterval(optimize, 3_600_000);
optimizeTimer.unref();
setTimeout(optimize, 30_000).unref();
post({ type: 'ready' });
