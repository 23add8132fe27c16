/**
 * The web admin: serves the renderer and carries the control API over HTTP
 * (POST /api/call/<method>) and server-sent events (GET /api/events). Every
 * route needs the admin token, given once as /?token=… (which sets a
 * SameSite=Strict cookie) or as "Authorization: Bearer …". Cross-site writes
 * are refused (Origin / Sec-Fetch-Site checks, JSON only), and so are Host
 * names other than IP literals and localhost (DNS rebinding).
 *
 * It owns its event streams and bounds what each may hold: a reader that stops
 * reading (a suspended laptop, a stuck tab) gets snapshots coalesced to the
 * latest, and is closed once it holds too much or stays blocked too long; its
 * EventSource reconnects and the page reloads what it may have missed.
 */
import http from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { GatehouseError, type GatehouseEvent } from '../contract/index.js';
import type { ControlService } from './types.js';
import type { Logger } from '../logger.js';
import { hostPort } from '../net/addresses.js';
import { isIp } from '../contract/addresses.js';

export interface WebAdminOptions {
  control: ControlService;
  token: string;
  /** directory of the built renderer (index.html and assets) */
  rendererDir: string | null;
  logger: Logger;
  /** folder of log exports, downloadable at GET /api/exports/<file name> */
  exportsDir?: string;
  /** bytes an event stream whose reader is not reading may hold before it is closed (default 1 MiB) */
  streamMaxBuffered?: number;
  /** how long an event stream may wait for its reader before it is closed (default 30 s) */
  streamMaxBlockedMs?: number;
}

/** One open /api/events response and what it holds while its reader is behind. */
interface EventStream {
  res: http.ServerResponse;
  client: string;
  /** when a write last returned false, until 'drain'; null while the reader keeps up */
  blockedSince: number | null;
  /** frames waiting for 'drain', by coalescing key (see holdKey), oldest first */
  held: Map<string, string>;
  heldBytes: number;
  /** closes the stream when it stays blocked too long; set only while blocked */
  timer: NodeJS.Timeout | null;
}

/** One open event stream, as streamStats() reports it. */
export interface StreamStats {
  client: string;
  /** bytes the gateway holds for this stream (written but unsent, and held) */
  buffered: number;
  /** frames held back until the reader drains */
  held: number;
  blockedMs: number | null;
}

const COOKIE = 'gatehouse_admin';
const MAX_BODY = 1 << 20;
const STREAM_MAX_BUFFERED = 1 << 20;
const STREAM_MAX_BLOCKED_MS = 30_000;
const KEEP_ALIVE = ': keep-alive\n\n';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieToken(req: http.IncomingMessage): string | null {
  const c = req.headers.cookie;
  if (!c) return null;
  for (const part of c.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== COOKIE) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return null; // a malformed cookie is no cookie
    }
  }
  return null;
}

/** Only IP literals and localhost, with an optional port: a DNS name may be an attacker's rebinding. */
function hostAllowed(host: string | undefined): boolean {
  if (!host) return false;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(host);
  if (v6) return isIp(v6[1]!);
  const m = /^([^:]+)(?::\d{1,5})?$/.exec(host);
  if (!m) return false;
  return m[1] === 'localhost' || (isIp(m[1]!) && !m[1]!.includes(':'));
}

const UNAUTHORIZED_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gatehouse admin</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1f2937;max-width:36rem;margin:5rem auto;padding:0 1rem}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Sign-in link needed</h1><p>This page needs the admin link that Gatehouse printed when it started
(it ends in <code>?token=…</code>). Run <code>gatehouse admin-url</code> on the gateway PC to print it again.</p></body></html>`;

export class WebAdmin {
  private server: http.Server | null = null;
  private readonly streams = new Map<http.ServerResponse, EventStream>();
  private unsubscribe: (() => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** numbers events, so frames that must each be kept get keys of their own */
  private seq = 0;

  constructor(private readonly opts: WebAdminOptions) {}

  get url(): string | null {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return null;
    const host = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '::1' : a.address;
    return `http://${hostPort(host, a.port)}`;
  }

  async start(host: string, port: number): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new GatehouseError('E_PORT_IN_USE', `web admin: port ${port} is already in use; choose another admin.port`)
            : err,
        ),
      );
      server.listen({ host, port, exclusive: true }, () => resolve());
    });
    this.server = server;
    this.heartbeat = setInterval(() => {
      for (const s of this.streams.values()) this.deliver(s, 'keep-alive', KEEP_ALIVE, KEEP_ALIVE.length);
    }, 15000);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const s of this.streams.values()) {
      if (s.timer) clearTimeout(s.timer);
      s.res.end();
    }
    this.streams.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private authorized(req: http.IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && same(auth.slice(7).trim(), this.opts.token)) return true;
    const c = cookieToken(req);
    return c !== null && same(c, this.opts.token);
  }

  private send(res: http.ServerResponse, status: number, body: string, type: string, extra: http.OutgoingHttpHeaders = {}): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...SECURITY_HEADERS, ...extra });
    res.end(body);
  }

  private sendJson(res: http.ServerResponse, status: number, value: unknown): void {
    this.send(res, status, JSON.stringify(value), 'application/json; charset=utf-8');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => res.destroy());
    if (!hostAllowed(req.headers.host)) {
      return this.send(res, 421, 'Use the address Gatehouse printed (an IP address or localhost).', 'text/plain; charset=utf-8');
    }
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const token = url.searchParams.get('token');
    if (req.method === 'GET' && token !== null) {
      if (!same(token, this.opts.token)) return this.send(res, 401, UNAUTHORIZED_PAGE, 'text/html; charset=utf-8');
      // trade the token in the address bar for a cookie, and drop it from the URL
      url.searchParams.delete('token');
      return this.send(res, 303, '', 'text/plain', {
        Location: url.pathname + (url.search || ''),
        'Set-Cookie': `${COOKIE}=${encodeURIComponent(this.opts.token)}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    if (!this.authorized(req)) {
      if (url.pathname.startsWith('/api/')) {
        return this.sendJson(res, 401, { ok: false, error: { code: 'E_UNAUTHORIZED', message: 'the admin token is missing or wrong; open the admin link Gatehouse printed' } });
      }
      return this.send(res, 401, UNAUTHORIZED_PAGE, 'text/html; charset=utf-8');
    }
    if (url.pathname.startsWith('/api/call/')) return this.handleCall(req, res, url.pathname.slice('/api/call/'.length));
    if (url.pathname === '/api/events' && req.method === 'GET') return this.handleEvents(req, res);
    if (url.pathname.startsWith('/api/exports/') && req.method === 'GET') return this.serveExport(res, url.pathname.slice('/api/exports/'.length));
    if (req.method === 'GET' || req.method === 'HEAD') return this.serveStatic(res, url.pathname);
    this.send(res, 405, 'Method not allowed', 'text/plain; charset=utf-8');
  }

  private crossSite(req: http.IncomingMessage): string | null {
    const site = req.headers['sec-fetch-site'];
    if (site && site !== 'same-origin' && site !== 'none') return `cross-site request refused (Sec-Fetch-Site: ${site})`;
    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}`) return `cross-site request refused (Origin: ${origin})`;
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) return 'requests must be application/json';
    return null;
  }

  private handleCall(req: http.IncomingMessage, res: http.ServerResponse, method: string): void {
    if (req.method !== 'POST') return this.sendJson(res, 405, { ok: false, error: { code: 'E_VALIDATION', message: 'use POST' } });
    const refused = this.crossSite(req);
    if (refused) return this.sendJson(res, 403, { ok: false, error: { code: 'E_FORBIDDEN', message: refused } });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        this.sendJson(res, 413, { ok: false, error: { code: 'E_VALIDATION', message: 'request body too large' } });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', async () => {
      if (size > MAX_BODY) return;
      let input: unknown = {};
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim()) {
        try {
          input = JSON.parse(text);
        } catch {
          return this.sendJson(res, 400, { ok: false, error: { code: 'E_VALIDATION', message: 'the body is not valid JSON' } });
        }
      }
      let name: string;
      try {
        name = decodeURIComponent(method);
      } catch {
        return this.sendJson(res, 404, { ok: false, error: { code: 'E_UNKNOWN_METHOD', message: 'malformed method name' } });
      }
      const result = await this.opts.control.call(name, input);
      const status = result.ok ? 200 : new GatehouseError(result.error.code, '').httpStatus;
      this.sendJson(res, status, result);
    });
  }

  private handleEvents(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      ...SECURITY_HEADERS,
    });
    const stream: EventStream = {
      res,
      client: hostPort(req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0),
      blockedSince: null,
      held: new Map(),
      heldBytes: 0,
      timer: null,
    };
    this.streams.set(res, stream);
    if (!res.write('retry: 2000\n\n')) this.block(stream);
    // subscribed only while a page watches: with nobody watching, events (log batches come often) cost nothing
    this.unsubscribe ??= this.opts.control.subscribe((e) => this.publish(e));
    req.socket.setTimeout(0);
    res.on('drain', () => this.flush(stream));
    res.on('close', () => this.forget(stream));
  }

  /** Each open event stream: what it holds and how long it has waited (for tests and diagnostics). */
  streamStats(): StreamStats[] {
    const now = Date.now();
    return [...this.streams.values()].map((s) => ({
      client: s.client,
      buffered: s.res.writableLength + s.heldBytes,
      held: s.held.size,
      blockedMs: s.blockedSince === null ? null : now - s.blockedSince,
    }));
  }

  private publish(e: GatehouseEvent): void {
    const frame = `data: ${JSON.stringify(e)}\n\n`;
    const key = holdKey(e, ++this.seq);
    const size = Buffer.byteLength(frame);
    for (const s of this.streams.values()) this.deliver(s, key, frame, size);
  }

  /**
   * Writes a frame while the reader keeps up; while it is blocked, holds it instead,
   * replacing an older frame with the same key. The socket's buffer plus the held
   * frames stay within streamMaxBuffered (a single frame larger than that still goes
   * to a reader that keeps up); past it the stream is closed.
   */
  private deliver(s: EventStream, key: string, frame: string, size: number): void {
    if (s.blockedSince === null) {
      if (!s.res.write(frame)) this.block(s);
      return;
    }
    const old = s.held.get(key);
    if (old !== undefined) {
      s.held.delete(key);
      s.heldBytes -= Buffer.byteLength(old);
    }
    if (s.res.writableLength + s.heldBytes + size > (this.opts.streamMaxBuffered ?? STREAM_MAX_BUFFERED)) {
      return this.drop(s, 'it holds too much');
    }
    s.held.set(key, frame);
    s.heldBytes += size;
  }

  private block(s: EventStream): void {
    if (s.blockedSince !== null) return;
    s.blockedSince = Date.now();
    s.timer = setTimeout(() => this.drop(s, 'it stayed blocked'), this.opts.streamMaxBlockedMs ?? STREAM_MAX_BLOCKED_MS);
    s.timer.unref();
  }

  /** The reader caught up: send what was held, in one write. */
  private flush(s: EventStream): void {
    if (s.blockedSince === null || !this.streams.has(s.res)) return;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    s.blockedSince = null;
    if (s.held.size === 0) return;
    const text = [...s.held.values()].join('');
    s.held.clear();
    s.heldBytes = 0;
    if (!s.res.write(text)) this.block(s);
  }

  /** Closes a stream whose reader is not reading; its EventSource reconnects and the page reloads. */
  private drop(s: EventStream, why: string): void {
    if (!this.streams.has(s.res)) return;
    this.opts.logger.warn(`closed an event stream because ${why}; the page reconnects and reloads`, {
      client: s.client,
      buffered: s.res.writableLength + s.heldBytes,
      blockedMs: s.blockedSince === null ? null : Date.now() - s.blockedSince,
    });
    this.forget(s);
    s.res.destroy();
  }

  private forget(s: EventStream): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    s.held.clear();
    s.heldBytes = 0;
    if (!this.streams.delete(s.res)) return;
    if (this.streams.size === 0) {
      this.unsubscribe?.();
      this.unsubscribe = null;
    }
  }

  /** A log export as a download: only plain file names inside the exports folder. */
  private serveExport(res: http.ServerResponse, name: string): void {
    const dir = this.opts.exportsDir;
    const st = dir && /^[\w.-]+$/.test(name) && !name.startsWith('.') ? statSafe(join(dir, name)) : null;
    if (!dir || !st || !st.isFile()) return this.send(res, 404, 'No such export', 'text/plain; charset=utf-8');
    const type = name.endsWith('.csv') ? 'text/csv; charset=utf-8' : name.endsWith('.har') ? 'application/json' : 'application/x-ndjson';
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': st.size,
      'Content-Disposition': `attachment; filename="${name}"`,
      'Cache-Control': 'no-store',
      ...SECURITY_HEADERS,
    });
    createReadStream(join(dir, name)).pipe(res);
  }

  private serveStatic(res: http.ServerResponse, pathname: string): void {
    const dir = this.opts.rendererDir;
    if (!dir) return this.send(res, 404, 'The user interface is not built (run npm run build).', 'text/plain; charset=utf-8');
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return this.send(res, 400, 'Bad path', 'text/plain; charset=utf-8');
    }
    let file = normalize(join(dir, rel));
    if (!file.startsWith(normalize(dir + sep)) && file !== normalize(dir)) return this.send(res, 404, 'Not found', 'text/plain; charset=utf-8');
    let st = statSafe(file);
    if (!st && rel.startsWith('/assets/')) return this.send(res, 404, 'Not found', 'text/plain; charset=utf-8');
    if (!st || st.isDirectory()) {
      // the app is a single page: unknown paths get index.html
      file = join(dir, 'index.html');
      st = statSafe(file);
      if (!st) return this.send(res, 404, 'The user interface is not built (run npm run build).', 'text/plain; charset=utf-8');
    }
    const immutable = rel.startsWith('/assets/');
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': st.size,
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...SECURITY_HEADERS,
    });
    createReadStream(file).pipe(res);
  }
}

/**
 * The key under which a blocked stream holds an event's frame; a later frame with
 * the same key replaces it. Snapshots (status, settings), "reload" notices (users,
 * rules) and an export job's progress need only the latest; each batch of log rows
 * is kept (the page adds them), so those count toward the bound until it closes.
 */
function holdKey(e: GatehouseEvent, seq: number): string {
  switch (e.type) {
    case 'status':
    case 'settings':
    case 'users':
    case 'rules':
    case 'tunnels':
      return e.type;
    case 'export':
      return `export:${e.job.id}`;
    case 'log':
      return `log#${seq}`;
    default: {
      // a new event type must be placed here: may it replace an older one?
      const unplaced: never = e;
      return `${(unplaced as GatehouseEvent).type}#${seq}`;
    }
  }
}

function statSafe(file: string) {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

/** The built renderer next to the bundle (dist/, app/dist/main/) or the sources' build output. */
export function findRendererDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const c of [join(here, '../app/dist/renderer'), join(here, '../renderer'), join(here, '../../app/dist/renderer')]) {
    if (existsSync(join(c, 'index.html'))) return c;
  }
  return null;
}
