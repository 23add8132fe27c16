/**
 * Opens the one SQLite file of a data directory: WAL mode, a busy timeout so
 * the CLI and a running gateway can share it, and the migrations applied.
 *
 * Also owns what a storage failure says. Every failure to open (a directory
 * that cannot be created or written, a read-only file system, a full disk, a
 * file that is not a database) is a GatehouseError E_STORAGE with one line
 * that names the path and what to do, never a raw SqliteError: SQLite's own
 * codes say little (SQLITE_CANTOPEN for most of them), so the directory is
 * probed with a real write to learn the errno. Setting a damaged database
 * aside and recovering it is recover.ts's.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GatehouseError } from '../contract/errors.js';
import { migrate } from './migrations.js';

export type Db = Database.Database;

export const DB_FILE = 'gatehouse.db';

export function openDb(dataDir: string, opts: { readonly?: boolean } = {}): Db {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw storageError(dataDir, err);
  }
  let db: Db;
  try {
    db = new Database(join(dataDir, DB_FILE), { readonly: opts.readonly ?? false });
  } catch (err) {
    throw storageError(dataDir, err);
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a power loss may drop the last transactions, never corrupts
      db.pragma('synchronous = NORMAL');
      migrate(db);
    } else {
      // a file that is not a database fails here rather than at the caller's first query
      db.pragma('user_version', { simple: true });
    }
  } catch (err) {
    db.close();
    throw storageError(dataDir, err);
  }
  return db;
}

/** Changes whenever another connection commits: a cheap way to notice CLI edits. */
export function dataVersion(db: Db): number {
  return db.pragma('data_version', { simple: true }) as number;
}

export interface ConfigVersions {
  settings: number;
  users: number;
  rules: number;
  /** port mappings, chains and routes (migration 7) */
  tunnels: number;
}

/** The versions of settings, users, rules and tunnels (bumped by triggers, migrations 6 and 7). */
export function configVersions(db: Db): ConfigVersions {
  const out: ConfigVersions = { settings: 0, users: 0, rules: 0, tunnels: 0 };
  for (const r of db.prepare<[], { part: keyof ConfigVersions; v: number }>('SELECT part, v FROM config_version').all()) out[r.part] = r.v;
  return out;
}

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

function messageOf(err: unknown): string {
  return String((err as Error | null)?.message ?? err);
}

/** Whether SQLite says the file is damaged or not a database at all (the error itself, or the cause of an E_STORAGE). */
export function isDamageError(err: unknown): boolean {
  const code = codeOf(err);
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return err instanceof GatehouseError && cause !== undefined && isDamageError(cause);
}

/**
 * A short label for why writes fail (the log writer shows it: "log paused: disk full").
 * SQLite's extended codes name the condition; errno codes come from the file system.
 */
export function storageFailureReason(err: unknown): string {
  const code = codeOf(err);
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return 'disk full';
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS') return 'read-only';
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return 'disk I/O error';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'database busy';
  if (isDamageError(err)) return 'database damaged';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'cannot open the database';
  if (code === 'EACCES' || code === 'EPERM') return 'no permission';
  const msg = messageOf(err);
  return msg.length > 80 ? `${msg.slice(0, 77)}...` : msg;
}

/** The first existing path at or above `p` that is not a directory, if any (why mkdir says ENOTDIR or EEXIST). */
function fileInTheWay(p: string): string | null {
  let cur = resolve(p);
  for (let i = 0; i < 64; i++) {
    try {
      if (!statSync(cur).isDirectory()) return cur;
    } catch {
      // missing (or unreadable): look further up
    }
    const up = dirname(cur);
    if (up === cur) return null;
    cur = up;
  }
  return null;
}

/** Why a file cannot be created in the directory `dir` (its errno), or null when one can. */
function probeDir(dir: string): string | null {
  const probe = join(dir, `.gatehouse-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
    return null;
  } catch (err) {
    return codeOf(err) || 'EIO';
  }
}

/** The nearest directory at or above `p` that exists. */
function nearestExisting(p: string): string {
  let cur = resolve(p);
  for (let i = 0; i < 64; i++) {
    if (existsSync(cur)) return cur;
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return cur;
}

/**
 * Why the data directory or its database cannot be written, asked of the file system:
 * the errno of creating a file in the directory (or, when it does not exist, in the
 * nearest one above it), then of opening the database for writing; null when all work
 * (the failure lies elsewhere).
 */
function probeWrite(dataDir: string): { errno: string; path: string } | null {
  let st;
  try {
    st = statSync(dataDir);
  } catch (err) {
    const errno = codeOf(err) || 'ENOENT';
    if (errno !== 'ENOENT') return { errno, path: dataDir };
    const above = nearestExisting(dataDir);
    return { errno: statSync(above).isDirectory() ? (probeDir(above) ?? 'ENOENT') : 'ENOTDIR', path: above };
  }
  if (!st.isDirectory()) return { errno: 'ENOTDIR', path: dataDir };
  const errno = probeDir(dataDir);
  if (errno) return { errno, path: dataDir };
  const file = join(dataDir, DB_FILE);
  if (existsSync(file)) {
    try {
      closeSync(openSync(file, 'r+'));
    } catch (err) {
      return { errno: codeOf(err) || 'EIO', path: file };
    }
  }
  return null;
}

function storage(message: string, cause: unknown): GatehouseError {
  const e = new GatehouseError('E_STORAGE', message);
  (e as { cause?: unknown }).cause = cause;
  return e;
}

/**
 * The one-line E_STORAGE error for a failure to open or write the data directory
 * `dataDir` (an errno from mkdir, a SqliteError from opening or migrating).
 */
export function storageError(dataDir: string, err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const dir = resolve(dataDir);
  const file = join(dir, DB_FILE);
  const code = codeOf(err);
  const msg = messageOf(err);
  if (isDamageError(err)) {
    return storage(
      `the database ${file} is damaged (${msg}): the gateway sets it aside and recovers what it can when it starts (gatehouse serve), or restore a backup`,
      err,
    );
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return storage(`the database ${file} is locked by another program (${code}): close that program and try again`, err);
  }
  if (!code) {
    // not from SQLite nor the file system: a migration's own refusal (a schema newer than this Gatehouse)
    return storage(`the database ${file}: ${msg}`, err);
  }
  // SQLite's codes (CANTOPEN, READONLY, IOERR) hide the cause, and so does mkdir's ENOENT: ask the file system
  const probed = code === 'SQLITE_FULL' ? { errno: 'ENOSPC', path: dir } : code.startsWith('SQLITE_') || code === 'ENOENT' ? probeWrite(dir) : { errno: code, path: dir };
  const errno = probed?.errno ?? code;
  const onFile = probed?.path === file;
  const verb = existsSync(dir) ? 'write to' : 'create';
  switch (errno) {
    case 'EACCES':
    case 'EPERM':
      if (onFile) return storage(`cannot write to the database ${file} (${errno}): fix its permissions or choose another data directory with --data-dir`, err);
      return storage(`cannot ${verb} the data directory ${dir} (${errno}${probed && probed.path !== dir ? ` in ${probed.path}` : ''}): choose another with --data-dir or fix its permissions`, err);
    case 'EROFS':
      return storage(`cannot ${verb} the data directory ${dir} (EROFS: the file system is read-only): choose another with --data-dir`, err);
    case 'ENOSPC':
    case 'EDQUOT':
      return storage(`the disk of the data directory ${dir} is full (${errno}): free some space or choose another with --data-dir`, err);
    case 'ENOTDIR':
    case 'EEXIST': {
      const blocker = fileInTheWay(dir);
      const what = blocker === dir ? `${dir} is a file, not a directory` : blocker ? `${blocker} is a file` : 'a part of the path is a file';
      return storage(`cannot use the data directory ${dir} (${errno}: ${what}): choose another with --data-dir`, err);
    }
    case 'ENOENT':
      return storage(`cannot create the data directory ${dir} (ENOENT): choose another with --data-dir`, err);
    default:
      return storage(`cannot open the database ${file} (${code}: ${msg}): choose another data directory with --data-dir`, err);
  }
}
