/**
 * Opening the data directory's SQLite file (main/storage/db.ts) and the
 * numbered migrations (main/storage/migrations.ts), on real files in a temp dir:
 * applied once, user_version bumped, reopening changes nothing, a newer schema
 * is refused with a clear message, a failing migration leaves nothing behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DB_FILE, dataVersion, openDb } from '../../main/storage/db.js';
import { MIGRATIONS, migrate } from '../../main/storage/migrations.js';

const root = mkdtempSync(join(tmpdir(), 'gh-migrations-'));
let n = 0;
const freshDir = () => join(root, `d${++n}`);
after(() => rmSync(root, { recursive: true, force: true }));

function tables(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((r) => r.name);
}

test('creates the data directory and the database file, in WAL mode, at the latest schema version', () => {
  const dir = join(freshDir(), 'nested', 'deeper');
  const db = openDb(dir);
  try {
    assert.ok(existsSync(join(dir, DB_FILE)));
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    for (const t of ['log', 'meta', 'settings']) assert.ok(tables(db).includes(t), t);
  } finally {
    db.close();
  }
});

test('reopening an up-to-date database changes neither the schema version nor the data', () => {
  const dir = freshDir();
  const db1 = openDb(dir);
  db1.prepare("INSERT INTO meta(key, value) VALUES ('k', 'v')").run();
  db1.close();
  const db2 = openDb(dir);
  try {
    assert.equal(db2.pragma('user_version', { simple: true }), MIGRATIONS.length);
    assert.deepEqual(db2.prepare('SELECT key, value FROM meta').all(), [{ key: 'k', value: 'v' }]);
    // running the migrations again on the same connection is a no-op too
    const before = tables(db2);
    assert.equal(migrate(db2), MIGRATIONS.length);
    assert.deepEqual(tables(db2), before);
  } finally {
    db2.close();
  }
});

test('migrates an empty in-memory database to the latest version', () => {
  const db = new Database(':memory:');
  try {
    assert.equal(db.pragma('user_version', { simple: true }), 0);
    assert.equal(migrate(db), MIGRATIONS.length);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  } finally {
    db.close();
  }
});

test('refuses a database whose schema is newer than this Gatehouse, naming both versions, and leaves it as it was', () => {
  const dir = freshDir();
  openDb(dir).close();
  const raw = new Database(join(dir, DB_FILE));
  raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
  raw.close();
  assert.throws(() => openDb(dir), (e: Error) => {
    assert.match(e.message, new RegExp(`schema version ${MIGRATIONS.length + 5} is newer than this Gatehouse knows \\(${MIGRATIONS.length}\\)`));
    assert.match(e.message, /update Gatehouse/);
    return true;
  });
  const check = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    assert.equal(check.pragma('user_version', { simple: true }), MIGRATIONS.length + 5);
  } finally {
    check.close();
  }
});

test('a migration that fails is rolled back whole: no tables from it, user_version unchanged', () => {
  const dir = freshDir();
  mkdirSync(dir);
  // a stray "log" table makes migration 1 fail halfway, after "settings" and "meta" were created
  const raw = new Database(join(dir, DB_FILE));
  raw.exec('CREATE TABLE log (x)');
  raw.close();
  assert.throws(() => openDb(dir), /table log already exists/);
  const check = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    assert.equal(check.pragma('user_version', { simple: true }), 0);
    assert.deepEqual(tables(check), ['log']);
  } finally {
    check.close();
  }
});

test('data_version changes when another connection commits, not when this one does', () => {
  const dir = freshDir();
  const a = openDb(dir);
  const b = openDb(dir);
  try {
    const v0 = dataVersion(a);
    a.prepare("INSERT INTO meta(key, value) VALUES ('own', '1')").run();
    assert.equal(dataVersion(a), v0);
    b.prepare("INSERT INTO meta(key, value) VALUES ('other', '1')").run();
    assert.notEqual(dataVersion(a), v0);
  } finally {
    a.close();
    b.close();
  }
});
