/**
 * The log's reading thread: viewer pages, counts, exports, statistics and the
 * log's size, on its own read-only connection, so a heavy read never stalls
 * the proxies. Work is cut into steps (a page, an id range of a count, a page
 * of an export) and a small scheduler runs one step at a time, most urgent
 * first: a viewer page waits for at most one step of a running export or count.
 * It also checkpoints the WAL (on a second connection) now and then, so the
 * writing thread never waits for the disk's sync.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { GatehouseError, type LogFilter, type LogQuery } from '../contract/index.js';
import { TextMatchCache, countSliced, iterateRows, queryPage } from './log-query.js';
import { exportWriter } from './log-export.js';
import { top, traffic, type TrafficArgs } from './log-stats.js';
import { logExtent, usedBytes } from './log-retention.js';
import type { ExportFormat, LogSort, SortOrder, StatDim } from '../contract/index.js';

export interface ReaderWorkerData {
  file: string;
  version: string;
  /** ms between WAL checkpoints; 0: none */
  checkpointMs?: number;
}

export interface ExportArgs {
  filter: LogFilter;
  sort: LogSort;
  order: SortOrder;
  format: ExportFormat;
  path: string;
}

export interface ExportProgress {
  rows: number;
  total: number | null;
  skipped: number;
  bytes: number;
}

export type ReaderOp =
  | { op: 'query'; args: LogQuery }
  | { op: 'count'; args: { filter: LogFilter } }
  | { op: 'export'; args: ExportArgs }
  | { op: 'traffic'; args: TrafficArgs }
  | { op: 'top'; args: { from: number; to: number; dim: StatDim; by: 'bytes' | 'requests'; limit: number } }
  | { op: 'info'; args: Record<string, never> };

export type ToReader = ({ id: number } & ReaderOp) | { op: 'cancel'; id: number } | { op: 'close' };
export type FromReader =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: string; message: string } }
  | { id: number; progress: ExportProgress };

const port = parentPort!;
const data = workerData as ReaderWorkerData;
const db = new Database(data.file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -32768');
db.pragma('mmap_size = 268435456');
const texts = new TextMatchCache(db);

const PRIORITY: Record<ReaderOp['op'], number> = { query: 0, info: 1, traffic: 1, top: 1, count: 2, export: 3 };
const AGING_MS = 50;
/** how long one step of an export may run before others get a turn */
const STEP_MS = 25;

interface Task {
  id: number;
  priority: number;
  seq: number;
  /** when it last ran a step (or arrived) */
  ranAt: number;
  steps: Generator<unknown, unknown>;
}

const tasks: Task[] = [];
const canceled = new Set<number>();
let seq = 0;
let scheduled = false;

class Canceled extends Error {}

function schedule(): void {
  if (scheduled || tasks.length === 0) return;
  scheduled = true;
  setImmediate(runStep);
}

function runStep(): void {
  scheduled = false;
  if (tasks.length === 0) return;
  // most urgent first, but a task that waited rises a level every AGING_MS, so a stream of
  // counts cannot starve an export (nor an export a count)
  const now = performance.now();
  const rank = (t: Task) => t.priority - (now - t.ranAt) / AGING_MS;
  let best = 0;
  for (let i = 1; i < tasks.length; i++) {
    const t = tasks[i]!;
    const b = tasks[best]!;
    if (rank(t) < rank(b) || (rank(t) === rank(b) && t.seq < b.seq)) best = i;
  }
  const task = tasks[best]!;
  task.ranAt = now;
  try {
    if (canceled.has(task.id)) task.steps.throw(new Canceled());
    const r = task.steps.next();
    if (r.done) {
      tasks.splice(best, 1);
      canceled.delete(task.id);
      port.postMessage({ id: task.id, ok: true, value: r.value } satisfies FromReader);
    }
  } catch (err) {
    tasks.splice(best, 1);
    canceled.delete(task.id);
    const e = err instanceof Canceled ? new GatehouseError('E_NOT_FOUND', 'canceled') : GatehouseError.from(err);
    port.postMessage({ id: task.id, ok: false, error: { code: err instanceof Canceled ? 'CANCELED' : e.code, message: e.message } } satisfies FromReader);
  }
  schedule();
}

function* single<T>(fn: () => T): Generator<never, T> {
  return fn();
}

function* exportSteps(id: number, a: ExportArgs): Generator<unknown, ExportProgress> {
  const tmp = `${a.path}.part`;
  const fd = openSync(tmp, 'w');
  const p: ExportProgress = { rows: 0, total: null, skipped: 0, bytes: 0 };
  let done = false;
  try {
    const write = (text: string) => {
      if (!text) return;
      p.bytes += writeSync(fd, text);
    };
    const counting = countSliced(db, a.filter);
    for (;;) {
      const r = counting.next();
      if (r.done) {
        p.total = r.value.count;
        a = { ...a, filter: { ...a.filter, maxId: r.value.maxId } };
        break;
      }
      yield;
    }
    port.postMessage({ id, progress: { ...p } } satisfies FromReader);
    const w = exportWriter(a.format, data.version);
    write(w.head());
    let last = performance.now();
    let stepStart = last;
    for (const rows of iterateRows(db, { filter: a.filter, sort: a.sort, order: a.order, pageSize: 1000, texts })) {
      const out = w.rows(rows);
      write(out.text);
      p.rows += rows.length - out.skipped;
      p.skipped += out.skipped;
      const now = performance.now();
      if (now - last > 200) {
        last = now;
        port.postMessage({ id, progress: { ...p } } satisfies FromReader);
      }
      // a step is a few pages (about STEP_MS), so an export gets its share beside long counts
      if (now - stepStart >= STEP_MS) {
        yield;
        stepStart = performance.now();
      }
    }
    write(w.tail());
    closeSync(fd);
    renameSync(tmp, a.path);
    done = true;
    return p;
  } finally {
    if (!done) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(tmp);
      } catch {
        // never created or already gone
      }
    }
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function info() {
  const ext = logExtent(db);
  const r = db.prepare<[], { lo: number | null; hi: number | null }>('SELECT min(ts) AS lo, max(ts) AS hi FROM log').get();
  return {
    dbBytes: fileSize(data.file),
    walBytes: fileSize(`${data.file}-wal`),
    usedBytes: usedBytes(db),
    rows: ext.rows,
    oldestTs: r?.lo ?? null,
    newestTs: r?.hi ?? null,
  };
}

function steps(m: { id: number } & ReaderOp): Generator<unknown, unknown> {
  switch (m.op) {
    case 'query':
      return single(() => queryPage(db, m.args, texts));
    case 'count':
      return (function* () {
        const t0 = performance.now();
        const r = yield* countSliced(db, m.args.filter);
        return { ...r, tookMs: Math.round(performance.now() - t0) };
      })();
    case 'export':
      return exportSteps(m.id, m.args);
    case 'traffic':
      return single(() => traffic(db, m.args));
    case 'top':
      return single(() => ({ items: top(db, m.args) }));
    case 'info':
      return single(info);
  }
}

// checkpoints: a second connection that may write (the reads above may not)
let ckpt: Database.Database | null = null;
let ckptTimer: NodeJS.Timeout | null = null;
if (data.checkpointMs) {
  ckpt = new Database(data.file, { fileMustExist: true });
  ckpt.pragma('busy_timeout = 100');
  ckpt.pragma('wal_autocheckpoint = 0');
  const c = ckpt;
  ckptTimer = setInterval(() => {
    try {
      c.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // busy: the next turn tries again
    }
  }, data.checkpointMs);
}

port.on('message', (m: ToReader) => {
  if (m.op === 'cancel') {
    if (tasks.some((t) => t.id === m.id)) canceled.add(m.id);
    schedule();
    return;
  }
  if (m.op === 'close') {
    if (ckptTimer) clearInterval(ckptTimer);
    ckpt?.close();
    db.close();
    port.close();
    return;
  }
  tasks.push({ id: m.id, priority: PRIORITY[m.op], seq: seq++, ranAt: performance.now(), steps: steps(m) });
  schedule();
});
