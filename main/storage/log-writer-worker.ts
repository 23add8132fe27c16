/**
 * The log's writing thread: owns the one connection that writes log rows, so
 * inserts (with their full-text index and aggregates), pruning and WAL
 * checkpoints (which wait for the disk) never run on the proxies' thread.
 * Messages in: rows, flush, limits, prune, close. Messages out: the ids of
 * written rows (in the order the rows came), flushed, pruned counts, errors,
 * paused / resumed, closed. See ThreadedLogWriter (log-writer-thread.ts) for
 * the other side.
 *
 * Also owns what happens when writes fail (a full disk, a read-only or failing
 * one): the rows stay held here, in order, and are retried with a backoff
 * (100 ms doubling to 5 s), not on every message; the other side hears once
 * that writes are paused, with the reason, and once that they resumed, with
 * how many rows were written late. close() gives up after its grace period and
 * says how many rows it could not write.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import Database from 'better-sqlite3';
import { LogWriter, type RowTuple } from './log-writer.js';
import { pruneStep, type RetentionLimits } from './log-retention.js';
import { storageFailureReason } from './db.js';

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
  /** write what is held, retrying for at most graceMs, then close; answered by closed */
  | { type: 'close'; graceMs: number };

export type FromWriter =
  | { type: 'ready' }
  | { type: 'written'; ids: Float64Array }
  | { type: 'flushed'; seq: number }
  | { type: 'pruned'; deleted: number; seq?: number }
  | { type: 'error'; message: string }
  /** writes fail (first time, or for a new reason): rows are held and retried */
  | { type: 'paused'; since: number; reason: string; cause: string }
  /** every held row is written again; `late` rows went to disk after waiting for it */
  | { type: 'resumed'; late: number; pausedMs: number }
  /** `lost`: rows held that could not be written within the grace period */
  | { type: 'closed'; lost: number };

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
const MAX_BATCH = 4000;
/** a batch that is not full is written this long after its first row (ms) */
const BATCH_DELAY_MS = 100;
/** longest a run of batches holds this thread before messages (flush, close) are read (ms) */
const TURN_MS = 250;
/** the first and the longest wait before writing again after a failed write (ms) */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;
/** below 2^31 ms, past which setTimeout fires at once */
const NEVER_MS = 2_000_000_000;

/**
 * Rows received and not yet handed to the writer, oldest first (read from `incomingHead`).
 * The writer is given one batch at a time and told when to write (flush): left to itself,
 * it would try again on every row once a batch waits, which is what printed a failure
 * thirty times a second on a full disk.
 */
let incoming: RowTuple[] = [];
let incomingHead = 0;
/** the error of the last write that failed (LogWriter reports it through onError) */
let lastFailure: unknown = null;
let pause: { since: number; reason: string; late: number } | null = null;
let retryMs = RETRY_FIRST_MS;
let writeTimer: NodeJS.Timeout | null = null;
let closing = false;

const writer = new LogWriter(db, {
  delayMs: NEVER_MS,
  maxBatch: MAX_BATCH,
  sliceMs: 60_000,
  onError: (err) => (lastFailure = err),
});
// the ids are copied into the message, not transferred: every onWritten listener gets the same array
writer.onWritten((ids) => {
  post({ type: 'written', ids });
  if (pause) pause.late += ids.length;
});

const messageOf = (err: unknown): string => String((err as Error | null)?.message ?? err);

/** rows received and not yet on disk */
function held(): number {
  return writer.pending + incoming.length - incomingHead;
}

/** Hands the writer the next batch when it holds none; false when nothing is left. */
function refill(): boolean {
  if (writer.pending > 0) return true;
  const n = Math.min(MAX_BATCH, incoming.length - incomingHead);
  if (n === 0) return false;
  for (let i = 0; i < n; i++) writer.pushTuple(incoming[incomingHead + i]!);
  incomingHead += n;
  if (incomingHead === incoming.length) {
    incoming = [];
    incomingHead = 0;
  } else if (incomingHead > 65_536 && incomingHead * 2 > incoming.length) {
    incoming = incoming.slice(incomingHead);
    incomingHead = 0;
  }
  return true;
}

/**
 * Writes held rows, a batch per transaction, until `deadline`: all of them, or (`all` false,
 * rows still coming) only whole batches. False when the database refused a write
 * (lastFailure says why): the rows stay held, in order.
 */
function writeHeld(all: boolean, deadline: number): boolean {
  for (let i = 0; i < 100_000; i++) {
    if (!all && held() < MAX_BATCH) return true;
    if (!refill()) return true;
    lastFailure = null;
    writer.flush();
    if (writer.pending > 0) return false;
    if (performance.now() > deadline) return true;
  }
  return true;
}

/** Writes failed: say so once per condition (a new reason is a new condition). */
function notePaused(): void {
  const reason = storageFailureReason(lastFailure);
  if (pause && pause.reason === reason) return;
  pause = { since: pause?.since ?? Date.now(), reason, late: pause?.late ?? 0 };
  post({ type: 'paused', since: pause.since, reason, cause: messageOf(lastFailure) });
}

function noteResumed(): void {
  if (!pause) return;
  post({ type: 'resumed', late: pause.late, pausedMs: Date.now() - pause.since });
  pause = null;
}

function scheduleWrite(ms: number): void {
  if (writeTimer || closing) return;
  writeTimer = setTimeout(writeTurn, ms);
}

/** A write failed: pause (told once), and try again after a wait that doubles each time. */
function retryLater(): void {
  notePaused();
  if (writeTimer) clearTimeout(writeTimer);
  writeTimer = null;
  scheduleWrite(retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

/** One turn of writing (after the batching delay, or a retry); on failure the next try waits longer. */
function writeTurn(): void {
  writeTimer = null;
  if (closing) return;
  if (!writeHeld(true, performance.now() + TURN_MS)) return retryLater();
  retryMs = RETRY_FIRST_MS;
  if (held() > 0) scheduleWrite(0);
  else noteResumed();
}

function onRows(json: string): void {
  for (const t of JSON.parse(json) as RowTuple[]) incoming.push(t);
  // while paused the retry timer is set: rows only wait for it
  if (pause || closing) return;
  if (held() >= MAX_BATCH && !writeHeld(false, performance.now() + TURN_MS)) return retryLater();
  if (held() > 0) scheduleWrite(BATCH_DELAY_MS);
}

let limits = data.limits;
let pruneBatch = 500;
let pruneTimer: NodeJS.Timeout | null = null;
let pruneFailing = false;
const pruneEvery = data.pruneEveryMs ?? 2000;

function notePruneFailure(err: unknown): void {
  // once until a prune succeeds again; while writes are paused it fails for the same reason
  if (pruneFailing || pause) return;
  pruneFailing = true;
  post({ type: 'error', message: `pruning the log failed: ${messageOf(err)}` });
}

/** One step, sized so it holds the write lock for about 20 ms; soon again while behind. */
function prune(): number {
  // while writes fail, deleting fails too (it needs the WAL): wait for them
  if (pause) {
    schedulePrune(pruneEvery);
    return 0;
  }
  const t0 = performance.now();
  let deleted = 0;
  try {
    const r = pruneStep(db, limits, Date.now(), pruneBatch);
    deleted = r.deleted;
    pruneFailing = false;
    const ms = performance.now() - t0;
    if (r.more && ms < 10) pruneBatch = Math.min(20_000, pruneBatch * 2);
    else if (ms > 30) pruneBatch = Math.max(50, Math.floor(pruneBatch / 2));
    schedulePrune(r.more ? 20 : pruneEvery);
  } catch (err) {
    notePruneFailure(err);
    schedulePrune(pruneEvery * 5);
  }
  if (deleted > 0) post({ type: 'pruned', deleted });
  return deleted;
}

function schedulePrune(ms: number): void {
  if (pruneTimer) clearTimeout(pruneTimer);
  if (closing) return;
  pruneTimer = setTimeout(prune, ms);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Writes what is held, retrying with the backoff while writes fail, for at most `graceMs`;
 * then closes the connection and says how many rows stayed unwritten. Not writer.close():
 * that would try once more, past the deadline.
 */
async function closeWithin(graceMs: number): Promise<void> {
  closing = true;
  if (writeTimer) clearTimeout(writeTimer);
  if (pruneTimer) clearTimeout(pruneTimer);
  clearInterval(walGuard);
  clearInterval(optimizeTimer);
  const deadline = performance.now() + graceMs;
  let wait = RETRY_FIRST_MS;
  for (let attempt = 0; attempt < 1000 && held() > 0; attempt++) {
    // a write waiting for another connection's lock must not outlast the grace either
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(deadline - performance.now()))}`);
    if (writeHeld(true, deadline)) {
      if (performance.now() >= deadline) break;
      continue;
    }
    notePaused();
    if (performance.now() + wait >= deadline) break;
    await sleep(wait);
    wait = Math.min(wait * 2, RETRY_MAX_MS);
  }
  if (held() === 0) noteResumed();
  const lost = held();
  try {
    db.close();
  } catch {
    // closing after failed writes: nothing more to save
  }
  post({ type: 'closed', lost });
  port.close();
}

port.on('message', (m: ToWriter) => {
  if (closing) return;
  switch (m.type) {
    case 'rows':
      onRows(m.json);
      break;
    case 'flush':
      // while paused the retry timer writes; a flush only learns that nothing could be written
      if (!pause && !writeHeld(true, Infinity)) retryLater();
      post({ type: 'flushed', seq: m.seq });
      break;
    case 'limits':
      limits = m.limits;
      schedulePrune(0);
      break;
    case 'prune': {
      let deleted = 0;
      try {
        for (let i = 0; i < 10_000; i++) {
          const r = pruneStep(db, limits, Date.now(), 5000);
          deleted += r.deleted;
          if (!r.more) break;
        }
      } catch (err) {
        notePruneFailure(err);
      }
      post({ type: 'pruned', deleted, seq: m.seq });
      break;
    }
    case 'close':
      void closeWithin(m.graceMs);
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
