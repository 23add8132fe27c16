/**
 * Migration 5 (the log viewer's schema) on a database that already holds log
 * rows from before it: the rows become searchable (FTS backfilled) and the
 * per-minute and per-hour aggregates are computed from them, exactly as the
 * writer would have kept them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, migrate } from '../../main/storage/migrations.js';
import { LogWriter } from '../../main/storage/log-writer.js';
import { countRows } from '../../main/storage/log-query.js';
import { rowGenerator } from '../helpers/log-rows.js';

const tmp = mkdtempSync(join(tmpdir(), 'gh-logmig-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('migration 5 indexes and counts the rows written before it', () => {
  const rows = Array.from({ length: 800 }, rowGenerator({ seed: 41, gapMs: 3000 }));
  // the same rows written by today's writer, for the expected aggregates
  const ref = new Database(':memory:');
  migrate(ref);
  const w = new LogWriter(ref, { delayMs: 60_000 });
  for (const r of rows) w.push(r);
  w.close();

  const old = new Database(join(tmp, 'old.db'));
  const v5 = MIGRATIONS.findIndex((m) => m.includes('CREATE VIRTUAL TABLE log_fts'));
  assert.ok(v5 >= 4, 'the log viewer migration exists');
  for (let v = 0; v < v5; v++) old.exec(MIGRATIONS[v]!);
  old.pragma(`user_version = ${v5}`);
  const ins = old.prepare(
    `INSERT INTO log (ts, service, client_addr, client_port, user, method, url, host, port, status, bytes_up, bytes_down, packets_up, packets_down, duration_ms, allowed, rule, error)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of rows) {
    ins.run(r.ts, r.service, r.clientAddr, r.clientPort, r.user, r.method, r.url, r.host, r.port, r.status, r.bytesUp, r.bytesDown, r.packetsUp, r.packetsDown, r.durationMs, r.allowed ? 1 : 0, r.rule, r.error);
  }
  migrate(old);
  try {
    assert.equal(old.pragma('user_version', { simple: true }), MIGRATIONS.length);
    for (const text of ['site1', 'api v1', 'www']) assert.equal(countRows(old, { text }).count, countRows(ref, { text }).count, text);
    const agg = (d: Database.Database) => d.prepare('SELECT * FROM log_agg ORDER BY res, dim, bucket, key').all();
    assert.deepEqual(agg(old), agg(ref));
  } finally {
    old.close();
    ref.close();
  }
});
