/**
 * One gateway per data directory. A running gateway holds
 * <data dir>/gatehouse.lock: created with O_EXCL ("wx"), it holds JSON
 * {pid, adminUrl, startedAt, host, nonce, boot, startTicks}, so a second
 * gateway on the same directory is refused (E_LOCKED) with a message that
 * names the first. Node has no OS-level exclusive lock, so a lock left by a
 * gateway that died is recognised as stale and taken over: its PID is not
 * alive on this host, or (Linux) the PID now belongs to a process started
 * after the lock, or the machine has rebooted since. Owns the lock file and
 * nothing else: the CLI's short edits share the database through SQLite's own
 * locking and take no lock.
 *
 * Takeover: the stale file is renamed aside under a unique name and compared
 * with what was read (if another gateway replaced it meanwhile, it is put
 * back), then the lock is created with O_EXCL like any other. Writing a new
 * file and renaming it over the old one would let two gateways that both saw
 * the stale lock each believe they won; O_EXCL lets exactly one win.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { GatehouseError } from '../contract/errors.js';
import { storageError } from './db.js';

export const LOCK_FILE = 'gatehouse.lock';

export interface DataDirLockInfo {
  pid: number;
  adminUrl?: string | null;
}

/** What the lock file holds. */
export interface LockRecord {
  pid: number;
  adminUrl: string | null;
  startedAt: number;
  host: string;
  /** tells this acquisition's file from any other with the same PID */
  nonce: string;
  /** Linux: the kernel's boot id, and the holder's start time in clock ticks since boot (/proc/<pid>/stat) */
  boot?: string;
  startTicks?: number;
}

export interface DataDirLock {
  /** the lock file */
  readonly path: string;
  /** Rewrites the lock with new details (the admin URL once it is known); false when the lock is no longer ours. */
  update(info: Partial<DataDirLockInfo>): boolean;
  /** Removes the lock if it is still ours; again is a no-op. Also done at process exit. */
  release(): void;
}

/** Locks this process holds now, path → nonce: a lock naming our PID that is not here was left by an earlier process with the same PID (a container restart). */
const held = new Map<string, string>();

/** Give up on a lock file that keeps changing under us after this long (ms). */
const ACQUIRE_MS = 3000;
/** A lock file younger than this whose JSON is incomplete is being written by its creator (ms). */
const PARTIAL_MS = 1000;
const RETRY_SLEEP_MS = 20;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function errnoOf(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

function linuxBootId(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Linux: when `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); undefined elsewhere or when gone. */
function linuxStartTicks(pid: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function parseRecord(text: string): LockRecord | null {
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    if (typeof r.pid !== 'number') return null;
    return {
      pid: r.pid,
      adminUrl: typeof r.adminUrl === 'string' ? r.adminUrl : null,
      startedAt: typeof r.startedAt === 'number' ? r.startedAt : 0,
      // written by hand or by an older version: this host, no nonce
      host: typeof r.host === 'string' ? r.host : hostname(),
      nonce: typeof r.nonce === 'string' ? r.nonce : '',
      boot: typeof r.boot === 'string' ? r.boot : undefined,
      startTicks: typeof r.startTicks === 'number' ? r.startTicks : undefined,
    };
  } catch {
    return null;
  }
}

/** The lock file as it is now: its text, what it says (null if incomplete or garbage), its age; null when there is none. */
function readLock(path: string): { text: string; record: LockRecord | null; ageMs: number } | null {
  try {
    const text = readFileSync(path, 'utf8');
    const ageMs = Date.now() - statSync(path).mtimeMs;
    return { text, record: parseRecord(text), ageMs };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Whether the gateway a lock names may still be running (another host: assumed so, it cannot be asked). */
function holderAlive(path: string, r: LockRecord): boolean {
  if (r.host !== hostname()) return true;
  if (!Number.isInteger(r.pid) || r.pid <= 0) return false;
  if (r.pid === process.pid) return held.get(path) === r.nonce;
  const boot = linuxBootId();
  if (boot && r.boot && boot !== r.boot) return false;
  try {
    process.kill(r.pid, 0);
  } catch (err) {
    // EPERM: the process exists under another user
    if (errnoOf(err) === 'ESRCH') return false;
  }
  // the PID is alive, but is it still the one that took the lock? (PIDs are reused)
  if (boot && r.boot === boot && r.startTicks !== undefined) {
    const now = linuxStartTicks(r.pid);
    if (now !== undefined && now !== r.startTicks) return false;
  }
  return true;
}

export function lockedMessage(dataDir: string, r: Pick<LockRecord, 'pid' | 'adminUrl' | 'host'>): string {
  const where = r.host !== hostname() ? ` on host ${r.host}` : '';
  const admin = r.adminUrl ? `, admin ${r.adminUrl}` : '';
  return `another Gatehouse is already running on ${dataDir} (PID ${r.pid}${where}${admin}); stop it first or use --data-dir for a second one`;
}

/** Moves a stale lock out of the way, only if it is still the file we judged stale. */
function removeStale(path: string, staleText: string): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return; // another gateway removed it first
    throw err;
  }
  let text: string | null = null;
  try {
    text = readFileSync(aside, 'utf8');
  } catch {
    // unreadable: treat as changed, put it back
  }
  if (text !== staleText) {
    // another gateway took the lock between our read and our rename: put its lock back
    try {
      linkSync(aside, path);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') {
        try {
          renameSync(aside, path);
          return;
        } catch {
          // nothing more to do: the loop reads the lock again
        }
      }
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // already gone
  }
}

/**
 * Takes the data directory's lock for the gateway `info.pid`, or throws E_LOCKED naming
 * the gateway that holds it (E_STORAGE when the directory cannot be written).
 */
export function acquireDataDirLock(dataDir: string, info: DataDirLockInfo): DataDirLock {
  const dir = resolve(dataDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw storageError(dir, err);
  }
  const path = join(dir, LOCK_FILE);
  let mine: LockRecord = {
    pid: info.pid,
    adminUrl: info.adminUrl ?? null,
    startedAt: Date.now(),
    host: hostname(),
    nonce: randomBytes(8).toString('hex'),
    boot: linuxBootId(),
    startTicks: linuxStartTicks(info.pid),
  };
  const deadline = Date.now() + ACQUIRE_MS;
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(mine) + '\n', { flag: 'wx' });
      break;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw storageError(dir, err);
    }
    let seen;
    try {
      seen = readLock(path);
    } catch (err) {
      throw storageError(dir, err);
    }
    if (!seen) continue; // released meanwhile
    if (!seen.record) {
      // its creator is between creating and writing it; garbage that stays is stale
      if (seen.ageMs < PARTIAL_MS) {
        sleepSync(RETRY_SLEEP_MS);
        continue;
      }
    } else if (holderAlive(path, seen.record)) {
      throw new GatehouseError('E_LOCKED', lockedMessage(dir, seen.record));
    }
    try {
      removeStale(path, seen.text);
    } catch (err) {
      throw storageError(dir, err);
    }
  }
  let taken = false;
  try {
    taken = readLock(path)?.record?.nonce === mine.nonce;
  } catch {
    // unreadable: not taken
  }
  if (!taken) {
    throw new GatehouseError('E_LOCKED', `could not take the lock ${path}: it kept changing for ${ACQUIRE_MS / 1000} s; is another Gatehouse starting on ${dir}?`);
  }
  held.set(path, mine.nonce);

  const stillOurs = (): boolean => {
    try {
      return readLock(path)?.record?.nonce === mine.nonce;
    } catch {
      return false;
    }
  };
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    if (held.get(path) === mine.nonce) held.delete(path);
    if (!stillOurs()) return;
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  // a gateway that exits without stopping (an uncaught error) leaves no lock behind; a kill does, and it is stale
  process.on('exit', release);
  return {
    path,
    update(next) {
      if (released || !stillOurs()) return false;
      mine = { ...mine, ...(next.pid !== undefined ? { pid: next.pid, startTicks: linuxStartTicks(next.pid) } : {}), ...(next.adminUrl !== undefined ? { adminUrl: next.adminUrl } : {}) };
      // whole or not at all: a reader never sees half of it
      const tmp = `${path}.${mine.nonce}.tmp`;
      writeFileSync(tmp, JSON.stringify(mine) + '\n');
      renameSync(tmp, path);
      return true;
    },
    release,
  };
}

/** What the lock of `dataDir` says, if there is one (`gatehouse status` may show it). */
export function readDataDirLock(dataDir: string): LockRecord | null {
  return readLock(join(resolve(dataDir), LOCK_FILE))?.record ?? null;
}
