/**
 * The log's two threads, on real files: ThreadedLogWriter hands batches to the
 * writing thread and gets the ids back in order, close() writes everything,
 * the writing thread prunes to the limits it is sent, and a thread that dies
 * leaves writing to the fallback on the caller's connection; LogReader answers
 * pages, counts and statistics from the reading thread, streams an export with
 * progress, cancels one (removing its partial file), and keeps a viewer page
 * from waiting behind a long export.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { LogQueryInputSchema, type LogRow } from '../../main/contract/index.js';
import { openDb, type Db } from '../../main/storage/db.js';
import { LogWriter, recentLog } from '../../main/storage/log-writer.js';
import { ThreadedLogWriter } from '../../main/storage/log-writer-thread.js';
import { CanceledError, LogReader } from '../../main/storage/log-reader.js';
import type { ExportProgress } from '../../main/storage/log-reader-worker.js';
import { rowGenerator } from '../helpers/log-rows.js';

const root = mkdtempSync(join(tmpdir(), 'gh-logthreads-'));
let n = 0;
const open: Db[] = [];
after(() => {
  for (const d of open) if (d.open) d.close();
  rmSync(root, { recursive: true, force: true });
});
function freshDir(): { dir: string; db: Db } {
  const dir = join(root, `d${++n}`);
  const db = openDb(dir);
  open.push(db);
  return { dir, db };
}
const NO_LIMITS = { retentionDays: 3650, maxRows: 0, maxSizeMB: 0 };

test('rows pushed go through the writing thread and come back with their ids, in order; close() loses none', async () => {
  const { dir, db } = freshDir();
  const w = new ThreadedLogWriter({ dataDir: dir, db, limits: NO_LIMITS, delayMs: 5, maxBatch: 300 });
  const seen: LogRow[] = [];
  w.onRows((rows) => seen.push(...rows));
  const gen = rowGenerator({ seed: 11 });
  const pushed = Array.from({ length: 2500 }, gen);
  for (const r of pushed) w.push(r);
  await w.flush();
  assert.equal(w.pending, 0);
  assert.equal(seen.length, 2500);
  assert.deepEqual(seen.map((r) => r.url), pushed.map((r) => r.url));
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.id > seen[i - 1]!.id);
  for (const r of pushed.slice(0, 300)) w.push(r);
  await w.close();
  w.push(pushed[0]!); // after close: dropped
  const onDisk = recentLog(db, 10_000).reverse();
  assert.equal(onDisk.length, 2800);
  assert.deepEqual(onDisk, seen);
  assert.equal(w.written, 2800);
});

test('rows with long URLs go in smaller batches (none past 64 KiB of JSON) and still come back whole, every field as pushed', async () => {
  const { dir, db } = freshDir();
  const w = new ThreadedLogWriter({ dataDir: dir, db, limits: NO_LIMITS, delayMs: 5, maxBatch: 4000 });
  const seen: LogRow[] = [];
  w.onRows((rows) => seen.push(...rows));
  await w.pruneNow(); // resolves once the thread is up: rows pushed before that are written here
  const worker = (w as unknown as { worker: { postMessage(m: unknown): void } }).worker;
  const sizes: number[] = [];
  const post = worker.postMessage.bind(worker);
  worker.postMessage = (m: unknown) => {
    const json = (m as { type: string; json?: string }).json;
    if (json !== undefined) sizes.push(json.length);
    post(m);
  };
  const gen = rowGenerator({ seed: 12 });
  const pushed = Array.from({ length: 900 }, (_, i) => {
    const r = gen();
    // every third row carries a 3 KB URL: 512 of them would be about 600 KB of JSON
    const url = i % 3 === 0 ? `${r.url}?q=${'é'.repeat(i % 2)}${'x'.repeat(3000)}` : r.url;
    return { ...r, url, allowed: i % 4 !== 0, user: i % 5 === 0 ? 'zoë' : r.user };
  });
  for (const r of pushed) w.push(r);
  await w.flush();
  assert.ok(sizes.length > 1);
  assert.ok(Math.max(...sizes) <= 64 * 1024, `largest batch: ${Math.max(...sizes)} characters of JSON`);
  assert.equal(seen.length, pushed.length);
  assert.deepEqual(
    seen.map(({ id: _id, ...r }) => r),
    pushed,
  );
  await w.close();
  assert.deepEqual(recentLog(db, 10_000).reverse(), seen);
});

test('the writing thread prunes to the limits it is given', async () => {
  const { dir, db } = freshDir();
  const w = new ThreadedLogWriter({ dataDir: dir, db, limits: NO_LIMITS, delayMs: 5, pruneEveryMs: 60_000 });
  const gen = rowGenerator({ seed: 12 });
  for (let i = 0; i < 1200; i++) w.push(gen());
  await w.flush();
  w.setLimits({ retentionDays: 3650, maxRows: 500, maxSizeMB: 0 });
  // the thread's own timer may take a first batch before the asked-for pruning ends the job
  await w.pruneNow();
  assert.equal(w.pruned, 700);
  await w.close();
  assert.equal(db.prepare('SELECT count(*) FROM log').pluck().get(), 500);
});

test('when the writing thread dies, rows are written on the caller\'s connection instead', async () => {
  const { dir, db } = freshDir();
  const errors: unknown[] = [];
  const w = new ThreadedLogWriter({ dataDir: dir, db, limits: NO_LIMITS, delayMs: 5, onError: (e) => errors.push(e) });
  const gen = rowGenerator({ seed: 13 });
  for (let i = 0; i < 10; i++) w.push(gen());
  await w.flush();
  // kill the thread from outside, as a crash would
  await (w as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  for (let i = 0; i < 90 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(errors.length > 0, 'the failure was reported');
  for (let i = 0; i < 5; i++) w.push(gen());
  await w.flush();
  await w.close();
  assert.equal(db.prepare('SELECT count(*) FROM log').pluck().get(), 15);
});

test('rows sent to a writing thread that stops before writing them are written on the caller\'s connection, each once', async () => {
  const { dir, db } = freshDir();
  const errors: unknown[] = [];
  const w = new ThreadedLogWriter({ dataDir: dir, db, limits: NO_LIMITS, delayMs: 5, onError: (e) => errors.push(e) });
  await w.pruneNow(); // the thread is up
  const gen = rowGenerator({ seed: 15 });
  const pushed = Array.from({ length: 700 }, gen);
  const worker = (w as unknown as { worker: { terminate(): Promise<number> } }).worker;
  // the thread is told to stop; a full batch goes out to it at once, and the rest by timer
  const stopped = worker.terminate();
  for (const r of pushed) w.push(r);
  await stopped;
  for (let i = 0; i < 90 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(errors.length > 0, 'the failure was reported');
  await w.close();
  assert.deepEqual(
    db.prepare('SELECT url FROM log ORDER BY id').pluck().all(),
    pushed.map((r) => r.url),
  );
});

async function filled(rows: number): Promise<{ dir: string; db: Db }> {
  const f = freshDir();
  const w = new LogWriter(f.db, { delayMs: 60_000, maxBatch: 1000 });
  const gen = rowGenerator({ seed: 14 });
  for (let i = 0; i < rows; i++) w.push(gen());
  w.close();
  return f;
}

test('the reading thread answers pages, counts, statistics and the log size', async () => {
  const { dir } = await filled(3000);
  const reader = new LogReader({ dataDir: dir, version: '1.2.3' });
  try {
    const page = await reader.call('query', LogQueryInputSchema.parse({ filter: { statusClasses: ['5xx'] }, limit: 50 }));
    assert.equal(page.rows.length, 50);
    assert.ok(page.rows.every((r) => r.status >= 500));
    const { count } = await reader.call('count', { filter: { statusClasses: ['5xx'], maxId: page.maxId } });
    assert.ok(count > 50);
    const info = await reader.call('info', {});
    assert.equal(info.rows, 3000);
    assert.ok(info.dbBytes + info.walBytes > 100_000);
    const t = await reader.call('traffic', { from: page.rows.at(-1)!.ts - 3_600_000, to: page.rows[0]!.ts + 60_000, points: 60 });
    assert.ok(t.totals.requests > 0);
    const bad = reader.call('query', { ...LogQueryInputSchema.parse({ limit: 5 }), after: { key: 1, id: 1 }, offset: 5 });
    await assert.rejects(bad, (e: Error & { code?: string }) => e.code === 'E_VALIDATION');
  } finally {
    await reader.close();
  }
});

test('an export streams to its file with progress; a viewer page is answered while it runs; cancel removes the partial file', async () => {
  const { dir } = await filled(6000);
  const reader = new LogReader({ dataDir: dir, version: '1.2.3' });
  try {
    const path = join(dir, 'out.csv');
    const progress: ExportProgress[] = [];
    const job = reader.request('export', { filter: {}, sort: 'time', order: 'desc', format: 'csv', path }, (p) => progress.push({ ...p }));
    // asked after the export began, answered before it ends
    let exportDone = false;
    void job.done.then(() => (exportDone = true));
    const page = await reader.call('query', LogQueryInputSchema.parse({ limit: 10 }));
    assert.equal(page.rows.length, 10);
    assert.equal(exportDone, false, 'the page did not wait for the whole export');
    const result = await job.done;
    assert.equal(result.rows, 6000);
    assert.equal(result.total, 6000);
    assert.ok(progress.length >= 1 && progress[0]!.total === 6000);
    const records = parse(readFileSync(path, 'utf8'), { columns: true }) as unknown[];
    assert.equal(records.length, 6000);
    assert.equal(existsSync(`${path}.part`), false);

    const path2 = join(dir, 'cancel.jsonl');
    const job2 = reader.request('export', { filter: {}, sort: 'time', order: 'desc', format: 'jsonl', path: path2 });
    reader.cancel(job2.id);
    await assert.rejects(job2.done, (e) => e instanceof CanceledError);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('cancel')), []);
  } finally {
    await reader.close();
  }
});
