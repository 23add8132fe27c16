/**
 * What every part of the HTTP proxy shares: its options and limits, the state
 * of one running proxy (`HttpEngine`: client connections, the origin pool,
 * open tunnels), and the message helpers they all use: forwarding header
 * fields (hop-by-hop removed, Via added), error responses, closing politely.
 *
 * The parts, one file each: client.ts reads request heads from a client
 * connection; exchange.ts carries one request through admission to the
 * origin; origin.ts is the origin side (pool, dial, response relay);
 * tunnel.ts is CONNECT and upgrades; proxy.ts assembles them.
 */
import type net from 'node:net';
import type { Admission } from '../admission.js';
import type { Recorder, ConnRecord } from '../../recorder.js';
import { field, type HeadLimits } from './codec.js';
import { HttpFail, errorPage, proxyStatusHeader, statusText } from './errors.js';
import type { ClientConn } from './client.js';
import type { OriginConn } from './origin.js';

export interface HttpProxyLimits {
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  maxHeaderSize: number;
  maxUrlLength: number;
  /** whether clients must sign in with Proxy-Authorization: Basic */
  login: 'off' | 'optional' | 'required';
}

export interface HttpProxyOptions {
  admission: Admission;
  recorder: Recorder;
  limits: HttpProxyLimits;
}

/** One running HTTP proxy: its settings and everything it holds open. */
export interface HttpEngine {
  limits: HttpProxyLimits;
  headLimits: HeadLimits;
  readonly admission: Admission;
  readonly recorder: Recorder;
  /** RFC 9110 §7.6.3: our pseudonym in Via; its random part spots our own requests coming back */
  readonly viaName: string;
  readonly via: string;
  readonly clients: Set<ClientConn>;
  /** idle origin connections by "scheme://authority" */
  readonly pool: Map<string, OriginConn[]>;
  /** open tunnels and upgrades: each entry closes both of its sockets */
  readonly tunnels: Set<() => void>;
  /** CONNECT clients between their request and their tunnel (signing in, dialling) */
  readonly connecting: Set<net.Socket>;
  sweeper: NodeJS.Timeout | null;
}

export const MAX_FIELDS = 500;
export const CHALLENGE = 'Basic realm="Gatehouse", charset="UTF-8"';

/** RFC 9110 §7.6.1: hop-by-hop fields, never forwarded (plus the legacy Proxy-Connection / Keep-Alive). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** lengths of the field names forwardFields drops or rewrites (hop-by-hop, Via, and what callers skip: Host, Content-Length) */
const SPECIAL_LENGTH = new Uint8Array(64);
for (const n of [...HOP_BY_HOP, 'via', 'host', 'content-length']) SPECIAL_LENGTH[n.length] = 1;

/** Copies fields minus hop-by-hop ones and those the Connection field names (RFC 9110 §7.6.1), and adds our Via. */
export function forwardFields(e: HttpEngine, raw: string[], skip?: (lower: string) => boolean): string {
  let named: Set<string> | null = null;
  const conn = field(raw, 'connection');
  if (conn) {
    for (const t of conn.split(',')) {
      const token = t.trim().toLowerCase();
      if (token && token !== 'keep-alive' && token !== 'close') (named ??= new Set()).add(token);
    }
  }
  let out = '';
  let prior = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // only a name as long as one this loop looks for is lower-cased (most fields pass as they are)
    const lower = named || SPECIAL_LENGTH[name.length] === 1 ? name.toLowerCase() : '';
    if (lower === 'via') {
      prior = prior ? `${prior}, ${raw[i + 1]}` : raw[i + 1]!;
      continue;
    }
    if (lower && (HOP_BY_HOP.has(lower) || named?.has(lower) || skip?.(lower))) continue;
    out += `${name}: ${raw[i + 1]}\r\n`;
  }
  return `${out}Via: ${prior ? `${prior}, ${e.via}` : e.via}\r\n`;
}

/** Our own Via in the request: it has been through this proxy before (RFC 9110 §7.6.3 loop detection). */
export function looped(e: HttpEngine, raw: string[]): boolean {
  const v = field(raw, 'via');
  return v !== undefined && v.includes(e.viaName);
}

/** A whole error response: status, page, Proxy-Status (RFC 9209), and the challenge or Retry-After it needs. */
export function failResponse(e: HttpEngine, f: HttpFail, close: boolean, keepAlive10 = false): string {
  const body = errorPage(f);
  return (
    `HTTP/1.1 ${f.status} ${statusText(f.status)}\r\nContent-Type: text/html; charset=utf-8\r\n` +
    (f.status === 407 ? `Proxy-Authenticate: ${CHALLENGE}\r\n` : '') +
    (f.retryAfterS ? `Retry-After: ${f.retryAfterS}\r\n` : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nProxy-Status: ${proxyStatusHeader(f)}\r\n` +
    `Via: ${e.via}\r\n${close ? 'Connection: close\r\n' : keepAlive10 ? 'Connection: keep-alive\r\n' : ''}\r\n${body}`
  );
}

/**
 * Ends our side, keeps reading (and dropping) what the peer still sends so a reset does not wipe
 * the answer, and destroys the socket 2 s after the last byte has left (a client that never
 * reads is cut by the sweeper's idle deadline).
 */
export function endSoon(socket: net.Socket, last?: string): void {
  if (last !== undefined) socket.end(last);
  else socket.end();
  if (socket.isPaused()) socket.resume();
  const later = () => setTimeout(() => socket.destroy(), 2000).unref();
  if (socket.writableFinished) later();
  else socket.once('finish', later);
}

/** A whole error response on a socket we are about to give up (CONNECT, Upgrade, parse errors), then close. */
export function socketFail(e: HttpEngine, socket: net.Socket, f: HttpFail, rec?: ConnRecord): void {
  rec?.set({ status: f.status, error: rec.fields.error || f.detail });
  endSoon(socket, socket.writable ? failResponse(e, f, true) : undefined);
}
