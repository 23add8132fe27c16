/**
 * Retention (main/storage/log-retention.ts) and the aggregates the writer keeps
 * (log_agg), on real files: rows older than the retention go, the oldest rows
 * beyond maxRows go, the oldest go while the database is over maxSizeMB; each
 * step deletes at most one batch; the full-text index forgets pruned rows; the
 * per-minute and per-hour aggregates always equal a GROUP BY over the rows
 * written; statistics read them back exactly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../main/storage/db.js';
import { AGG_HOUR, AGG_MINUTE, LogWriter, aggregate, toTuple } from '../../main/storage/log-writer.js';
import { logExtent, pruneStep, usedBytes, MINUTE_AGG_DAYS } from '../../main/storage/log-retention.js';
import { periodPieces, top, traffic, bucketFor } from '../../main/storage/log-stats.js';
import { countRows } from '../../main/storage/log-query.js';
import { rowGenerator, type NewRow } from '../helpers/log-rows.js';

const root = mkdtempSync(join(tmpdir(), 'gh-retention-'));
let n = 0;
const dbs: Db[] = [];
after(() => {
  for (const d of dbs) if (d.open) d.close();
  rmSync(root, { recursive: true, force: true });
});
function fresh(): Db {
  const d = openDb(join(root, `d${++n}`));
  dbs.push(d);
  return d;
}
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 15, 12, 0, 0);

function fill(db: Db, rows: NewRow[]): void {
  const w = new LogWriter(db, { delayMs: 60_000, maxBatch: 500 });
  for (const r of rows) w.push(r);
  w.close();
}
const count = (db: Db, sql = 'SELECT count(*) FROM log') => db.prepare(sql).pluck().get() as number;

test('prunes rows older than the retention, one batch per step, and the FTS index with them', () => {
  const db = fresh();
  const gen = rowGenerator({ seed: 1, start: NOW - 40 * DAY, gapMs: (40 * DAY) / 2000 / 2 });
  const rows = Array.from({ length: 2000 }, gen);
  fill(db, rows);
  const old = rows.filter((r) => r.ts < NOW - 30 * DAY).length;
  assert.ok(old > 200);
  const limits = { retentionDays: 30, maxRows: 0, maxSizeMB: 0 };
  const first = pruneStep(db, limits, NOW, 100);
  assert.equal(first.deleted, 100);
  assert.equal(first.more, true);
  let steps = 1;
  for (let r = first; r.more && steps < 1000; steps++) r = pruneStep(db, limits, NOW, 100);
  assert.equal(count(db), 2000 - old);
  assert.equal(count(db, `SELECT count(*) FROM log WHERE ts < ${NOW - 30 * DAY}`), 0);
  assert.ok(steps >= old / 100, `${steps} steps`);
  // the FTS index holds exactly the rows left
  assert.equal(count(db, "SELECT count(*) FROM log_fts WHERE log_fts MATCH 'site1*'"), countRows(db, { text: 'site1' }).count);
  assert.equal(count(db, 'SELECT count(*) FROM log WHERE id NOT IN (SELECT rowid FROM log_fts)'), 0);
});

test('keeps at most maxRows rows, dropping the oldest', () => {
  const db = fresh();
  fill(db, Array.from({ length: 1500 }, rowGenerator({ seed: 2, start: NOW - DAY })));
  const limits = { retentionDays: 3650, maxRows: 1000, maxSizeMB: 0 };
  for (let i = 0, r = { more: true }; r.more && i < 100; i++) r = pruneStep(db, limits, NOW, 200);
  assert.equal(count(db), 1000);
  assert.equal(logExtent(db).minId, 501);
  assert.equal(logExtent(db).rows, 1000);
  assert.deepEqual(pruneStep(db, limits, NOW, 200), { deleted: 0, aggDeleted: 0, more: false });
});

test('prunes the oldest rows while the database uses more than maxSizeMB', () => {
  const db = fresh();
  const gen = rowGenerator({ seed: 4, start: NOW - DAY });
  // long URLs make a few thousand rows weigh a few MB
  fill(db, Array.from({ length: 4000 }, () => {
    const r = gen();
    return { ...r, url: `${r.url}&pad=${'x'.repeat(900)}` };
  }));
  const before = usedBytes(db);
  assert.ok(before > 5 * 1024 * 1024, `${before} bytes`);
  const limits = { retentionDays: 3650, maxRows: 0, maxSizeMB: 3 };
  let steps = 0;
  for (let r = { more: true }; r.more && steps < 1000; steps++) r = pruneStep(db, limits, NOW, 250);
  assert.ok(usedBytes(db) <= 3 * 1024 * 1024, `${usedBytes(db)} bytes used`);
  const left = count(db);
  assert.ok(left > 500 && left < 4000, `${left} rows left`);
  // the newest rows are the ones kept
  assert.equal(logExtent(db).maxId, 4000);
});

test('the aggregates equal a GROUP BY over the rows, per minute and per hour, for every dimension', () => {
  const db = fresh();
  const rows = Array.from({ length: 3000 }, rowGenerator({ seed: 5, start: NOW - 3 * 3_600_000, gapMs: 1500 }));
  fill(db, rows);
  for (const [res, col] of [
    [AGG_MINUTE, 'client_addr'],
    [AGG_HOUR, 'host'],
    [AGG_MINUTE, 'user'],
    [AGG_HOUR, 'service'],
  ] as const) {
    const dim = { client_addr: 1, user: 2, host: 3, service: 4 }[col];
    const want = db
      .prepare(
        `SELECT ts - ts % ${res} AS bucket, ${col} AS key, count(*) AS requests, sum(allowed = 0) AS denied, sum(error != '') AS errors,
           sum(bytes_up) AS up, sum(bytes_down) AS down, sum(duration_ms) AS dur
         FROM log ${col === 'user' ? "WHERE user != ''" : ''} GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .all();
    const got = db
      .prepare(
        `SELECT bucket, key, requests, denied, errors, bytes_up AS up, bytes_down AS down, duration_ms AS dur
         FROM log_agg WHERE res = ? AND dim = ? ORDER BY 1, 2`,
      )
      .all(res, dim);
    assert.deepEqual(got, want, `${col} per ${res}`);
  }
  const totals = db.prepare('SELECT sum(requests) FROM log_agg WHERE res = ? AND dim = 0').pluck().get(AGG_HOUR);
  assert.equal(totals, 3000);
  // the hour sums are the minute sums
  const agg = aggregate(rows.map(toTuple));
  assert.equal(agg.hour.filter((a) => a[0] === 0).reduce((s, a) => s + a[3], 0), 3000);
});

test('statistics: traffic in buckets and top lists, exact to the minute over long periods', () => {
  const db = fresh();
  const start = NOW - 10 * 3_600_000 + 17 * 60_000;
  const rows = Array.from({ length: 4000 }, rowGenerator({ seed: 6, start, gapMs: 4000 }));
  fill(db, rows);
  const from = start + 33 * 60_000;
  const to = NOW - 47 * 60_000;
  const inPeriod = rows.filter((r) => r.ts >= from - (from % 60_000) && r.ts < to);
  const t = traffic(db, { from, to, points: 100, now: NOW });
  assert.equal(t.bucketMs, bucketFor(to - from, 100));
  assert.ok(t.points.length <= 101);
  assert.ok(t.points.every((p, i) => i === 0 || p.t - t.points[i - 1]!.t === t.bucketMs), 'no gaps');
  // buckets align down, so the first may hold rows from before `from`
  const aligned = rows.filter((r) => r.ts >= t.from && r.ts < to);
  assert.equal(t.totals.requests, aligned.length);
  assert.equal(t.totals.bytesDown, aligned.reduce((s, r) => s + r.bytesDown, 0));
  assert.ok(periodPieces(from, to).length === 3, 'minutes, hours, minutes');
  const hosts = top(db, { from, to, dim: 'host', by: 'requests', limit: 5 });
  const want = new Map<string, number>();
  for (const r of inPeriod) want.set(r.host, (want.get(r.host) ?? 0) + 1);
  const best = [...want.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
  assert.deepEqual(hosts.map((h) => [h.key, h.requests]), best);
  const byClient = traffic(db, { from, to, points: 50, dim: 'client', key: '192.168.1.10', now: NOW });
  assert.equal(byClient.totals.requests, rows.filter((r) => r.clientAddr === '192.168.1.10' && r.ts >= byClient.from && r.ts < to).length);
});

test('aggregates past their time are pruned: minute buckets after a week, hour buckets after the retention', () => {
  const db = fresh();
  fill(db, Array.from({ length: 600 }, rowGenerator({ seed: 8, start: NOW - 20 * DAY, gapMs: (20 * DAY) / 600 })));
  const limits = { retentionDays: 15, maxRows: 0, maxSizeMB: 0 };
  for (let i = 0, r = { more: true }; r.more && i < 1000; i++) r = pruneStep(db, limits, NOW, 50);
  const oldestMinute = db.prepare('SELECT min(bucket) FROM log_agg WHERE res = ?').pluck().get(AGG_MINUTE) as number;
  const oldestHour = db.prepare('SELECT min(bucket) FROM log_agg WHERE res = ?').pluck().get(AGG_HOUR) as number;
  assert.ok(oldestMinute >= NOW - MINUTE_AGG_DAYS * DAY - AGG_MINUTE, new Date(oldestMinute).toISOString());
  assert.ok(oldestHour >= NOW - 15 * DAY - AGG_HOUR, new Date(oldestHour).toISOString());
  assert.ok(oldestHour < NOW - 14 * DAY);
});
