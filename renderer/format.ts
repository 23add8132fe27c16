/** Number, size, time and address formatting for the UI. */

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** 0 B, 512 B, 1.5 kB, 12 MB (powers of 1000, as file managers show). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  let v = n;
  let i = 0;
  while (v >= 1000 && i < BYTE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${v.toFixed(digits).replace(/\.0$/, '')} ${BYTE_UNITS[i]}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1).replace(/\.?0+$/, '')} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${m} min ${s} s` : `${m} min`;
}

export function formatTime(ts: number): string {
  const d = new Date(ts);
  const pad = (x: number) => String(x).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatDateTime(ts: number): string {
  return new Date(ts).toLocaleString();
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Splits "host:port", "[v6]:port" or "v6:port" into its parts. */
export function splitHostPort(addr: string): { host: string; port: number | null } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : null };
  const i = addr.lastIndexOf(':');
  // more than one colon without brackets is an IPv6 address alone ("fd00::2" has no port 2)
  if (i > 0 && addr.indexOf(':') === i && /^\d+$/.test(addr.slice(i + 1))) return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
  return { host: addr, port: null };
}

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '*' || host === '';
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export type StatusClass = 'ok' | 'redirect' | 'client' | 'server' | 'none';

/** SOCKS5 replies (RFC 1928 §6) by code, as the log shows them */
const SOCKS5_REPLY = ['OK', 'failure', 'refused', 'net unreachable', 'host unreachable', 'conn refused', 'timed out', 'cmd unsupported', 'addr unsupported'];
const SOCKS4_GRANTED = 0x5a;

/**
 * How a row's outcome reads: an HTTP status as it is; a SOCKS session as OK or the reply's name
 * (the log stores SOCKS5's REP, 0 for success, and SOCKS4's 90–93), never a bare 0 or 90; a port
 * mapping's connection (status 0) as OK, refused or ERR, as a SOCKS session.
 */
export function outcomeOf(row: { service: string; status: number; allowed: boolean; error: string }): { text: string; cls: StatusClass; title: string } {
  if (row.service === 'mapping') {
    if (!row.allowed) return { text: 'refused', cls: 'client', title: row.error };
    return row.error ? { text: 'ERR', cls: 'server', title: row.error } : { text: 'OK', cls: 'ok', title: 'forwarded' };
  }
  if (!row.service.startsWith('socks')) {
    return row.status > 0 ? { text: String(row.status), cls: statusClass(row.status), title: '' } : { text: 'ERR', cls: 'none', title: row.error };
  }
  if (row.service === 'socks4') {
    if (row.status === SOCKS4_GRANTED) return { text: 'OK', cls: 'ok', title: 'SOCKS4 request granted (90)' };
    if (row.status > SOCKS4_GRANTED) return { text: 'refused', cls: 'client', title: `SOCKS4 request rejected (${row.status})` };
  }
  if (row.status === 0) {
    if (!row.allowed) return { text: 'refused', cls: 'client', title: row.error };
    return row.error ? { text: 'ERR', cls: 'server', title: row.error } : { text: 'OK', cls: 'ok', title: 'SOCKS request granted' };
  }
  const name = SOCKS5_REPLY[row.status] ?? `0x${row.status.toString(16)}`;
  return { text: name, cls: row.status === 2 ? 'client' : 'server', title: `SOCKS5 reply ${row.status}: ${name}` };
}

export function statusClass(status: number): StatusClass {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 300 && status < 400) return 'redirect';
  if (status >= 400 && status < 500) return 'client';
  if (status >= 500) return 'server';
  return 'none';
}

/** The way a logged request went out, from the row's chain ("" direct; "corp → direct" after a failover). */
export function routeOfRow(chain: string): string {
  if (!chain) return 'Direct';
  const parts = chain.split(/\s*→\s*/);
  const way = (p: string) => (p === 'direct' ? 'direct' : `through ${p}`);
  if (parts.length === 1) return way(parts[0]!);
  return `${parts.map(way).join(', then ')} (${parts.slice(0, -1).join(', ')} failed)`;
}

/** The service as the log shows it: "mapping:mail" for a port mapping's row. */
export function serviceOfRow(row: { service: string; mapping: string }): string {
  return row.service === 'mapping' && row.mapping ? `mapping:${row.mapping}` : row.service;
}
