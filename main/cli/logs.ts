/**
 * `gatehouse logs`: the log viewer's filters as flags, reading the data
 * directory's database directly (a running gateway keeps writing meanwhile),
 * and `--export csv|jsonl|har --out FILE` to write every matching row, a page
 * at a time, with progress on a terminal.
 */
import { parseArgs } from 'node:util';
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import {
  EXPORT_FORMATS,
  LOG_SORTS,
  STATUS_CLASSES,
  type ExportFormat,
  type LogFilter,
  type LogRow,
  type LogSort,
  type StatusClass,
} from './contract/index.js';
import { openDb } from './storage/db.js';
import { countRows, iterateRows, queryPage } from './storage/log-query.js';
import { exportWriter } from './storage/log-export.js';

export const LOGS_USAGE = `gatehouse logs [--data-dir DIR] [--since WHEN] [--until WHEN] [--client ADDR]... [--user NAME]...
               [--service http|socks]... [--host NAME]... [--method M]... [--rule NAME]... [--status 404,5xx]
               [--denied | --allowed] [--text WORDS] [--min-bytes N] [--min-duration MS]
               [--sort time|duration|bytes] [--asc] [--limit N] [--count] [--json]
               [--export csv|jsonl|har --out FILE|-]`;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "15m", "2h", "7d" (ago), an ISO date or date-time (local time unless it names a zone), or ms since the epoch. */
export function parseWhen(flag: string, text: string, now = Date.now()): number {
  const t = text.trim();
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(t);
  if (rel) return Math.round(now - Number(rel[1]) * UNITS[rel[2]!.toLowerCase()]!);
  if (/^\d{11,}$/.test(t)) return Number(t);
  // a bare date is midnight local time (Date would read it as UTC)
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00` : t.replace(' ', 'T');
  const ms = Date.parse(iso);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t) || Number.isNaN(ms)) {
    throw new Error(`--${flag}: "${text}" is not a time (use 15m, 2h, 7d, 2026-01-31, "2026-01-31 08:00" or ms since the epoch)`);
  }
  return ms;
}

/** "404,5xx,other" → statuses and classes. */
export function parseStatus(text: string): { statuses: number[]; statusClasses: StatusClass[] } {
  const statuses: number[] = [];
  const statusClasses: StatusClass[] = [];
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    const p = part.toLowerCase();
    if ((STATUS_CLASSES as readonly string[]).includes(p)) statusClasses.push(p as StatusClass);
    else if (/^\d{1,3}$/.test(p)) statuses.push(Number(p));
    else throw new Error(`--status: "${part}" is not a status code (404) or class (${STATUS_CLASSES.join(', ')})`);
  }
  return { statuses, statusClasses };
}

function wholeNumber(flag: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > max) throw new Error(`--${flag}: "${v}" must be a whole number from 0 to ${max}`);
  return Number(v);
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatLogLine(r: LogRow): string {
  const t = new Date(r.ts).toISOString().replace('T', ' ').slice(0, 19);
  const status = r.allowed ? String(r.status || '-') : `${r.status || '-'} denied(${r.rule})`;
  const who = r.user ? `${r.user}@${r.clientAddr}` : r.clientAddr;
  const err = r.error ? `  ! ${r.error}` : '';
  return `${t}  ${who.padEnd(15)}  ${r.method.padEnd(7)} ${r.url}  ${status}  ↑${fmtBytes(r.bytesUp)} ↓${fmtBytes(r.bytesDown)}  ${r.durationMs} ms${err}`;
}

export interface LogsDeps {
  defaultDataDir(): string;
  /** an error that makes the CLI print usage help (exit code 2) */
  usage(message: string): Error;
  version: string;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  err?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function logsCommand(argv: string[], deps: LogsDeps): number {
  const out = deps.out ?? process.stdout;
  const errOut = deps.err ?? process.stderr;
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      limit: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      client: { type: 'string', multiple: true },
      user: { type: 'string', multiple: true },
      service: { type: 'string', multiple: true },
      host: { type: 'string', multiple: true },
      method: { type: 'string', multiple: true },
      rule: { type: 'string', multiple: true },
      status: { type: 'string' },
      denied: { type: 'boolean', default: false },
      allowed: { type: 'boolean', default: false },
      text: { type: 'string' },
      'min-bytes': { type: 'string' },
      'min-duration': { type: 'string' },
      sort: { type: 'string', default: 'time' },
      asc: { type: 'boolean', default: false },
      count: { type: 'boolean', default: false },
      export: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const filter: LogFilter = {};
  try {
    if (values.since) filter.from = parseWhen('since', values.since);
    if (values.until) filter.to = parseWhen('until', values.until);
    const split = (v: string[] | undefined) => v?.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
    filter.clients = split(values.client);
    filter.users = values.user; // user names may hold commas
    filter.services = split(values.service);
    filter.hosts = split(values.host);
    filter.methods = split(values.method)?.map((m) => m.toUpperCase());
    filter.rules = values.rule;
    if (values.status) Object.assign(filter, parseStatus(values.status));
    if (values.denied && values.allowed) throw new Error('--denied and --allowed exclude each other');
    if (values.denied) filter.allowed = false;
    if (values.allowed) filter.allowed = true;
    if (values.text) filter.text = values.text;
    filter.minBytes = wholeNumber('min-bytes', values['min-bytes'], Number.MAX_SAFE_INTEGER);
    filter.minDurationMs = wholeNumber('min-duration', values['min-duration'], Number.MAX_SAFE_INTEGER);
  } catch (e) {
    throw deps.usage((e as Error).message);
  }
  for (const k of Object.keys(filter) as (keyof LogFilter)[]) if (filter[k] === undefined) delete filter[k];
  if (!(LOG_SORTS as readonly string[]).includes(values.sort)) throw deps.usage(`--sort: "${values.sort}" must be one of ${LOG_SORTS.join(', ')}`);
  const sort = values.sort as LogSort;
  const order = values.asc ? 'asc' : 'desc';
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) throw deps.usage(`--limit: "${values.limit}" must be a whole number from 1 to 1000000`);
  if (values.export !== undefined && !(EXPORT_FORMATS as readonly string[]).includes(values.export)) {
    throw deps.usage(`--export: "${values.export}" must be one of ${EXPORT_FORMATS.join(', ')}`);
  }
  if (values.export !== undefined && !values.out) throw deps.usage('--export needs --out FILE (or --out - for standard output)');
  if (values.out !== undefined && values.export === undefined) throw deps.usage('--out goes with --export csv|jsonl|har');

  const db = openDb(values['data-dir'] ?? deps.defaultDataDir());
  try {
    if (values.count) {
      const { count } = countRows(db, filter);
      out.write(values.json ? JSON.stringify({ count }) + '\n' : `${count}\n`);
      return 0;
    }
    if (values.export) return exportTo(db, filter, sort, order, values.export as ExportFormat, values.out!, deps, out, errOut);
    // the newest `limit` rows, printed oldest first like a tail (other sorts print in their order)
    const page = queryPage(db, { filter, sort, order, limit });
    const rows = sort === 'time' && order === 'desc' ? page.rows.slice().reverse() : page.rows;
    for (const r of rows) out.write((values.json ? JSON.stringify(r) : formatLogLine(r)) + '\n');
    if (!values.json && rows.length === 0) out.write(Object.keys(filter).length ? 'No rows match.\n' : 'The log is empty.\n');
    return 0;
  } finally {
    db.close();
  }
}

function exportTo(
  db: ReturnType<typeof openDb>,
  filter: LogFilter,
  sort: LogSort,
  order: 'asc' | 'desc',
  format: ExportFormat,
  target: string,
  deps: LogsDeps,
  out: NodeJS.WritableStream,
  errOut: NodeJS.WritableStream & { isTTY?: boolean },
): number {
  const toStdout = target === '-';
  const tmp = `${target}.part`;
  const fd = toStdout ? 1 : openSync(tmp, 'w');
  let ok = false;
  try {
    const { count, maxId } = countRows(db, filter);
    const w = exportWriter(format, deps.version);
    const write = (s: string) => {
      if (!s) return;
      if (toStdout) out.write(s);
      else writeSync(fd, s);
    };
    write(w.head());
    let rows = 0;
    let skipped = 0;
    const tty = !toStdout && errOut.isTTY;
    for (const page of iterateRows(db, { filter: { ...filter, maxId }, sort, order, pageSize: 2000 })) {
      const r = w.rows(page);
      write(r.text);
      rows += page.length - r.skipped;
      skipped += r.skipped;
      if (tty) errOut.write(`\r${rows + skipped} of ${count} rows (${Math.floor(((rows + skipped) / Math.max(1, count)) * 100)}%)`);
    }
    write(w.tail());
    if (!toStdout) {
      closeSync(fd);
      renameSync(tmp, target);
      if (tty) errOut.write('\n');
      errOut.write(`wrote ${rows} rows to ${target}${skipped ? ` (${skipped} rows that are not HTTP requests left out of the HAR)` : ''}\n`);
    }
    ok = true;
    return 0;
  } finally {
    if (!ok && !toStdout) {
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
      try {
        unlinkSync(tmp);
      } catch {
        // never written
      }
    }
  }
}
