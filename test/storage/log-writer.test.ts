/**
 * The batched request-log writer (main/storage/log-writer.ts) and recentLog on
 * real files: rows reach the disk on flush, on the batch timer, or at once
 * when a batch fills; close() flushes everything; listeners get the written
 * rows with their ids; a failing write keeps the rows queued.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogRow } from '../../main/contract/index.js';
import { LOG_FIELDS } from '../../main/contract/log-row.js';
import { openDb, type Db } from '../../main/storage/db.js';
import { LogWriter, recentLog } from '../../main/storage/log-writer.js';

const root = mkdtempSync(join(tmpdir(), 'gh-logwriter-'));
let n = 0;
const freshDir = () => join(root, `d${++n}`);
const open: Db[] = [];
after(() => {
  for (const db of open) if (db.open) db.close();
  rmSync(root, { recursive: true, force: true });
});

function db(dir = freshDir()): Db {
  const d = openDb(dir);
  open.push(d);
  return d;
}

function row(i: number, patch: Partial<LogRow> = {}): Omit<LogRow, 'id'> {
  return {
    ts: 1_700_000_000_000 + i,
    service: 'http',
    clientAddr: '192.168.1.20',
    clientPort: 50000 + i,
    user: '',
    method: 'GET',
    url: `http://example.com/${i}`,
    host: 'example.com',
    port: 80,
    status: 200,
    bytesUp: 100 + i,
    bytesDown: 2000 + i,
    packetsUp: 0,
    packetsDown: 0,
    durationMs: 12,
    allowed: true,
    rule: 'default',
    error: '',
    chain: '',
    mapping: '',
    ...patch,
  };
}

const count = (d: Db) => (d.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n;

test('queues rows in memory and writes them on flush()', () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 60_000 });
  w.push(row(1));
  w.push(row(2));
  assert.equal(w.pending, 2);
  assert.equal(count(d), 0);
  w.flush();
  assert.equal(w.pending, 0);
  assert.equal(count(d), 2);
  assert.equal(w.written, 2);
  w.close();
});

test('writes queued rows by itself once the batch delay has passed', async () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 10 });
  w.push(row(1));
  for (let i = 0; i < 100 && count(d) === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(count(d), 1);
  assert.equal(w.pending, 0);
  w.close();
});

test('writes a full batch at once, without waiting for the delay', () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 60_000, maxBatch: 5 });
  for (let i = 0; i < 4; i++) w.push(row(i));
  assert.equal(count(d), 0);
  w.push(row(4));
  assert.equal(count(d), 5);
  assert.equal(w.pending, 0);
  w.close();
});

test('close() writes every queued row, so a clean stop loses nothing; rows pushed after close are dropped', () => {
  const dir = freshDir();
  const d = db(dir);
  const w = new LogWriter(d, { delayMs: 60_000, maxBatch: 400 });
  for (let i = 0; i < 1000; i++) w.push(row(i));
  w.close();
  w.push(row(1000));
  assert.equal(w.pending, 0);
  d.close();
  const again = db(dir);
  assert.equal(count(again), 1000);
  assert.equal(recentLog(again, 1)[0]!.url, 'http://example.com/999');
});

test('listeners get each written batch with ascending ids that match the rows on disk', () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 60_000 });
  const batches: LogRow[][] = [];
  w.onRows((rows) => batches.push(rows));
  for (let i = 0; i < 3; i++) w.push(row(i));
  w.flush();
  for (let i = 3; i < 5; i++) w.push(row(i));
  w.close();
  assert.deepEqual(batches.map((b) => b.length), [3, 2]);
  const all = batches.flat();
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.id > all[i - 1]!.id, 'ids ascend');
  assert.deepEqual(all, recentLog(d, 100).reverse());
  assert.deepEqual(all.map((r) => r.url), [0, 1, 2, 3, 4].map((i) => `http://example.com/${i}`));
});

test('a batch cut short by its time slice writes the rest in later slices, each row with its own id, none twice', async () => {
  const d = db();
  // a slice of 0 ms stops after the first 32 rows of every transaction
  const w = new LogWriter(d, { delayMs: 1, maxBatch: 4000, sliceMs: 0 });
  const batches: LogRow[][] = [];
  w.onRows((rows) => batches.push(rows));
  for (let i = 0; i < 200; i++) w.push(row(i));
  for (let i = 0; i < 200 && w.pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(w.pending, 0);
  assert.ok(batches.length > 1, `written in ${batches.length} slices`);
  const all = batches.flat();
  assert.deepEqual(all.map((r) => r.url), Array.from({ length: 200 }, (_, i) => `http://example.com/${i}`));
  assert.deepEqual(all, recentLog(d, 1000).reverse());
  w.close();
});

test('an unsubscribed listener gets no more rows', () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 60_000 });
  let seen = 0;
  const off = w.onRows((rows) => (seen += rows.length));
  w.push(row(1));
  w.flush();
  off();
  w.push(row(2));
  w.close();
  assert.equal(seen, 1);
});

test('stores every field, with allowed as a boolean and a denied row kept as denied', () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 60_000 });
  const denied = row(7, { allowed: false, rule: 'connect-ports', status: 403, method: 'CONNECT', url: 'mail.example:25', port: 25, error: 'tunnels to port 25 are not allowed', packetsUp: 3, packetsDown: 5 });
  w.push(denied);
  w.close();
  const [r] = recentLog(d, 1);
  assert.deepEqual(r, { ...denied, id: r!.id });
});

test("the log table's columns are the id and LOG_FIELDS' columns, the ones the INSERT and the reads name", () => {
  const d = db();
  const columns = (d.prepare('PRAGMA table_info(log)').all() as Array<{ name: string }>).map((c) => c.name);
  assert.deepEqual(columns.sort(), ['id', ...LOG_FIELDS.map((f) => f.column)].sort());
});

test('recentLog gives the newest rows first, and with afterId the rows after it, oldest first', () => {
  const d = db();
  const w = new LogWriter(d, { delayMs: 60_000 });
  for (let i = 0; i < 6; i++) w.push(row(i));
  w.close();
  const newest = recentLog(d, 3);
  assert.deepEqual(newest.map((r) => r.url), [5, 4, 3].map((i) => `http://example.com/${i}`));
  const ids = recentLog(d, 100).map((r) => r.id).reverse();
  const after2 = recentLog(d, 2, ids[1]!);
  assert.deepEqual(after2.map((r) => r.id), [ids[2], ids[3]]);
  assert.deepEqual(recentLog(d, 10, ids[5]!), []);
  assert.deepEqual(recentLog(d, 100, 0).map((r) => r.id), ids);
});

test('keeps the rows queued and reports the error when the database cannot be written', () => {
  const d = db();
  const errors: unknown[] = [];
  const w = new LogWriter(d, { delayMs: 60_000, onError: (e) => errors.push(e) });
  let delivered = 0;
  w.onRows((rows) => (delivered += rows.length));
  w.push(row(1));
  w.push(row(2));
  d.close();
  w.flush();
  assert.equal(errors.length, 1);
  assert.equal(w.pending, 2);
  assert.equal(w.written, 0);
  assert.equal(delivered, 0);
  w.close(); // tries once more, fails again, and stops for good (no retry timer left behind)
  assert.equal(errors.length, 2);
});

test(
  'a listener that throws does not keep the other listeners from the rows, nor make close() throw',
  () => {
    const d = db();
    const w = new LogWriter(d, { delayMs: 60_000 });
    let seen = 0;
    w.onRows(() => {
      throw new Error('broken listener');
    });
    w.onRows((rows) => (seen += rows.length));
    w.push(row(1));
    assert.doesNotThrow(() => w.close());
    assert.equal(seen, 1);
    assert.equal(count(d), 1);
  },
);
