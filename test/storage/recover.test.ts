/**
 * A damaged database set aside and recovered at start (main/storage/recover.ts),
 * on real files damaged on disk: a header that is not SQLite's, pages of the log
 * overwritten in the middle of the file (found with dbstat), a page among the
 * users, a time budget that runs out, recent changes that live only in the WAL.
 * The configuration survives exactly whenever it is readable, log rows as far as
 * they are, the damaged file is kept beside under a dated name, and the fresh
 * database passes quick_check and opens again without a report. Also: how long
 * the start's quick_check takes on a 100 MB database (printed, not asserted).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DB_FILE, openDb, type Db } from '../../main/storage/db.js';
import { LogWriter } from '../../main/storage/log-writer.js';
import { checkDb, describeRecovery, openDbRecovering, recoverDb } from '../../main/storage/recover.js';
import { rowGenerator } from '../helpers/log-rows.js';

const root = mkdtempSync(join(tmpdir(), 'gh-recover-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);
const NOW = () => new Date(2026, 2, 7, 9, 5, 3);
const KEPT = 'gatehouse.db.damaged-20260307-090503';

type Rows = Record<string, unknown>[];
interface Config {
  settings: Rows;
  meta: Rows;
  users: Rows;
  groups: Rows;
  group_members: Rows;
  rules: Rows;
}

function configOf(db: Db): Config {
  const all = (sql: string) => db.prepare(sql).all() as Rows;
  return {
    settings: all('SELECT key, value FROM settings ORDER BY key'),
    meta: all('SELECT key, value FROM meta ORDER BY key'),
    users: all('SELECT * FROM users ORDER BY id'),
    groups: all('SELECT * FROM groups ORDER BY id'),
    group_members: all('SELECT * FROM group_members ORDER BY group_id, user_id'),
    rules: all('SELECT * FROM rules ORDER BY id'),
  };
}

/** A data directory as a gateway leaves it: settings, an admin token, users in groups, rules, `logRows` log rows. */
function populated(opts: { logRows: number; users?: number; urlPad?: number }): { dir: string; config: Config; urls: Set<string> } {
  const dir = freshDir();
  const db = openDb(dir);
  const put = db.prepare('INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  put.run('http.port', '3128');
  put.run('log.retentionDays', '30');
  put.run('auth.required', 'true');
  db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)').run('admin.token', 'tok-' + 'x'.repeat(28));
  const addUser = db.prepare('INSERT INTO users (name, pass_hash, enabled, note, created, updated) VALUES (?, ?, ?, ?, ?, ?)');
  for (let i = 0; i < (opts.users ?? 3); i++) addUser.run(`user${i}`, `scrypt$16384$8$1$${'s'.repeat(22)}$${String(i).padStart(4, '0')}${'h'.repeat(80)}`, i % 2, `note ${i}`, 1_700_000_000_000 + i, 1_700_000_000_000 + i);
  db.prepare("INSERT INTO groups (name, note) VALUES ('kids', ''), ('staff', 'office')").run();
  db.prepare('INSERT INTO group_members (group_id, user_id) VALUES (1, 1), (2, 2), (2, 3)').run();
  db.prepare('DELETE FROM rules').run();
  const addRule = db.prepare('INSERT INTO rules (position, data) VALUES (?, ?)');
  for (let i = 0; i < 4; i++) addRule.run(i, JSON.stringify({ name: `rule ${i}`, enabled: true, action: i % 2 ? 'deny' : 'allow', sources: ['local'], destinations: [`site${i}.com`] }));
  const urls = new Set<string>();
  const w = new LogWriter(db, { maxBatch: 4000, sliceMs: 1e9 });
  const gen = rowGenerator({ seed: 7 });
  for (let i = 0; i < opts.logRows; i++) {
    const r = gen();
    const url = `${r.url}?n=${i}${'p'.repeat(opts.urlPad ?? 0)}`;
    urls.add(url);
    w.push({ ...r, url });
  }
  w.close();
  const config = configOf(db);
  db.close(); // checkpoints: every page is in the main file
  return { dir, config, urls };
}

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Leaf pages of `table`, in page order (dbstat). */
function leafPages(file: string, table: string): { pages: number[]; pageSize: number } {
  const db = new Database(file, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = (db.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno").all(table) as { pageno: number }[]).map((r) => r.pageno);
  db.close();
  return { pages, pageSize };
}

function garbage(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) b[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return b;
}

function quickCheck(db: Db): string {
  return (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check).join('; ');
}

test('a header that is not SQLite’s: the file is kept aside under a dated name with its bytes, a fresh database starts, and the report names the kept file', () => {
  const { dir, config } = populated({ logRows: 300 });
  const file = join(dir, DB_FILE);
  // the whole first page's header, not only the magic string: nothing can be read
  overwrite(file, 0, garbage(100, 1));
  const damagedBytes = readFileSync(file);
  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.ok(recovery);
  assert.equal(recovery.damaged, true);
  assert.equal(recovery.keptAs, join(dir, KEPT));
  assert.equal(recovery.reason, "the file does not start with SQLite's header");
  assert.deepEqual(recovery.recovered, { settings: 0, users: 0, groups: 0, rules: 0, logRows: 0 });
  assert.equal(recovery.lost, 'everything: the file cannot be read as a database');
  assert.deepEqual(readFileSync(recovery.keptAs), damagedBytes, 'the damaged file is kept as it was');
  // a fresh start: migrations, the first-run rule, no users
  assert.equal(quickCheck(db), 'ok');
  assert.equal((db.prepare('SELECT count(*) AS n FROM rules').get() as { n: number }).n, 1);
  assert.equal((db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n, 0);
  assert.notDeepEqual(configOf(db).users, config.users);
  assert.equal(
    describeRecovery(recovery),
    `the database was damaged (the file does not start with SQLite's header); it is kept as ${join(dir, KEPT)} and a fresh one was made with what could be read: 0 settings, 0 users, 0 groups, 0 rules, 0 log rows; lost: everything: the file cannot be read as a database`,
  );
  db.close();
});

test('only the first 16 bytes (the magic string) overwritten: the rest of the header still describes the file, so everything is read back from a repaired copy', () => {
  const { dir, config, urls } = populated({ logRows: 1200 });
  const file = join(dir, DB_FILE);
  overwrite(file, 0, Buffer.from('NOT A DATABASE!!'));
  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.ok(recovery);
  assert.equal(recovery.keptAs, join(dir, KEPT));
  assert.equal(recovery.lost, undefined);
  assert.deepEqual(recovery.recovered, { settings: config.settings.length, users: 3, groups: 2, rules: 4, logRows: 1200 });
  assert.deepEqual(configOf(db), config);
  assert.deepEqual(new Set((db.prepare('SELECT url FROM log').all() as { url: string }[]).map((r) => r.url)), urls);
  assert.equal(quickCheck(db), 'ok');
  // the repaired copy was scratch: only the kept file is left beside the fresh one
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('damaged')), [KEPT]);
  db.close();
});

test('log pages overwritten in the middle of the file: settings, meta, users, groups and rules survive exactly, log rows are partly recovered, and the fresh database passes quick_check and opens again without a report', () => {
  const total = 5000;
  const { dir, config, urls } = populated({ logRows: total });
  const file = join(dir, DB_FILE);
  const { pages, pageSize } = leafPages(file, 'log');
  assert.ok(pages.length > 30, `the log spans ${pages.length} leaf pages`);
  const hit = [pages[Math.floor(pages.length * 0.3)]!, pages[Math.floor(pages.length * 0.5)]!, pages[Math.floor(pages.length * 0.5) + 1]!, pages[Math.floor(pages.length * 0.8)]!];
  for (const [i, p] of hit.entries()) overwrite(file, (p - 1) * pageSize, garbage(pageSize, 100 + i));
  const sizeBefore = statSync(file).size;

  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.ok(recovery, 'the damage is found at start');
  assert.doesNotMatch(describeRecovery(recovery), /\n/, 'the report is one line');
  assert.match(recovery.reason, /^quick_check: Tree \d+ page \d+: /);
  assert.equal(recovery.keptAs, join(dir, KEPT));
  assert.equal(statSync(recovery.keptAs).size, sizeBefore);
  assert.deepEqual(configOf(db), config, 'the configuration survives exactly');
  const { settings, users, groups, rules, logRows } = recovery.recovered;
  assert.deepEqual({ settings, users, groups, rules }, { settings: config.settings.length, users: 3, groups: 2, rules: 4 });
  const perPage = total / pages.length;
  assert.ok(logRows < total, `${logRows} of ${total}: the rows on the overwritten pages are gone`);
  assert.ok(logRows >= total - perPage * hit.length * 2, `${logRows} of ${total}: the rows on every other page are back`);
  assert.match(recovery.lost ?? '', /^about [\d,]+ log rows on unreadable pages$/);
  // the rows that came back are rows that were written, with their full-text entries and aggregates
  const back = db.prepare('SELECT url FROM log ORDER BY id').all() as { url: string }[];
  assert.equal(back.length, logRows);
  for (const r of back) assert.ok(urls.has(r.url), r.url);
  assert.equal((db.prepare("SELECT sum(requests) AS n FROM log_agg WHERE res = 60000 AND dim = 0").get() as { n: number }).n, logRows);
  assert.equal((db.prepare("SELECT count(*) AS n FROM log_fts WHERE log_fts MATCH 'site1*'").get() as { n: number }).n > 0, true);
  assert.equal(quickCheck(db), 'ok');
  db.close();

  const again = openDbRecovering(dir, { now: NOW });
  assert.equal(again.recovery, null, 'the fresh database is sound');
  assert.equal(quickCheck(again.db), 'ok');
  assert.deepEqual(configOf(again.db), config);
  again.db.close();
});

test('a page among the users overwritten: the users on other pages are kept (found through the name index), the report says some were lost, and the rest of the configuration is exact', () => {
  const { dir, config } = populated({ logRows: 100, users: 300 });
  const file = join(dir, DB_FILE);
  const { pages, pageSize } = leafPages(file, 'users');
  assert.ok(pages.length >= 4, `users span ${pages.length} leaf pages`);
  overwrite(file, (pages[1]! - 1) * pageSize, garbage(pageSize, 9));
  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.ok(recovery);
  const kept = configOf(db);
  assert.ok(kept.users.length > 0 && kept.users.length < 300, `${kept.users.length} of 300 users`);
  const original = new Map(config.users.map((u) => [u.id, u]));
  for (const u of kept.users) assert.deepEqual(u, original.get(u.id), 'each kept user is exactly as it was');
  assert.equal(recovery.recovered.users, kept.users.length);
  assert.match(recovery.lost ?? '', /some users \(on unreadable pages\)/);
  assert.deepEqual({ ...kept, users: [], group_members: [] }, { ...config, users: [], group_members: [] });
  assert.equal(recovery.recovered.logRows, 100);
  assert.equal(quickCheck(db), 'ok');
  db.close();
});

test('settings changed just before a crash live only in the WAL: the WAL is kept beside the damaged file and read with it', () => {
  const { dir } = populated({ logRows: 2000 });
  const file = join(dir, DB_FILE);
  const { pages, pageSize } = leafPages(file, 'log');
  // another process writes a setting and dies without closing: the change stays in gatehouse.db-wal
  const code = `
    const Database = require(${JSON.stringify(require_resolve_better_sqlite3())});
    const db = new Database(${JSON.stringify(file)});
    db.pragma('wal_autocheckpoint = 0');
    db.prepare("UPDATE settings SET value = '8888' WHERE key = 'http.port'").run();
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(statSync(`${file}-wal`).size > 0, 'the change is in the WAL');
  overwrite(file, (pages[Math.floor(pages.length / 2)]! - 1) * pageSize, garbage(pageSize, 3));
  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.ok(recovery);
  assert.equal(existsSync(`${recovery.keptAs}-wal`), true, 'the WAL is kept beside, paired by name');
  assert.equal((db.prepare("SELECT value FROM settings WHERE key = 'http.port'").get() as { value: string }).value, '8888');
  assert.ok(recovery.recovered.logRows > 1500 && recovery.recovered.logRows < 2000);
  db.close();
});

function require_resolve_better_sqlite3(): string {
  return join(process.cwd(), 'node_modules', 'better-sqlite3');
}

test('copying the log stops at its time budget, and the report says from which id rows were left in the kept file', () => {
  const { dir, config } = populated({ logRows: 3000 });
  const { db, report } = recoverDb(dir, 'test', { now: NOW, logBudgetMs: 0 });
  assert.deepEqual(configOf(db), config, 'the configuration comes first, whatever the budget');
  assert.equal(report.recovered.logRows, 0);
  assert.match(report.lost ?? '', /^log rows from id 1 on \(time limit; they are still in the kept file\)$/);
  db.close();
});

test('a sound database is left alone: no report, nothing moved', () => {
  const { dir, config } = populated({ logRows: 50 });
  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.equal(recovery, null);
  assert.deepEqual(configOf(db), config);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('damaged')), []);
  db.close();
});

test('a second recovery in the same second does not overwrite the first kept file', () => {
  const { dir } = populated({ logRows: 10 });
  overwrite(join(dir, DB_FILE), 0, garbage(100, 5));
  openDbRecovering(dir, { now: NOW }).db.close();
  overwrite(join(dir, DB_FILE), 0, garbage(100, 6));
  const { db, recovery } = openDbRecovering(dir, { now: NOW });
  assert.equal(recovery?.keptAs, join(dir, `${KEPT}-2`));
  db.close();
});

test('the start’s quick_check on a 100 MB database: the whole file is checked, and the time is printed', (t) => {
  const dir = freshDir();
  const db = openDb(dir);
  // rows with long URLs fill 100 MB in seconds (LogWriter would take twenty): quick_check's
  // cost is in pages, the log table's and its indexes'
  const fill = db.prepare(`
    WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 20000)
    INSERT INTO log (ts, service, client_addr, client_port, user, method, url, host, port, status)
    SELECT 1767600000000 + (? * 20000 + i) * 50, 'http', '192.168.1.' || (i % 60), 40000 + i % 1000, '', 'GET',
      'http://site' || (i % 500) || '.com/' || hex(randomblob(600)), 'site' || (i % 500) || '.com', 80, 200
    FROM k`);
  for (let b = 0; b < 20 && statSync(join(dir, DB_FILE)).size + (existsSync(join(dir, `${DB_FILE}-wal`)) ? statSync(join(dir, `${DB_FILE}-wal`)).size : 0) < 100e6; b++) {
    fill.run(b);
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  db.close();
  const size = statSync(join(dir, DB_FILE)).size;
  assert.ok(size >= 100e6, `${size} bytes`);
  const r = checkDb(join(dir, DB_FILE));
  assert.equal(r.ok, true);
  assert.ok(r.ok && r.fullCheck, 'up to FULL_CHECK_MAX_BYTES the whole file is checked');
  if (r.ok) t.diagnostic(`quick_check of a ${(size / 1e6).toFixed(0)} MB database at start: ${r.ms.toFixed(0)} ms (page cache warm)`);
  const sampled = checkDb(join(dir, DB_FILE), { fullCheckMaxBytes: 1 });
  assert.ok(sampled.ok && !sampled.fullCheck);
  if (sampled.ok) t.diagnostic(`configuration tables only, log sampled: ${sampled.ms.toFixed(0)} ms`);
});
