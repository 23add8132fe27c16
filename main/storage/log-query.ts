/**
 * Reads of the request log for the viewer, the CLI and exports: a filter
 * (contract/log-filter.ts says what it means) becomes one parameterised WHERE
 * clause; listings are sorted by time, duration or bytes with the row id as
 * tie-breaker, and paged by keyset (the last row's sort key and id), so page
 * 1000 costs what page 1 costs. Every listing is read at a snapshot (the
 * highest id when it began) so pages and counts of one view agree while new
 * rows keep arriving. Runs on any connection: the log worker's read-only one,
 * or the CLI's.
 */
import {
  GatehouseError,
  type LogCursor,
  type LogFilter,
  type LogPage,
  type LogQuery,
  type LogRow,
  type LogSort,
  type SortOrder,
  type StatusClass,
} from '../contract/index.js';
import { expandServices, ftsMatchExpression } from '../contract/log-filter.js';
import type { Db } from './db.js';
import { ROW_SELECT, rowOf } from './log-writer.js';

const SORT_KEY: Record<LogSort, string> = {
  time: 'ts',
  duration: 'duration_ms',
  // the same expression as the log_bytes index, so SQLite uses it
  bytes: '(bytes_up + bytes_down)',
};

export function sortKeyOf(row: LogRow, sort: LogSort): number {
  return sort === 'time' ? row.ts : sort === 'duration' ? row.durationMs : row.bytesUp + row.bytesDown;
}

export function cursorOf(row: LogRow, sort: LogSort): LogCursor {
  return { key: sortKeyOf(row, sort), id: row.id };
}

const CLASS_RANGE: Record<Exclude<StatusClass, 'other'>, [number, number]> = {
  '1xx': [100, 199],
  '2xx': [200, 299],
  '3xx': [300, 399],
  '4xx': [400, 499],
  '5xx': [500, 599],
};

export interface Where {
  sql: string;
  params: unknown[];
}

/**
 * One part of a filter. `kind` says how SQLite can use it: `eq` is one value of
 * a column indexed as (column, ts), which yields rows already in time order;
 * `set` (several values, a status class, a minimum) can drive an index but then
 * needs a sort; `text` runs through the FTS index.
 */
interface Pred {
  name: string;
  kind: 'plain' | 'eq' | 'set' | 'text';
  /** the form that lets SQLite use an index */
  sql: string;
  /** the form that only checks a row another index found (unary + hides the column from the planner) */
  check: string;
  params: unknown[];
}

const EQ_INDEXED = new Set(['client_addr', 'user', 'host', 'status', 'rule']);

function listPred(name: string, col: string, values: readonly (string | number)[] | undefined, out: Pred[]): void {
  if (!values || values.length === 0) return;
  const uniq = [...new Set(values)];
  if (uniq.length === 1) {
    const indexed = EQ_INDEXED.has(col);
    out.push({ name, kind: indexed ? 'eq' : 'plain', sql: `${col} = ?`, check: `+${col} = ?`, params: uniq });
  } else {
    const marks = uniq.map(() => '?').join(', ');
    out.push({ name, kind: EQ_INDEXED.has(col) ? 'set' : 'plain', sql: `${col} IN (${marks})`, check: `+${col} IN (${marks})`, params: uniq });
  }
}

function predicates(f: LogFilter): Pred[] {
  const out: Pred[] = [];
  if (f.from !== undefined) out.push({ name: 'from', kind: 'plain', sql: 'ts >= ?', check: 'ts >= ?', params: [f.from] });
  if (f.to !== undefined) out.push({ name: 'to', kind: 'plain', sql: 'ts < ?', check: 'ts < ?', params: [f.to] });
  if (f.maxId !== undefined) out.push({ name: 'maxId', kind: 'plain', sql: 'id <= ?', check: 'id <= ?', params: [f.maxId] });
  listPred('clients', 'client_addr', f.clients, out);
  listPred('users', 'user', f.users, out);
  listPred('hosts', 'host', f.hosts, out);
  listPred('services', 'service', expandServices(f.services), out);
  listPred('methods', 'method', f.methods, out);
  listPred('rules', 'rule', f.rules, out);
  const codes = [...new Set(f.statuses ?? [])];
  const classes = [...new Set(f.statusClasses ?? [])];
  if (codes.length === 1 && classes.length === 0) listPred('status', 'status', codes, out);
  else if (codes.length + classes.length > 0) {
    const parts: string[] = [];
    const params: unknown[] = [];
    if (codes.length) {
      parts.push(`S IN (${codes.map(() => '?').join(', ')})`);
      params.push(...codes);
    }
    for (const c of classes) {
      if (c === 'other') parts.push('(S < 100 OR S > 599)');
      else {
        parts.push('S BETWEEN ? AND ?');
        params.push(...CLASS_RANGE[c]);
      }
    }
    const sql = parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
    out.push({ name: 'status', kind: 'set', sql: sql.replace(/\bS\b/g, 'status'), check: sql.replace(/\bS\b/g, '+status'), params });
  }
  if (f.allowed !== undefined) {
    // the partial index log_denied finds denied rows in time order
    out.push(f.allowed ? { name: 'allowed', kind: 'plain', sql: 'allowed = 1', check: 'allowed = 1', params: [] } : { name: 'allowed', kind: 'eq', sql: 'allowed = 0', check: '+allowed = 0', params: [] });
  }
  if (f.minBytes !== undefined) {
    out.push({ name: 'minBytes', kind: 'set', sql: '(bytes_up + bytes_down) >= ?', check: '(bytes_up + bytes_down) + 0 >= ?', params: [f.minBytes] });
  }
  if (f.minDurationMs !== undefined) {
    out.push({ name: 'minDurationMs', kind: 'set', sql: 'duration_ms >= ?', check: '+duration_ms >= ?', params: [f.minDurationMs] });
  }
  if (f.text !== undefined) {
    const match = ftsMatchExpression(f.text);
    if (match) {
      out.push({
        name: 'text',
        kind: 'text',
        sql: 'id IN (SELECT rowid FROM log_fts WHERE log_fts MATCH ?)',
        check: 'EXISTS (SELECT 1 FROM log_fts WHERE log_fts MATCH ? AND rowid = log.id)',
        params: [match],
      });
    }
  }
  return out;
}

function join(preds: Pred[], checkOnly: ReadonlySet<string> = new Set()): Where {
  if (preds.length === 0) return { sql: '1', params: [] };
  return {
    sql: preds.map((p) => (checkOnly.has(p.name) ? p.check : p.sql)).join(' AND '),
    params: preds.flatMap((p) => p.params),
  };
}

/** The WHERE clause of a filter ("1" when it restricts nothing), in the form that suits counting. */
export function buildWhere(f: LogFilter): Where {
  return join(predicates(f));
}

/**
 * The ids a dense text search matches, as a bitmap, kept for the last few
 * searches: a listing then checks each row it scans with one bit test (the
 * SQL function gh_text_has), instead of asking FTS once per row, which is slow.
 * Built once per search text and snapshot; later pages reuse it.
 */
export class TextMatchCache {
  private readonly entries = new Map<string, { base: number; bits: Uint8Array }>();
  private current: { base: number; bits: Uint8Array } | null = null;

  constructor(private readonly db: Db, private readonly size = 4) {
    db.function('gh_text_has', { deterministic: false, directOnly: true }, (id: unknown) => {
      const c = this.current;
      if (!c) return 0;
      const i = Number(id) - c.base;
      return i >= 0 && i >> 3 < c.bits.length && c.bits[i >> 3]! & (1 << (i & 7)) ? 1 : 0;
    });
  }

  /** How many rows a MATCH expression matched at a snapshot, capped (probing a prefix search costs). */
  private readonly probes = new Map<string, number>();
  probe(match: string, maxId: number, run: () => number): number {
    const key = `${maxId}\u0000${match}`;
    let n = this.probes.get(key);
    if (n === undefined) {
      n = run();
      if (this.probes.size >= 64) this.probes.delete(this.probes.keys().next().value!);
      this.probes.set(key, n);
    }
    return n;
  }

  /** Makes the bitmap of a MATCH expression at a snapshot the one gh_text_has reads. */
  use(match: string, maxId: number): void {
    const key = `${maxId}\u0000${match}`;
    let e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
    } else {
      const ids = this.db.prepare('SELECT rowid FROM log_fts WHERE log_fts MATCH ? AND rowid <= ?').pluck().all(match, maxId) as number[];
      let base = Infinity;
      for (const id of ids) if (id < base) base = id;
      if (!Number.isFinite(base)) base = 0;
      const bits = new Uint8Array(((maxId - base + 1) >> 3) + 1);
      for (const id of ids) {
        const i = id - base;
        bits[i >> 3]! |= 1 << (i & 7);
      }
      e = { base, bits };
      while (this.entries.size >= this.size) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(key, e);
    this.current = e;
  }
}

/** At most this many matches make a filter part "sparse": driving by its index and sorting is cheap. */
export const SPARSE = 4000;

/**
 * Picks how each filter part is used for a listing. SQLite's planner cannot see
 * how many rows a status class, a list or a text search matches, and picks an
 * index plus a sort of every match where a scan in sort order would stop after
 * one page. So each such part is probed (how many matches, up to SPARSE): a
 * sparse part keeps its index form; a dense one is only checked on the rows
 * the scan in sort order finds. With a one-value filter on an index that ends
 * in ts, time order comes from that index and the other parts only check.
 */
function chooseForms(db: Db, preds: Pred[], sort: LogSort, maxId: number, texts: TextMatchCache | undefined, sparse: number): Set<string> {
  const checkOnly = new Set<string>();
  const ordered = sort === 'time' && preds.some((p) => p.kind === 'eq');
  for (const p of preds) {
    if (p.kind !== 'set' && p.kind !== 'text') continue;
    if (ordered && p.kind === 'set') {
      checkOnly.add(p.name);
      continue;
    }
    const probe =
      p.kind === 'text'
        ? db.prepare('SELECT count(*) FROM (SELECT 1 FROM log_fts WHERE log_fts MATCH ? AND rowid <= ? LIMIT ?)')
        : db.prepare(`SELECT count(*) FROM (SELECT 1 FROM log WHERE ${p.sql} AND id <= ? LIMIT ?)`);
    const count = () => probe.pluck().get(...p.params, maxId, sparse) as number;
    const n = p.kind === 'text' && texts && sparse === SPARSE ? texts.probe(p.params[0] as string, maxId, count) : count();
    if (n < sparse) continue;
    if (p.kind === 'text') {
      // dense text: a bitmap check per row when there is a cache; else SQLite's own IN list
      if (!texts) continue;
      texts.use(p.params[0] as string, maxId);
      p.check = 'gh_text_has(id) = 1';
      p.params = [];
    }
    checkOnly.add(p.name);
  }
  return checkOnly;
}

/** The highest id in the log (0 when empty): the snapshot a new view reads at. */
export function maxLogId(db: Db): number {
  const r = db.prepare<[], { m: number | null }>('SELECT max(id) AS m FROM log').get();
  return r?.m ?? 0;
}

export interface PlannedQuery {
  sql: string;
  params: unknown[];
  /** true when the rows come back in reverse display order (a "before" page) */
  reversed: boolean;
}

/** The SQL of one page (exported for tests and EXPLAIN QUERY PLAN). */
export function planPage(q: LogQuery & { filter: LogFilter & { maxId: number } }): PlannedQuery {
  return planWith(q, predicates(q.filter), new Set());
}

function planWith(q: LogQuery, preds: Pred[], checkOnly: ReadonlySet<string>): PlannedQuery {
  const key = SORT_KEY[q.sort];
  const w = join(preds, checkOnly);
  const parts = [w.sql];
  const params = [...w.params];
  // "before" walks the other way from the cursor and flips the rows afterwards
  const reversed = q.before !== undefined;
  const desc = (q.order === 'desc') !== reversed;
  const cursor = q.before ?? q.after;
  if (cursor) {
    // a range on the sort key an index can use, then the tie-break on id
    const [le, lt] = desc ? ['<=', '<'] : ['>=', '>'];
    parts.push(`${key} ${le} ? AND (${key} ${lt} ? OR id ${lt} ?)`);
    params.push(cursor.key, cursor.key, cursor.id);
  }
  const dir = desc ? 'DESC' : 'ASC';
  let sql = `SELECT ${ROW_SELECT} FROM log WHERE ${parts.join(' AND ')} ORDER BY ${key} ${dir}, id ${dir} LIMIT ?`;
  params.push(q.limit + 1);
  if (!cursor && q.offset) {
    sql += ' OFFSET ?';
    params.push(q.offset);
  }
  return { sql, params, reversed };
}

function checkQuery(q: LogQuery): void {
  if (q.after && q.before) throw new GatehouseError('E_VALIDATION', 'log.query: give "after" or "before", not both');
  if ((q.after || q.before) && q.offset) throw new GatehouseError('E_VALIDATION', 'log.query: "offset" cannot be combined with a cursor');
}

/** One page of the filtered, sorted log. */
/** `sparse`: the probe limit (tests lower it to exercise every form on a small file). */
export function queryPage(db: Db, q: LogQuery, texts?: TextMatchCache, sparse = SPARSE): LogPage {
  checkQuery(q);
  const t0 = performance.now();
  const maxId = q.filter.maxId ?? maxLogId(db);
  const filter = { ...q.filter, maxId };
  const preds = predicates(filter);
  const checkOnly = chooseForms(db, preds, q.sort, maxId, texts, sparse);
  const plan = planWith(q, preds, checkOnly);
  const raw = db.prepare(plan.sql).raw().all(...plan.params) as unknown[][];
  const hasMore = raw.length > q.limit;
  if (hasMore) raw.length = q.limit;
  const rows = raw.map(rowOf);
  if (plan.reversed) rows.reverse();
  return { rows, hasMore, maxId, tookMs: Math.round((performance.now() - t0) * 10) / 10 };
}

/** Id ranges a long count or export is cut into, so each step is short. */
export const COUNT_SLICE = 100_000;

/**
 * Counts the matching rows, one id range at a time: a generator that yields
 * between ranges so the worker can answer other requests meanwhile, and
 * returns the count.
 */
export function* countSliced(db: Db, filter: LogFilter, slice = COUNT_SLICE): Generator<number, { count: number; maxId: number }> {
  const maxId = filter.maxId ?? maxLogId(db);
  const minRow = db.prepare<[], { m: number | null }>('SELECT min(id) AS m FROM log').get();
  const minId = minRow?.m ?? 1;
  const preds = predicates({ ...filter, maxId });
  // the text part reads only the id range of the step from the FTS index
  const w = join(preds.filter((p) => p.kind !== 'text'));
  const text = preds.find((p) => p.kind === 'text');
  const stmt = text
    ? db.prepare(
        `SELECT count(*) FROM log WHERE ${w.sql} AND id > ? AND id <= ? AND id IN (SELECT rowid FROM log_fts WHERE log_fts MATCH ? AND rowid > ? AND rowid <= ?)`,
      )
    : db.prepare(`SELECT count(*) FROM log WHERE ${w.sql} AND id > ? AND id <= ?`);
  stmt.pluck();
  let count = 0;
  for (let lo = minId - 1; lo < maxId; lo += slice) {
    const hi = Math.min(maxId, lo + slice);
    count += (text ? stmt.get(...w.params, lo, hi, ...text.params, lo, hi) : stmt.get(...w.params, lo, hi)) as number;
    if (lo + slice < maxId) yield count;
  }
  return { count, maxId };
}

export function countRows(db: Db, filter: LogFilter): { count: number; maxId: number } {
  const it = countSliced(db, filter);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** Every matching row in order, read a page at a time (bounded memory, a snapshot). */
export function* iterateRows(
  db: Db,
  opts: { filter: LogFilter; sort: LogSort; order: SortOrder; pageSize?: number; texts?: TextMatchCache },
): Generator<LogRow[], void> {
  const maxId = opts.filter.maxId ?? maxLogId(db);
  let after: LogCursor | undefined;
  for (;;) {
    const page = queryPage(db, { filter: { ...opts.filter, maxId }, sort: opts.sort, order: opts.order, limit: opts.pageSize ?? 2000, after }, opts.texts);
    if (page.rows.length > 0) yield page.rows;
    if (!page.hasMore) return;
    after = cursorOf(page.rows[page.rows.length - 1]!, opts.sort);
  }
}
