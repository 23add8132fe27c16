/**
 * How the HTTP proxy fails: one error type that reaches the client as a status,
 * a small readable page and a Proxy-Status header (RFC 9209); socket errors
 * become statuses through the engines' shared table (../outcomes.ts).
 */
import { dialOutcome } from '../outcomes.js';

export class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    /** RFC 9209 §2.3 proxy error type */
    readonly proxyError: string,
    /** seconds for a Retry-After field (RFC 9110 §10.2.3), for 429 and 503 */
    readonly retryAfterS = 0,
  ) {
    super(detail);
  }
}

/** A failed connection to an origin as the client sees it (the table is shared with SOCKS: ../outcomes.ts). */
export function failFromErrno(err: NodeJS.ErrnoException, host: string): HttpFail {
  const o = dialOutcome(err, host);
  return new HttpFail(o.status, o.title, o.detail, o.proxyError);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  404: 'Not Found',
  408: 'Request Timeout',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  508: 'Loop Detected',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function errorPage(f: HttpFail): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${f.status} ${escapeHtml(f.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1f2937;max-width:40rem;margin:4rem auto;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .5rem}p{margin:.5rem 0}small{color:#6b7280}</style></head>
<body><h1>${escapeHtml(f.title)}</h1><p>${escapeHtml(f.detail)}</p>
<p><small>${f.status} ${statusText(f.status)} — answered by the Gatehouse proxy.</small></p></body></html>
`;
}

export function proxyStatusHeader(f: HttpFail): string {
  // details may quote what the client sent: only printable ASCII goes into a header
  return `gatehouse; error=${f.proxyError}; details="${f.detail.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, ' ')}"`;
}
