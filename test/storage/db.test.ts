/**
 * openDb's failures in one line (main/storage/db.ts): a data directory that
 * cannot be created (a file in the way), written (EACCES, a read-only file
 * system) or grown (a full disk), a file that is not a database, a schema from
 * a newer Gatehouse: each is a GatehouseError E_STORAGE whose message names the
 * path and what to do, never a raw SqliteError. Root passes permission bits,
 * so a read-only or full disk is a real tmpfs mounted for the test, and "no
 * permission" is a child process run as nobody.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GatehouseError } from '../../main/contract/errors.js';
import { DB_FILE, isDamageError, openDb } from '../../main/storage/db.js';
import { MIGRATIONS } from '../../main/storage/migrations.js';
import { cannotMountTmpfs } from '../helpers/tmpfs.js';

const isRoot = process.getuid?.() === 0;
const NOT_ROOT = !isRoot && 'needs root (mounts a tmpfs; runs a child as nobody)';
/** the tests that mount a tmpfs also need the right to mount (not every container has it) */
const NO_MOUNT = NOT_ROOT || cannotMountTmpfs();

const root = mkdtempSync(join(tmpdir(), 'gh-db-'));
// nobody must be able to reach the directories of the permission test
chmodSync(root, 0o755);
const mounts: string[] = [];
after(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const fresh = (name = 'd') => join(root, `${name}${++n}`);

function mountTmpfs(options: string): string {
  const dir = fresh('mnt');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

function openError(dataDir: string, opts?: { readonly?: boolean }): GatehouseError {
  try {
    openDb(dataDir, opts).close();
  } catch (err) {
    assert.ok(err instanceof GatehouseError, `a raw error escaped: ${String(err)}`);
    assert.equal(err.code, 'E_STORAGE');
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err;
  }
  assert.fail(`openDb(${dataDir}) did not fail`);
}

test('a data directory whose parent is a regular file is E_STORAGE naming the file in the way (ENOTDIR)', () => {
  const file = fresh('file');
  writeFileSync(file, 'not a directory');
  const dir = join(file, 'data');
  assert.equal(openError(dir).message, `cannot use the data directory ${dir} (ENOTDIR: ${file} is a file): choose another with --data-dir`);
});

test('a data directory that is itself a regular file is E_STORAGE saying so', () => {
  const file = fresh('file');
  writeFileSync(file, 'x');
  assert.match(openError(file).message, new RegExp(`^cannot use the data directory ${file} \\((EEXIST|ENOTDIR): ${file} is a file, not a directory\\): choose another with --data-dir$`));
});

test('a data directory on a read-only file system is E_STORAGE (EROFS), whether it exists, holds a database, or is still to be created', { skip: NO_MOUNT }, () => {
  const mnt = mountTmpfs('size=1m');
  const withDb = join(mnt, 'data');
  openDb(withDb).close();
  execFileSync('mount', ['-o', 'remount,ro', mnt]);
  const ro = (d: string, verb: string) => `cannot ${verb} the data directory ${d} (EROFS: the file system is read-only): choose another with --data-dir`;
  assert.equal(openError(withDb).message, ro(withDb, 'write to'));
  assert.equal(openError(mnt).message, ro(mnt, 'write to'));
  const toCreate = join(mnt, 'new', 'data');
  assert.equal(openError(toCreate).message, ro(toCreate, 'create'));
});

test('a full disk is E_STORAGE saying the data directory’s disk is full (ENOSPC), not SQLITE_FULL', { skip: NO_MOUNT }, () => {
  const mnt = mountTmpfs('size=64k');
  try {
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(256 * 1024));
  } catch {
    // filled up to the last block: what we wanted
  }
  const dir = join(mnt, 'data');
  const err = openError(dir);
  assert.equal(err.message, `the disk of the data directory ${dir} is full (ENOSPC): free some space or choose another with --data-dir`);
});

test('a data directory this user may not write is E_STORAGE (EACCES) naming it and what to do', () => {
  const dir = fresh('locked');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o555);
  const want = `cannot write to the data directory ${dir} (EACCES): choose another with --data-dir or fix its permissions`;
  if (!isRoot) {
    assert.equal(openError(dir).message, want);
    return;
  }
  // root writes anywhere: ask as nobody, in a child process
  const code = `
    import { openDb } from ${JSON.stringify(new URL('../../main/storage/db.ts', import.meta.url).href)};
    try { openDb(${JSON.stringify(dir)}).close(); console.log(JSON.stringify({ opened: true })); }
    catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message })); }
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    uid: 65534,
    gid: 65534,
    cwd: process.cwd(),
    env: { ...process.env, HOME: tmpdir() },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { name: 'GatehouseError', code: 'E_STORAGE', message: want });
});

test('a database file this user may not write is E_STORAGE naming the file', { skip: isRoot && 'root writes any file; covered by the directory case' }, () => {
  const dir = fresh();
  openDb(dir).close();
  chmodSync(join(dir, DB_FILE), 0o444);
  assert.equal(openError(dir).message, `cannot write to the database ${join(dir, DB_FILE)} (EACCES): fix its permissions or choose another data directory with --data-dir`);
});

test('a file that is not a database is E_STORAGE "damaged", naming it, read-write and read-only alike; the cause says it is damage', () => {
  const dir = fresh();
  mkdirSync(dir);
  const file = join(dir, DB_FILE);
  writeFileSync(file, 'these are not the bytes of a database, and there are enough of them to fill a header\n'.repeat(4));
  const want = `the database ${file} is damaged (file is not a database): the gateway sets it aside and recovers what it can when it starts (gatehouse serve), or restore a backup`;
  const err = openError(dir);
  assert.equal(err.message, want);
  assert.equal(isDamageError(err), true);
  assert.equal(openError(dir, { readonly: true }).message, want);
});

test('a database from a newer Gatehouse is E_STORAGE naming the file and saying to update', () => {
  const dir = fresh();
  openDb(dir).close();
  const db = new Database(join(dir, DB_FILE));
  db.pragma(`user_version = ${MIGRATIONS.length + 3}`);
  db.close();
  assert.equal(
    openError(dir).message,
    `the database ${join(dir, DB_FILE)}: database schema version ${MIGRATIONS.length + 3} is newer than this Gatehouse knows (${MIGRATIONS.length}); update Gatehouse`,
  );
});

test('a healthy data directory still opens, created when missing, in WAL mode with every migration', () => {
  const dir = join(fresh(), 'nested', 'data');
  const db = openDb(dir);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  db.close();
});
