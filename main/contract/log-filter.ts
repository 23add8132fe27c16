/**
 * What a log filter means, in one place for both sides: the storage turns it
 * into SQL (main/storage/log-query.ts), and the viewer applies it to rows that
 * arrive live (so a live row shows only when a query would have found it).
 *
 * Text search runs on SQLite FTS5 with the unicode61 tokenizer over a row's
 * host and URL: words are runs of letters and digits, compared without case or
 * diacritics. A search word matches a whole word or the start of one; a search
 * word that holds punctuation ("example.com/api") is a phrase, its last part a
 * prefix. Several search words must all match.
 */
import type { LogFilter, LogRow, StatusClass } from './log.js';

/** The text FTS indexes for a row: its URL, with the host in front when the URL does not hold it. */
export function rowSearchText(host: string, url: string): string {
  return url.includes(host) ? url : `${host} ${url}`;
}

const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;

/** Splits text as FTS5's unicode61 tokenizer does (lower case, diacritics removed). */
export function ftsTokens(text: string): string[] {
  const folded = text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  return folded.match(TOKEN) ?? [];
}

/** Search words: each a list of tokens (a phrase whose last token is a prefix). */
export function searchTerms(text: string): string[][] {
  return text
    .split(/\s+/)
    .map(ftsTokens)
    .filter((t) => t.length > 0)
    .slice(0, 16);
}

/** The FTS5 MATCH expression of a search text, or null when it holds no word. */
export function ftsMatchExpression(text: string): string | null {
  const terms = searchTerms(text);
  if (terms.length === 0) return null;
  // tokens are letters and digits only, so they need no quoting beyond the phrase quotes
  return terms.map((t) => `"${t.join(' ')}"*`).join(' AND ');
}

function termMatches(tokens: string[], term: string[]): boolean {
  const last = term.length - 1;
  outer: for (let i = 0; i + last < tokens.length; i++) {
    for (let j = 0; j < last; j++) if (tokens[i + j] !== term[j]) continue outer;
    if (tokens[i + last]!.startsWith(term[last]!)) return true;
  }
  return false;
}

/** Whether a search text matches a row's host and URL, as FTS would decide. */
export function textMatches(text: string, host: string, url: string): boolean {
  const terms = searchTerms(text);
  if (terms.length === 0) return true;
  const tokens = ftsTokens(rowSearchText(host, url));
  return terms.every((t) => termMatches(tokens, t));
}

export function statusClassOf(status: number): StatusClass {
  if (status >= 100 && status < 600) return `${Math.floor(status / 100)}xx` as StatusClass;
  return 'other';
}

const inList = (list: readonly string[] | undefined, v: string) => !list || list.length === 0 || list.includes(v);

/** A service filter names what the owner sees: "socks" is every SOCKS version the log stores. */
const SERVICE_FAMILIES: Record<string, readonly string[]> = { socks: ['socks', 'socks4', 'socks5'] };

/** The services a filter's list stands for, as stored in the log ("socks" → socks, socks4, socks5). */
export function expandServices(list: readonly string[] | undefined): string[] | undefined {
  return list?.flatMap((s) => SERVICE_FAMILIES[s] ?? [s]);
}

/** Whether a row passes the filter (the same answer the SQL gives). */
export function matchesLogFilter(row: LogRow, f: LogFilter): boolean {
  if (f.from !== undefined && row.ts < f.from) return false;
  if (f.to !== undefined && row.ts >= f.to) return false;
  if (f.maxId !== undefined && row.id > f.maxId) return false;
  if (!inList(f.clients, row.clientAddr)) return false;
  if (!inList(f.users, row.user)) return false;
  if (!inList(f.hosts, row.host)) return false;
  if (f.services?.length && !inList(expandServices(f.services), row.service)) return false;
  if (!inList(f.methods, row.method)) return false;
  if (!inList(f.rules, row.rule)) return false;
  const codes = f.statuses ?? [];
  const classes = f.statusClasses ?? [];
  if (codes.length + classes.length > 0 && !codes.includes(row.status) && !classes.includes(statusClassOf(row.status))) return false;
  if (f.allowed !== undefined && row.allowed !== f.allowed) return false;
  if (f.minBytes !== undefined && row.bytesUp + row.bytesDown < f.minBytes) return false;
  if (f.minDurationMs !== undefined && row.durationMs < f.minDurationMs) return false;
  if (f.text !== undefined && !textMatches(f.text, row.host, row.url)) return false;
  return true;
}

/** True when the filter restricts nothing. */
export function isEmptyFilter(f: LogFilter): boolean {
  return Object.entries(f).every(([k, v]) => k === 'maxId' || v === undefined || (Array.isArray(v) && v.length === 0) || v === '');
}
