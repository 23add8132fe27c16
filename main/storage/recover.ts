/**
 * A damaged database, found when the gateway starts, set aside and recovered
 * as far as it can be read. openDbRecovering() checks the file before opening
 * it: SQLite's header, PRAGMA quick_check (bounded, see checkDb), and a read
 * of every configuration table. On damage it moves the file (with its -wal
 * and -shm) aside as gatehouse.db.damaged-<YYYYMMDD-HHMMSS>, creates a fresh
 * database with the migrations, and copies what it can read from the old one:
 * the configuration first (settings, meta with the admin token, users, groups
 * and their members, rules), which is never lost while readable; then the log
 * rows, range by range, skipping unreadable pages, within a time budget. The
 * report says what was kept, where the damaged file is, and what was lost.
 *
 * Owns the check and the recovery; opening and its errors are db.ts's. Only the
 * process that holds the data directory's lock (lock.ts) may call this: the CLI
 * opens with openDb, which refuses a damaged file with E_STORAGE instead.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, existsSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE, isDamageError, openDb, storageError, type Db } from './db.js';
import type { LogRow } from '../contract/index.js';
import { LogWriter, toTuple, type RowTuple } from './log-writer.js';

export interface RecoveryReport {
  damaged: true;
  /** what was found wrong: "the file does not start with SQLite's header", quick_check's first finding, … */
  reason: string;
  /** where the damaged file now is (its -wal and -shm beside it, same name) */
  keptAs: string;
  recovered: { settings: number; users: number; groups: number; rules: number; logRows: number };
  /** what could not be read, when anything could not */
  lost?: string;
}

export interface RecoverOptions {
  /**
   * Databases up to this size get a whole-file PRAGMA quick_check at start; bigger ones get
   * it on the configuration tables only, and a read of the newest and oldest log rows
   * (see checkDb). Default FULL_CHECK_MAX_BYTES.
   */
  fullCheckMaxBytes?: number;
  /** time allowed for copying log rows out of a damaged file (ms, default 20 s) */
  logBudgetMs?: number;
  /** the clock that names the damaged file */
  now?: () => Date;
}

/**
 * quick_check reads every page: about 0.45 s for a 100 MB database of log rows with the
 * file in the page cache (2 cores, 2026; test/storage/recover.test.ts prints it), more from a
 * cold disk. Past this size the start would wait a second or more for it, so the log's
 * pages are only sampled (see checkDb). integrity_check, which also checks every index
 * entry against its row, took 3 s on the same file: not at start.
 */
export const FULL_CHECK_MAX_BYTES = 200 * 1024 * 1024;
const LOG_BUDGET_MS = 20_000;

const SQLITE_MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');
const HEADER_BYTES = 100;

/** The configuration tables, copied first and in this order (group_members refers to users and groups). */
const CONFIG_TABLES = [
  { name: 'settings', rowid: false },
  { name: 'meta', rowid: false },
  { name: 'users', rowid: true },
  { name: 'groups', rowid: true },
  { name: 'group_members', rowid: false },
  { name: 'rules', rowid: true },
] as const;
type ConfigTable = (typeof CONFIG_TABLES)[number]['name'];

/** Log ids read per query, and the range below which ids are read one by one around a bad page. */
const LOG_CHUNK = 2000;
const LOG_POINT_RANGE = 64;

export type CheckResult = { ok: true; fullCheck: boolean; ms: number } | { ok: false; reason: string };

function messageOf(err: unknown): string {
  return String((err as Error | null)?.message ?? err);
}

function readHeader(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEADER_BYTES);
    const n = readSync(fd, buf, 0, HEADER_BYTES, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether the rest of a header whose first 16 bytes are wrong still describes a database
 * (page size a power of two, the fixed payload fractions 64/32/32 at bytes 21-23): then
 * only the magic string was overwritten, and a copy with it restored can be read.
 */
function headerRepairable(h: Buffer): boolean {
  if (h.length < HEADER_BYTES) return false;
  const raw = h.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  const pow2 = pageSize >= 512 && pageSize <= 65536 && (pageSize & (pageSize - 1)) === 0;
  return pow2 && h[21] === 64 && h[22] === 32 && h[23] === 32;
}

function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/**
 * Checks a database file before the gateway opens it; ok when there is none yet.
 * Up to `fullCheckMaxBytes`, PRAGMA quick_check(1) over the whole file (it stops at the
 * first finding). Bigger: quick_check of each configuration table (a few pages) and a read
 * of the newest and oldest log rows; damage elsewhere in the log is then found when it is
 * read (a query fails with "malformed"), not at start, but the start does not wait seconds
 * for a file of gigabytes. Every configuration table is read whole either way.
 * Throws E_STORAGE when the file cannot be opened at all for a reason other than damage.
 */
export function checkDb(file: string, opts: RecoverOptions = {}): CheckResult {
  const t0 = performance.now();
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { ok: true, fullCheck: false, ms: 0 };
  }
  // an empty file is what SQLite leaves when it created one and wrote nothing: a new database
  if (size === 0) return { ok: true, fullCheck: false, ms: 0 };
  let header: Buffer;
  try {
    header = readHeader(file);
  } catch (err) {
    throw storageError(join(file, '..'), err);
  }
  if (header.length < HEADER_BYTES || !header.subarray(0, 16).equals(SQLITE_MAGIC)) {
    return { ok: false, reason: "the file does not start with SQLite's header" };
  }
  const fullCheck = size <= (opts.fullCheckMaxBytes ?? FULL_CHECK_MAX_BYTES);
  let db: Database.Database | null = null;
  let step = 'opening it';
  try {
    // read-only: closing it must not checkpoint the WAL into a file that may be damaged (it is the evidence)
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    step = 'quick_check';
    const findings: string[] = [];
    if (fullCheck) {
      for (const r of db.pragma('quick_check(1)') as { quick_check: string }[]) findings.push(r.quick_check);
    } else {
      for (const t of CONFIG_TABLES) {
        if (!tableExists(db, t.name)) continue;
        for (const r of db.pragma(`quick_check("${t.name}")`) as { quick_check: string }[]) findings.push(r.quick_check);
      }
    }
    const bad = findings.filter((f) => f !== 'ok');
    // its findings span lines ("*** in database main ***\nTree 4 page 336: …"): the report is one line
    if (bad.length > 0) return { ok: false, reason: `quick_check: ${bad[0]!.replace(/\*\*\* in database \w+ \*\*\*/, '').replace(/\s+/g, ' ').trim()}` };
    for (const t of CONFIG_TABLES) {
      step = `reading ${t.name}`;
      if (tableExists(db, t.name)) db.prepare(`SELECT * FROM "${t.name}"`).all();
    }
    if (!fullCheck && tableExists(db, 'log')) {
      step = 'reading the log';
      db.prepare('SELECT * FROM log ORDER BY id DESC LIMIT 500').all();
      db.prepare('SELECT * FROM log ORDER BY id ASC LIMIT 500').all();
    }
    return { ok: true, fullCheck, ms: performance.now() - t0 };
  } catch (err) {
    if (isDamageError(err)) return { ok: false, reason: `${step}: ${messageOf(err)}` };
    throw storageError(join(file, '..'), err);
  } finally {
    db?.close();
  }
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** gatehouse.db.damaged-<stamp>, or -2, -3 … when a file of that name is there already. */
function asideName(file: string, now: Date): string {
  const base = `${file}.damaged-${stamp(now)}`;
  for (let i = 1; i < 1000; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    if (!existsSync(name) && !existsSync(`${name}-wal`)) return name;
  }
  return `${base}-${process.pid}`;
}

/** Moves the database and its -wal and -shm aside, keeping their names paired (SQLite finds X-wal beside X). */
function setAside(file: string, keptAs: string): void {
  renameSync(file, keptAs);
  for (const sfx of ['-wal', '-shm']) {
    if (existsSync(file + sfx)) renameSync(file + sfx, keptAs + sfx);
  }
}

interface Source {
  db: Database.Database | null;
  /** a copy made readable (header restored), removed after the recovery */
  scratch: string | null;
}

/** The damaged file opened read-only (never written: it is the evidence), through a repaired copy when only its magic was overwritten. */
function openSource(keptAs: string): Source {
  let path = keptAs;
  let scratch: string | null = null;
  try {
    const h = readHeader(keptAs);
    if (h.length >= 16 && !h.subarray(0, 16).equals(SQLITE_MAGIC) && headerRepairable(h)) {
      scratch = `${keptAs}.readable`;
      copyFileSync(keptAs, scratch);
      if (existsSync(`${keptAs}-wal`)) copyFileSync(`${keptAs}-wal`, `${scratch}-wal`);
      const fd = openSync(scratch, 'r+');
      try {
        writeSync(fd, SQLITE_MAGIC, 0, 16, 0);
      } finally {
        closeSync(fd);
      }
      path = scratch;
    }
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return { db, scratch };
  } catch {
    return { db: null, scratch };
  }
}

function removeScratch(s: Source): void {
  s.db?.close();
  if (!s.scratch) return;
  for (const sfx of ['', '-wal', '-shm']) rmSync(s.scratch + sfx, { force: true });
}

type Row = Record<string, unknown>;

/**
 * Every row of `table` that can be read: a plain scan first; when it stops at a bad page,
 * the rows it did not reach are looked up by rowid through any index still readable
 * (a rowid table's indexes live on other pages). `complete` is false when rows were missed.
 */
function readTable(src: Database.Database, table: ConfigTable, rowid: boolean): { rows: Row[]; complete: boolean; present: boolean } {
  let present: boolean;
  try {
    present = tableExists(src, table);
  } catch {
    present = true; // the schema itself is unreadable: try the table anyway
  }
  if (!present) return { rows: [], complete: true, present: false };
  const rows: Row[] = [];
  const seen = new Set<number>();
  try {
    for (const r of src.prepare(`SELECT ${rowid ? 'rowid AS "__rowid", ' : ''}* FROM "${table}"`).iterate() as Iterable<Row>) {
      rows.push(r);
      if (rowid) seen.add(Number(r.__rowid));
    }
    return { rows, complete: true, present };
  } catch {
    // a bad page: what the scan got so far is kept
  }
  if (!rowid) return { rows, complete: false, present };
  let complete = false;
  try {
    const byId = src.prepare(`SELECT rowid AS "__rowid", * FROM "${table}" WHERE rowid = ?`);
    for (const idx of src.pragma(`index_list("${table}")`) as { name: string }[]) {
      const ids: number[] = [];
      let whole = true;
      try {
        for (const r of src.prepare(`SELECT rowid AS id FROM "${table}" INDEXED BY "${idx.name}"`).iterate() as Iterable<{ id: number }>) ids.push(r.id);
      } catch {
        whole = false;
      }
      let missed = 0;
      for (const id of ids) {
        if (seen.has(id)) continue;
        try {
          const r = byId.get(id) as Row | undefined;
          if (r) {
            rows.push(r);
            seen.add(id);
          }
        } catch {
          missed++;
        }
      }
      // an index read whole, with every row it names found, accounts for the whole table
      if (whole && missed === 0) complete = true;
    }
  } catch {
    // no readable index: the scan's rows are all there is
  }
  return { rows, complete, present };
}

function columnsOf(db: Db, table: string): string[] {
  return (db.pragma(`table_info("${table}")`) as { name: string }[]).map((c) => c.name);
}

/** Inserts `rows` into the fresh database's `table`, the columns both know; returns how many went in. */
function insertRows(db: Db, table: string, rows: Row[]): number {
  const cols = columnsOf(db, table).filter((c) => rows.length > 0 && c in rows[0]!);
  if (cols.length === 0) return 0;
  const stmt = db.prepare(`INSERT OR REPLACE INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
  let n = 0;
  for (const r of rows) {
    try {
      stmt.run(cols.map((c) => r[c]));
      n++;
    } catch {
      // a row that no longer fits (a member whose user was lost, a damaged value): skipped
    }
  }
  return n;
}

/** The log table's columns (migrations 1 and 3) and the row fields they hold. */
const LOG_COLUMNS: readonly [column: string, key: keyof Omit<LogRow, 'id'>, type: 'number' | 'string'][] = [
  ['ts', 'ts', 'number'],
  ['service', 'service', 'string'],
  ['client_addr', 'clientAddr', 'string'],
  ['client_port', 'clientPort', 'number'],
  ['user', 'user', 'string'],
  ['method', 'method', 'string'],
  ['url', 'url', 'string'],
  ['host', 'host', 'string'],
  ['port', 'port', 'number'],
  ['status', 'status', 'number'],
  ['bytes_up', 'bytesUp', 'number'],
  ['bytes_down', 'bytesDown', 'number'],
  ['packets_up', 'packetsUp', 'number'],
  ['packets_down', 'packetsDown', 'number'],
  ['duration_ms', 'durationMs', 'number'],
  ['allowed', 'allowed', 'number'],
  ['rule', 'rule', 'string'],
  ['error', 'error', 'string'],
  ['chain', 'chain', 'string'],
  ['mapping', 'mapping', 'string'],
];

/** A log row read from a damaged file as a tuple, or null when a field is not what the schema says (garbage that decoded). */
function logTuple(r: Row): RowTuple | null {
  const row: Record<string, unknown> = {};
  for (const [column, key, type] of LOG_COLUMNS) {
    // a file from before migration 3 has no packet counts, from before 7 no chain or mapping
    const v = r[column] ?? (column === 'packets_up' || column === 'packets_down' ? 0 : column === 'chain' || column === 'mapping' ? '' : undefined);
    if (typeof v !== type) return null;
    row[key] = key === 'allowed' ? v !== 0 : v;
  }
  return toTuple(row as Omit<LogRow, 'id'>);
}

/** The lowest and highest log id, from the table or else from any readable index (each holds every rowid). */
function logIdBounds(src: Database.Database): { min: number; max: number } | null {
  const tries = ['SELECT min(id) AS lo, max(id) AS hi FROM log'];
  try {
    for (const idx of src.pragma('index_list(log)') as { name: string; partial: number }[]) {
      if (!idx.partial) tries.push(`SELECT min(id) AS lo, max(id) AS hi FROM (SELECT id FROM log INDEXED BY "${idx.name}")`);
    }
  } catch {
    // the schema is unreadable: the table alone
  }
  for (const sql of tries) {
    try {
      const r = src.prepare(sql).get() as { lo: number | null; hi: number | null };
      if (r.lo === null || r.hi === null) return null;
      return { min: r.lo, max: r.hi };
    } catch {
      // that path crosses a bad page: the next
    }
  }
  return null;
}

interface LogCopy {
  rows: number;
  /** ids that could not be read (an estimate: some may have been gaps) */
  unreadable: number;
  /** the first id not reached before the time budget ran out */
  stoppedAt: number | null;
  /** rows read but refused by the fresh database (a full disk) */
  unwritten: number;
  failed: boolean;
}

/**
 * Copies the log rows of `src` into `db`, oldest first, through LogWriter (so the full-text
 * index and the aggregates agree with the rows). Ranges of LOG_CHUNK ids are read in one
 * query; one that stops at a bad page is read on from the last good row, halved until
 * LOG_POINT_RANGE ids, then id by id, so only the rows on unreadable pages are skipped.
 */
function copyLog(src: Database.Database, db: Db, budgetMs: number): LogCopy {
  const out: LogCopy = { rows: 0, unreadable: 0, stoppedAt: null, unwritten: 0, failed: false };
  let exists: boolean;
  try {
    exists = tableExists(src, 'log');
  } catch {
    exists = true;
  }
  if (!exists) return out;
  const bounds = logIdBounds(src);
  if (!bounds) {
    // empty, or neither the table's edges nor any index can be read
    try {
      src.prepare('SELECT id FROM log LIMIT 1').get();
    } catch {
      out.failed = true;
    }
    return out;
  }
  const deadline = performance.now() + budgetMs;
  const writer = new LogWriter(db, { maxBatch: 4000, sliceMs: 1e9, delayMs: 60_000 });
  const range = src.prepare('SELECT * FROM log WHERE id >= ? AND id < ? ORDER BY id');
  const one = src.prepare('SELECT * FROM log WHERE id = ?');
  let bad = 0;
  const take = (r: Row): void => {
    const t = logTuple(r);
    if (t) writer.pushTuple(t);
    else bad++;
  };
  const readRange = (lo: number, hi: number, depth: number): void => {
    let next = lo;
    try {
      for (const r of range.iterate(lo, hi) as Iterable<Row>) {
        take(r);
        next = Number(r.id) + 1;
      }
      return;
    } catch {
      // rows from `next` on sit behind a bad page
    }
    if (hi - next <= LOG_POINT_RANGE || depth > 40) {
      for (let id = next; id < hi; id++) {
        try {
          const r = one.get(id) as Row | undefined;
          if (r) take(r);
        } catch {
          out.unreadable++;
        }
      }
      return;
    }
    const mid = next + Math.floor((hi - next) / 2);
    readRange(next, mid, depth + 1);
    readRange(mid, hi, depth + 1);
  };
  for (let lo = bounds.min; lo <= bounds.max; lo += LOG_CHUNK) {
    if (performance.now() > deadline) {
      out.stoppedAt = lo;
      break;
    }
    // more than a batch waiting: the fresh database refuses writes (a full disk); stop reading
    if (writer.pending > 4000) break;
    readRange(lo, Math.min(lo + LOG_CHUNK, bounds.max + 1), 0);
  }
  writer.close();
  out.rows = writer.written;
  out.unwritten = writer.pending;
  out.unreadable += bad;
  return out;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** The report in one line, for the console and the dashboard. */
export function describeRecovery(r: RecoveryReport): string {
  const c = r.recovered;
  const got = [plural(c.settings, 'setting'), plural(c.users, 'user'), plural(c.groups, 'group'), plural(c.rules, 'rule'), plural(c.logRows, 'log row')].join(', ');
  return `the database was damaged (${r.reason.replace(/\s+/g, ' ')}); it is kept as ${r.keptAs} and a fresh one was made with what could be read: ${got}${r.lost ? `; lost: ${r.lost}` : ''}`;
}

/**
 * Sets the damaged database of `dataDir` aside, makes a fresh one and copies into it what
 * can be read. `reason` says what was found wrong (it goes into the report).
 */
export function recoverDb(dataDir: string, reason: string, opts: RecoverOptions = {}): { db: Db; report: RecoveryReport } {
  const file = join(dataDir, DB_FILE);
  const keptAs = asideName(file, (opts.now ?? (() => new Date()))());
  try {
    setAside(file, keptAs);
  } catch (err) {
    throw storageError(dataDir, err);
  }
  const db = openDb(dataDir);
  const recovered = { settings: 0, users: 0, groups: 0, rules: 0, logRows: 0 };
  const lost: string[] = [];
  const src = openSource(keptAs);
  try {
    if (!src.db) {
      lost.push('everything: the file cannot be read as a database');
    } else {
      const s = src.db;
      const read = new Map<ConfigTable, ReturnType<typeof readTable>>();
      for (const t of CONFIG_TABLES) read.set(t.name, readTable(s, t.name, t.rowid));
      db.transaction(() => {
        const rules = read.get('rules')!;
        // the old rules replace the first-run rule, even none at all, as long as they could be read
        if (rules.present && (rules.complete || rules.rows.length > 0)) db.prepare('DELETE FROM rules').run();
        for (const t of CONFIG_TABLES) {
          const n = insertRows(db, t.name, read.get(t.name)!.rows);
          if (t.name in recovered) recovered[t.name as keyof typeof recovered] = n;
        }
      })();
      for (const t of CONFIG_TABLES) {
        const r = read.get(t.name)!;
        if (r.complete) continue;
        if (r.rows.length === 0) lost.push(t.name === 'rules' ? 'the rules (the first-run rule is in force)' : t.name === 'meta' ? 'meta (a new admin token is made)' : `the ${t.name.replace('_', ' ')}`);
        else lost.push(`some ${t.name.replace('_', ' ')} (on unreadable pages)`);
      }
      const log = copyLog(s, db, opts.logBudgetMs ?? LOG_BUDGET_MS);
      recovered.logRows = log.rows;
      if (log.failed) lost.push('the log');
      if (log.unreadable > 0) lost.push(`about ${plural(log.unreadable, 'log row')} on unreadable pages`);
      if (log.stoppedAt !== null) lost.push(`log rows from id ${log.stoppedAt} on (time limit; they are still in the kept file)`);
      if (log.unwritten > 0) lost.push(`${plural(log.unwritten, 'log row')} read but not written (the fresh database refused them)`);
    }
  } finally {
    removeScratch(src);
  }
  const report: RecoveryReport = { damaged: true, reason, keptAs, recovered };
  if (lost.length > 0) report.lost = lost.join('; ');
  return { db, report };
}

/**
 * Opens the database of `dataDir` for the gateway: checked first (checkDb), and when it
 * is damaged, set aside and recovered (recoverDb); `recovery` is the report then, else
 * null. Throws E_STORAGE (one line, see db.ts) when the directory cannot be used.
 */
export function openDbRecovering(dataDir: string, opts: RecoverOptions = {}): { db: Db; recovery: RecoveryReport | null } {
  const file = join(dataDir, DB_FILE);
  const check = checkDb(file, opts);
  if (!check.ok) {
    const { db, report } = recoverDb(dataDir, check.reason, opts);
    return { db, recovery: report };
  }
  try {
    return { db: openDb(dataDir), recovery: null };
  } catch (err) {
    // damage the check did not see (a big file's log pages) that the migrations ran into
    if (!isDamageError(err)) throw err;
    const { db, report } = recoverDb(dataDir, `opening it: ${messageOf((err as { cause?: unknown }).cause ?? err)}`, opts);
    return { db, recovery: report };
  }
}
