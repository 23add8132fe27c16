/**
 * The export formats of the request log, as text a page of rows at a time:
 * CSV (RFC 4180: CRLF line ends, fields with comma, quote or line break quoted,
 * quotes doubled; text that a spreadsheet would run as a formula is prefixed
 * with an apostrophe), JSON lines (one LogRow per line) and HAR 1.2 (W3C HTTP
 * Archive draft: log.version, log.creator, log.entries[] each with request,
 * response, cache and timings). HAR only holds HTTP requests, so rows that are
 * not (tunnels, SOCKS, UDP) are counted as skipped.
 */
import type { ExportFormat } from '../contract/index.js';
import { LOG_FIELDS, type LogField, type LogRow } from '../contract/log-row.js';

export interface ExportWriter {
  /** text before the first row */
  head(): string;
  /** the text of some rows, and how many of them the format could not hold */
  rows(rows: LogRow[]): { text: string; skipped: number };
  /** text after the last row */
  tail(): string;
}

/** The CSV header: the id, the start time as ISO 8601, then every field in LOG_FIELDS' order. */
export const CSV_COLUMNS: readonly string[] = ['id', 'time', ...LOG_FIELDS.map((f: LogField) => f.csv ?? f.column)];

/** A CSV field: quoted when needed; a leading = + - @ (a formula to a spreadsheet) is defused with ' (OWASP). */
export function csvField(v: string | number | boolean): string {
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(r: LogRow): string {
  let line = `${r.id},${new Date(r.ts).toISOString()}`;
  for (const f of LOG_FIELDS) line += ',' + csvField(r[f.key]);
  return line;
}

const csv: () => ExportWriter = () => ({
  head: () => CSV_COLUMNS.join(',') + '\r\n',
  rows: (rows) => ({ text: rows.map((r) => csvRow(r) + '\r\n').join(''), skipped: 0 }),
  tail: () => '',
});

const jsonl: () => ExportWriter = () => ({
  head: () => '',
  rows: (rows) => ({ text: rows.map((r) => JSON.stringify(r) + '\n').join(''), skipped: 0 }),
  tail: () => '',
});

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found',
  303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request',
  401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 407: 'Proxy Authentication Required',
  408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** A HAR entry for an HTTP request row, or null for rows HAR cannot hold. */
export function harEntry(r: LogRow): object | null {
  if (r.service !== 'http' || r.method === 'CONNECT') return null;
  let url: URL;
  try {
    url = new URL(r.url);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const queryString = [...url.searchParams].map(([name, value]) => ({ name, value }));
  const comment = [
    `client ${r.clientAddr}:${r.clientPort}`,
    r.user ? `user ${r.user}` : '',
    r.allowed ? '' : `denied${r.rule ? ` by rule "${r.rule}"` : ''}`,
    r.error ? `error: ${r.error}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    startedDateTime: new Date(r.ts).toISOString(),
    time: r.durationMs,
    request: {
      method: r.method,
      url: r.url,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [],
      queryString,
      headersSize: -1,
      bodySize: -1,
    },
    response: {
      status: r.status,
      statusText: REASONS[r.status] ?? '',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [],
      // the proxy counts bytes on the wire, not the body: the size is the bytes sent to the client
      content: { size: r.bytesDown, mimeType: 'x-unknown' },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
    },
    cache: {},
    // the proxy measures the whole exchange only
    timings: { send: 0, wait: r.durationMs, receive: 0 },
    connection: String(r.clientPort),
    comment,
    _gatehouse: {
      id: r.id,
      client: r.clientAddr,
      user: r.user,
      allowed: r.allowed,
      rule: r.rule,
      bytesUp: r.bytesUp,
      bytesDown: r.bytesDown,
      error: r.error,
    },
  };
}

const har: (version: string) => ExportWriter = (version) => {
  let first = true;
  return {
    head: () =>
      `{"log":{"version":"1.2","creator":${JSON.stringify({ name: 'Gatehouse', version })},"pages":[],"entries":[\n`,
    rows: (rows) => {
      let text = '';
      let skipped = 0;
      for (const r of rows) {
        const e = harEntry(r);
        if (!e) {
          skipped++;
          continue;
        }
        text += (first ? '' : ',\n') + JSON.stringify(e);
        first = false;
      }
      return { text, skipped };
    },
    tail: () => '\n]}}\n',
  };
};

export function exportWriter(format: ExportFormat, version = '0.1.0'): ExportWriter {
  return format === 'csv' ? csv() : format === 'jsonl' ? jsonl() : har(version);
}

export const EXPORT_EXT: Record<ExportFormat, string> = { csv: 'csv', jsonl: 'jsonl', har: 'har' };
