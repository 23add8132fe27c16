/**
 * `gatehouse logs`: the log viewer's filters as flags, read through the
 * control service's log methods (its reading thread; a running gateway keeps
 * writing meanwhile), and `--export csv|jsonl|har --out FILE|-`: the same
 * export job the UI starts, its progress on a terminal, the file then moved
 * to where it was asked for.
 */
import { parseArgs } from 'node:util';
import { copyFileSync, createReadStream, renameSync, unlinkSync } from 'node:fs';
import {
  EXPORT_FORMATS,
  LOG_SORTS,
  STATUS_CLASSES,
  logCursorOf,
  type ExportFormat,
  type ExportJob,
  type LogFilter,
  type LogRow,
  type LogSort,
  type StatusClass,
} from '../contract/index.js';
import type { Client } from '../contract/client.js';
import { UsageError, withClient } from './common.js';

export const LOGS_USAGE = `gatehouse logs [--data-dir DIR] [--since WHEN] [--until WHEN] [--client ADDR]... [--user NAME]...
               [--service http|socks|mapping]... [--host NAME]... [--method M]... [--rule NAME]... [--status 404,5xx]
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

export async function logsCommand(argv: string[]): Promise<number> {
  const out = process.stdout;
  const errOut = process.stderr;
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
    throw new UsageError((e as Error).message);
  }
  for (const k of Object.keys(filter) as (keyof LogFilter)[]) if (filter[k] === undefined) delete filter[k];
  if (!(LOG_SORTS as readonly string[]).includes(values.sort)) throw new UsageError(`--sort: "${values.sort}" must be one of ${LOG_SORTS.join(', ')}`);
  const sort = values.sort as LogSort;
  const order = values.asc ? 'asc' : 'desc';
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) throw new UsageError(`--limit: "${values.limit}" must be a whole number from 1 to 1000000`);
  if (values.export !== undefined && !(EXPORT_FORMATS as readonly string[]).includes(values.export)) {
    throw new UsageError(`--export: "${values.export}" must be one of ${EXPORT_FORMATS.join(', ')}`);
  }
  if (values.export !== undefined && !values.out) throw new UsageError('--export needs --out FILE (or --out - for standard output)');
  if (values.out !== undefined && values.export === undefined) throw new UsageError('--out goes with --export csv|jsonl|har');

  return withClient(values['data-dir'], async (api) => {
    if (values.count) {
      const { count } = await api.call('log.count', { filter });
      out.write(values.json ? JSON.stringify({ count }) + '\n' : `${count}\n`);
      return 0;
    }
    if (values.export) return exportTo(api, filter, sort, order, values.export as ExportFormat, values.out!, errOut);
    // the newest `limit` rows, printed oldest first like a tail (other sorts print in their order)
    const rows: LogRow[] = [];
    let page = await api.call('log.query', { filter, sort, order, limit: Math.min(limit, 5000) });
    rows.push(...page.rows);
    while (page.hasMore && rows.length < limit) {
      const after = logCursorOf(rows[rows.length - 1]!, sort);
      page = await api.call('log.query', { filter: { ...filter, maxId: page.maxId }, sort, order, limit: Math.min(limit - rows.length, 5000), after });
      rows.push(...page.rows);
    }
    if (sort === 'time' && order === 'desc') rows.reverse();
    for (const r of rows) out.write((values.json ? JSON.stringify(r) : formatLogLine(r)) + '\n');
    if (!values.json && rows.length === 0) out.write(Object.keys(filter).length ? 'No rows match.\n' : 'The log is empty.\n');
    return 0;
  });
}

/** Runs the export job the UI would, shows its progress on a terminal, then moves its file to `target` (or prints it). */
async function exportTo(api: Client, filter: LogFilter, sort: LogSort, order: 'asc' | 'desc', format: ExportFormat, target: string, errOut: NodeJS.WriteStream): Promise<number> {
  const tty = target !== '-' && errOut.isTTY;
  let job: ExportJob | null = null;
  const finished = new Promise<ExportJob>((resolve) => {
    const unsubscribe = api.subscribe((e) => {
      if (e.type !== 'export' || (job && e.job.id !== job.id)) return;
      if (tty) errOut.write(`\r${e.job.rows + e.job.skipped} of ${e.job.total ?? '?'} rows (${e.job.total ? Math.floor(((e.job.rows + e.job.skipped) / Math.max(1, e.job.total)) * 100) : 0}%)`);
      if (e.job.state !== 'running' && job && e.job.id === job.id) {
        unsubscribe();
        resolve(e.job);
      }
    });
  });
  job = await api.call('log.export', { filter, sort, order, format });
  const done = await finished;
  if (tty) errOut.write('\n');
  if (done.state !== 'done') throw new Error(`the export failed: ${done.error ?? done.state}`);
  if (target === '-') {
    await new Promise<void>((resolve, reject) => createReadStream(done.path).on('error', reject).on('end', resolve).pipe(process.stdout, { end: false }));
    unlinkSync(done.path);
    return 0;
  }
  try {
    renameSync(done.path, target);
  } catch {
    // another file system: copy, then remove the job's file
    copyFileSync(done.path, target);
    unlinkSync(done.path);
  }
  errOut.write(`wrote ${done.rows} rows to ${target}${done.skipped ? ` (${done.skipped} rows that are not HTTP requests left out of the HAR)` : ''}\n`);
  return 0;
}
