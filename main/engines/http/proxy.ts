/**
 * The HTTP/HTTPS forward proxy (RFC 9110, RFC 9112) on raw sockets: absolute-
 * form requests of every method with bodies streamed both ways, pooled keep-
 * alive connections to origins, hop-by-hop headers removed, Via added, 1xx
 * relayed, Upgrade (WebSocket) relayed, and CONNECT tunnels.
 *
 * Messages are framed by the sans-IO codec (codec.ts); this file moves bytes.
 * One `ClientConn` per client connection reads request heads one at a time;
 * each request is an `Exchange` that borrows an `OriginConn` from the pool,
 * sends the head and streams the body, then relays the response back, and
 * returns the origin connection to the pool when both messages are complete.
 * Node's http module is not used: its server and client cost more per request
 * than the whole forwarding here (see the benchmark figures in the README).
 *
 * It holds no policy: every request is described to `policy.decide` first.
 * Each request or tunnel is one record, completed once when it ends.
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Policy } from '../../policy/policy.js';
import { parseBasic, type Authenticator, type AuthUser } from '../../policy/auth.js';
import { ThrottleStream, type Lease, type Limiter } from '../../policy/limits.js';
import { CONGESTION_RETRY_MS, type ConnRecord, type Recorder } from '../../recorder.js';
import { hostPort, isLoopbackOrOwn, normalizeAddr, ownAddresses, parseAuthority } from '../../net/addresses.js';
import { dial } from '../../net/dialer.js';
import { copyOut, fastReader, giveBack, relay, sharedOnread } from '../../net/relay.js';
import { sharedReads } from '../../net/shared-reads.js';
import { HttpFail, errorPage, failFromErrno, proxyStatusHeader, statusText } from './errors.js';
import {
  BodyFramer,
  field,
  hasToken,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  type Framing,
  type HeadLimits,
  type RequestHead,
  type ResponseHead,
} from './codec.js';

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
  policy: Policy;
  recorder: Recorder;
  auth: Authenticator;
  limiter: Limiter;
  limits: HttpProxyLimits;
  /** whether Gatehouse listens on this port (loop detection) */
  isOwnPort?: (port: number) => boolean;
}

export interface HttpProxy {
  createServer(): net.Server;
  setLimits(limits: HttpProxyLimits): void;
  /** for a stop: close idle client connections now, the others once their current response is done */
  closeIdle(): void;
  /** close every client connection, pooled origin connection and open tunnel */
  destroyAll(): void;
}

/** RFC 9110 §7.6.1: hop-by-hop fields, never forwarded (plus the legacy Proxy-Connection / Keep-Alive). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** lengths of the field names forwardFields drops or rewrites (hop-by-hop, Via, and what callers skip: Host, Content-Length) */
const SPECIAL_LENGTH = new Uint8Array(64);
for (const n of [...HOP_BY_HOP, 'via', 'host', 'content-length']) SPECIAL_LENGTH[n.length] = 1;

/** Methods whose requests carry no body unless framed; others get Content-Length: 0 when they have none. */
const NO_BODY_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
/** RFC 9110 §9.2.2: requests that may be sent again when a pooled connection turns out to be closed */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const MAX_FIELDS = 500;
const NO_LEASE: { lease: Lease | null } = Object.freeze({ lease: null });
/** error pages one connection gets before it is closed (a pipelined burst of bad requests) */
const MAX_FAILURES = 32;
const isContentLength = (lower: string) => lower === 'content-length';
const isHostOrLength = (lower: string) => lower === 'host' || lower === 'content-length';
const RESPONSE_HEAD_MAX = 64 * 1024;
/** bytes of request body held while the origin connection is being set up */
const UP_QUEUE_MAX = 256 * 1024;
/** pooled origin connections per origin, and how long one may sit idle */
const POOL_PER_ORIGIN = 256;
const POOL_IDLE_MS = 15_000;

interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** host[:port] as the Host field carries it */
  authority: string;
  /** origin-form: path and query */
  path: string;
  url: string;
}

/** Parses an absolute-form request-target (RFC 9112 §3.2.2); HttpFail for anything we will not forward. */
export function parseTarget(raw: string, maxUrlLength: number): Target | HttpFail {
  if (raw.length > maxUrlLength) {
    return new HttpFail(414, 'Address too long', `The requested URL is ${raw.length} characters; the limit is ${maxUrlLength}.`, 'http_request_error');
  }
  if (raw.startsWith('/') || raw === '*') {
    return new HttpFail(
      400,
      'This is a proxy server',
      'Gatehouse received a request for itself. Configure this address and port as the HTTP proxy in your browser or system settings, then open web sites as usual.',
      'http_request_error',
    );
  }
  const bad = (why: string) => new HttpFail(400, 'Malformed request', `"${raw.slice(0, 200)}" ${why}.`, 'http_request_error');
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(raw);
  if (!m) return bad('is not a valid absolute URL');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    return new HttpFail(400, 'Unsupported scheme', `The scheme "${scheme}" cannot be proxied; use http or https.`, 'http_request_error');
  }
  // RFC 9110 §4.2.4: userinfo is not to be sent; drop it
  let auth = m[2]!;
  const at = auth.lastIndexOf('@');
  if (at >= 0) auth = auth.slice(at + 1);
  let host: string;
  let portText = '';
  if (auth.startsWith('[')) {
    const close = auth.indexOf(']');
    if (close < 0) return bad('has an unclosed IPv6 address');
    host = auth.slice(1, close).toLowerCase();
    if (!net.isIPv6(host)) return bad('has an invalid IPv6 address');
    const rest = auth.slice(close + 1);
    if (rest && !rest.startsWith(':')) return bad('has an invalid authority');
    portText = rest.slice(1);
  } else {
    const colon = auth.lastIndexOf(':');
    host = (colon >= 0 ? auth.slice(0, colon) : auth).toLowerCase();
    portText = colon >= 0 ? auth.slice(colon + 1) : '';
    if (!/^[a-z0-9._~!$&'()*+,;=%-]*$/.test(host)) return bad('has an invalid host name');
  }
  if (!host) return new HttpFail(400, 'Malformed request', 'The URL has no host.', 'http_request_error');
  const defaultPort = scheme === 'https' ? 443 : 80;
  let port = defaultPort;
  if (portText) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return bad('has an invalid port');
    port = Number(portText);
  }
  const h = host.includes(':') ? `[${host}]` : host;
  const authority = port === defaultPort ? h : `${h}:${port}`;
  let path = m[3]!;
  if (!path.startsWith('/')) path = `/${path}`;
  return { scheme, host, port, authority, path, url: `${scheme}://${authority}${path}` };
}

/**
 * Ends our side, keeps reading (and dropping) what the peer still sends so a reset does not wipe
 * the answer, and destroys the socket 2 s after the last byte has left (a client that never
 * reads is cut by the sweeper's idle deadline).
 */
function endSoon(socket: net.Socket, last?: string): void {
  if (last !== undefined) socket.end(last);
  else socket.end();
  if (socket.isPaused()) socket.resume();
  const later = () => setTimeout(() => socket.destroy(), 2000).unref();
  if (socket.writableFinished) later();
  else socket.once('finish', later);
}

function clientOf(socket: net.Socket): { clientAddr: string; clientPort: number } {
  return { clientAddr: normalizeAddr(socket.remoteAddress), clientPort: socket.remotePort ?? 0 };
}

/** A connection to an origin, pooled between exchanges. */
class OriginConn {
  ex: Exchange | null = null;
  buf: Buffer | null = null;
  idleSince = 0;
  /** it served an exchange before this one (so a quiet close may just be the keep-alive ending) */
  reused = false;
  connected = false;
  error: NodeJS.ErrnoException | null = null;
  constructor(
    readonly socket: net.Socket,
    readonly key: string,
  ) {}
}

/** One client connection: reads request heads one at a time. */
class ClientConn {
  buf: Buffer | null = null;
  ex: Exchange | null = null;
  /** when the current wait (for a head, or idle between requests) runs out */
  deadline: number;
  /** close once the current response is done */
  closing = false;
  /** handed over to a tunnel, or closing: no longer ours to read */
  detached = false;
  /** our side is ended; the socket goes once its last bytes left (or at `deadline`) */
  ending = false;
  /** error pages answered on this connection: past a few dozen, it is closed */
  failures = 0;
  readonly clientAddr: string;
  readonly clientPort: number;
  constructor(
    readonly socket: net.Socket,
    headerTimeoutMs: number,
  ) {
    const c = clientOf(socket);
    this.clientAddr = c.clientAddr;
    this.clientPort = c.clientPort;
    this.deadline = Date.now() + headerTimeoutMs;
  }
}

/** One request and its response. */
class Exchange {
  origin: OriginConn | null = null;
  /** request body bytes waiting for the origin connection */
  upQueue: Buffer[] | null = null;
  upQueued = 0;
  reqDone: boolean;
  resFramer: BodyFramer | null = null;
  resHeadSent = false;
  /** the response is complete (or failed) and the record completed */
  finished = false;
  /** the client connection ends after this response */
  closeAfter: boolean;
  originReusable = false;
  bytesUp: number;
  bytesDown = 0;
  /** when the request went out (for the response timeout), 0 before */
  sentAt = 0;
  last = 0;
  retried = false;
  lease: Lease | null = null;
  downTh: ThrottleStream | null = null;
  upTh: ThrottleStream | null = null;
  head = '';
  target: Target | null = null;
  framing: Framing | null = null;
  upgrade = false;
  /** chunked response decoded for an HTTP/1.0 client */
  decode = false;
  /** the response head, waiting to leave with the first body bytes */
  headOut: string | null = null;
  constructor(
    readonly client: ClientConn,
    readonly req: RequestHead,
    readonly rec: ConnRecord,
    readonly reqFramer: BodyFramer,
  ) {
    this.reqDone = reqFramer.done;
    this.bytesUp = req.size;
    const conn = field(req.raw, 'connection') ?? field(req.raw, 'proxy-connection');
    // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"
    this.closeAfter = req.minor === 1 ? hasToken(conn, 'close') : !hasToken(conn, 'keep-alive');
  }
}

export function createHttpProxy(opts: HttpProxyOptions): HttpProxy {
  let limits = opts.limits;
  let headLimits: HeadLimits = { maxHeaderSize: limits.maxHeaderSize, maxUrlLength: limits.maxUrlLength, maxFields: MAX_FIELDS };
  const { policy, recorder, auth } = opts;
  const CHALLENGE = 'Basic realm="Gatehouse", charset="UTF-8"';
  // RFC 9110 §7.6.3: a pseudonym in Via; the random part lets us spot our own requests coming back
  const viaName = `gatehouse-${randomBytes(3).toString('hex')}`;
  const via = `1.1 ${viaName}`;
  const own = ownAddresses();
  const clients = new Set<ClientConn>();
  const pool = new Map<string, OriginConn[]>();
  /** open tunnels and upgrades: each entry closes both of its sockets */
  const tunnels = new Set<() => void>();
  /** CONNECT clients between their request and their tunnel (signing in, dialling) */
  const connecting = new Set<net.Socket>();
  let sweeper: NodeJS.Timeout | null = null;

  // ---------------------------------------------------------------- who and whether

  /**
   * Who is asking (RFC 9110 §11.7.1 Proxy-Authorization, RFC 7617 Basic). Calls `go` with the
   * user (or undefined when login is off or optional and no credentials came), or with an HttpFail
   * (407 with a challenge, or 403 while the address is locked out).
   */
  function identify(header: string | undefined, clientAddr: string, rec: ConnRecord, go: (r: AuthUser | undefined | HttpFail) => void): void {
    if (limits.login === 'off') return go(undefined);
    const cred = parseBasic(header);
    if (!cred) {
      if (limits.login === 'optional' && !header) return go(undefined);
      rec.set({ rule: 'login', allowed: false, error: header ? 'unreadable Proxy-Authorization header' : 'login required' });
      return go(new HttpFail(407, 'Sign-in required', 'This proxy needs a user name and password. Your browser or app should ask for them.', 'proxy_auth_required'));
    }
    rec.set({ user: cred.name });
    auth.check(cred.name, cred.password, clientAddr).then(
      (r) => {
        if (r.ok) return go(r.user);
        rec.set({ rule: r.lockedOut ? 'lockout' : 'login', allowed: false, error: r.reason });
        if (r.lockedOut) return go(new HttpFail(403, 'Too many failed sign-ins', 'Sign-ins from this address are refused for a while after repeated failures. Try again later.', 'proxy_auth_required'));
        go(new HttpFail(407, 'Sign-in failed', 'The user name or password is wrong, or the user is disabled.', 'proxy_auth_required'));
      },
      (err) => go(new HttpFail(500, 'Sign-in check failed', String((err as Error).message), 'proxy_internal_error')),
    );
  }

  function decide(rec: ConnRecord, clientAddr: string, host: string, port: number, method: string, user?: AuthUser): HttpFail | { lease: Lease | null } {
    const d = policy.decide({ service: 'http', clientAddr, user: user?.name, groups: user?.groups, host, port, method });
    if (!d.allow) {
      rec.set({ rule: d.rule, allowed: false, error: d.reason });
      return new HttpFail(403, 'Access refused', `Gatehouse refused this request: ${d.reason}.`, 'destination_ip_prohibited');
    }
    rec.set({ rule: d.rule, allowed: true });
    if (!d.limits) return NO_LEASE;
    const lease = opts.limiter.acquire(d.limits);
    if (!lease) {
      const why = `${user ? `user ${user.name}` : `client ${clientAddr}`} already has ${d.limits.maxConnections} connections open (rule "${d.rule}")`;
      rec.set({ allowed: false, error: why });
      return new HttpFail(429, 'Too many connections', `${why}. Close some and try again.`, 'connection_limit_reached');
    }
    return { lease };
  }

  function isSelf(host: string, port: number): boolean {
    return (opts.isOwnPort?.(port) ?? false) && isLoopbackOrOwn(host, own);
  }

  function looped(raw: string[]): boolean {
    const v = field(raw, 'via');
    return v !== undefined && v.includes(viaName);
  }

  /** Copies fields minus hop-by-hop ones and those the Connection field names (RFC 9110 §7.6.1). */
  function forwardFields(raw: string[], skip?: (lower: string) => boolean): string {
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
    return `${out}Via: ${prior ? `${prior}, ${via}` : via}\r\n`;
  }

  // ---------------------------------------------------------------- failing

  function failResponse(f: HttpFail, close: boolean, keepAlive10 = false): string {
    const body = errorPage(f);
    return (
      `HTTP/1.1 ${f.status} ${statusText(f.status)}\r\nContent-Type: text/html; charset=utf-8\r\n` +
      (f.status === 407 ? `Proxy-Authenticate: ${CHALLENGE}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nProxy-Status: ${proxyStatusHeader(f)}\r\n` +
      `Via: ${via}\r\n${close ? 'Connection: close\r\n' : keepAlive10 ? 'Connection: keep-alive\r\n' : ''}\r\n${body}`
    );
  }

  /** A whole error response on a socket we are about to give up (CONNECT, Upgrade, parse errors), then close. */
  function socketFail(socket: net.Socket, f: HttpFail, rec?: ConnRecord): void {
    rec?.set({ status: f.status, error: rec.fields.error || f.detail });
    endSoon(socket, socket.writable ? failResponse(f, true) : undefined);
  }

  /** One failure path for exchanges: answer with the page if nothing was sent yet, else cut the connection. */
  function httpFail(ex: Exchange, f: HttpFail): void {
    if (ex.finished) return;
    ex.rec.set({ status: f.status, error: ex.rec.fields.error || f.detail });
    dropOrigin(ex);
    if (ex.headOut !== null) {
      // the origin's head was held back and never left: the page replaces it
      ex.bytesDown -= ex.headOut.length;
      ex.headOut = null;
      ex.resHeadSent = false;
      ex.closeAfter = true;
    }
    if (ex.resHeadSent || ex.client.socket.destroyed) {
      ex.client.socket.destroy();
      return;
    }
    // the rest of an unread request body would be taken for the next request
    if (!ex.reqDone) ex.closeAfter = true;
    if (++ex.client.failures > MAX_FAILURES) ex.closeAfter = true;
    const close = ex.closeAfter || ex.client.closing;
    const page = failResponse(f, close, !close && ex.req.minor === 0);
    ex.resHeadSent = true;
    ex.bytesDown += Buffer.byteLength(page);
    ex.client.socket.write(page);
    finish(ex);
  }

  // ---------------------------------------------------------------- client side

  function onClientConnection(socket: net.Socket): void {
    socket.setNoDelay(true);
    sharedReads(socket);
    const c = new ClientConn(socket, limits.headerTimeoutMs);
    clients.add(c);
    ensureSweeper();
    socket.on('data', (chunk: Buffer) => onClientData(c, chunk));
    socket.on('drain', () => {
      const o = c.ex?.origin;
      if (o && !c.ex!.downTh) o.socket.resume();
      c.ex?.downTh?.resume();
    });
    socket.on('end', () => {
      c.closing = true;
      if (c.detached) return;
      const ex = c.ex;
      if (!ex) return void socket.end();
      // the client ended its side with a request in flight: browsers do that when they give up, so
      // the exchange ends (as with node's http server): origin connection, slot and record go now
      if (!ex.finished) {
        ex.rec.set({ error: ex.rec.fields.error || (ex.resHeadSent ? 'client closed during the response' : 'client closed before the response') });
        dropOrigin(ex);
      }
      socket.destroy();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clients.delete(c);
      const ex = c.ex;
      if (ex && !ex.finished && !c.detached) {
        ex.rec.set({ error: ex.rec.fields.error || (ex.resHeadSent ? 'connection closed during the response' : 'client closed before the response') });
        dropOrigin(ex);
        finish(ex);
      }
    });
  }

  function onClientData(c: ClientConn, chunk: Buffer): void {
    // closing after an answer: what the client still sends is read and dropped, so the answer is not lost to a reset
    if (c.detached) return;
    const ex = c.ex;
    if (ex && !ex.reqDone) {
      const n = ex.reqFramer.take(chunk, 0);
      if (n < 0) return httpFail(ex, new HttpFail(400, 'Malformed request', `The request body could not be read: ${ex.reqFramer.error}.`, 'http_request_error'));
      if (n > 0) sendUp(ex, n === chunk.length ? chunk : chunk.subarray(0, n));
      if (ex.reqFramer.done) ex.reqDone = true;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    if (!c.buf && !c.ex) c.deadline = Date.now() + limits.headerTimeoutMs;
    c.buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
    if (c.ex) {
      // a pipelined request waits until this exchange is done
      if (c.buf.length > limits.maxHeaderSize) c.socket.pause();
      return;
    }
    // a head can only be complete once a line ends: a head dripped byte by byte is not rescanned per byte
    if (chunk.indexOf(10) < 0 && c.buf.length <= limits.maxHeaderSize && c.buf !== chunk) return;
    nextRequest(c);
  }

  /** Reads the next request head from the buffered bytes, if it is all there. */
  function nextRequest(c: ClientConn): void {
    // (also runs from setImmediate: the connection may be gone by then)
    if (!c.buf || c.ex || c.detached || c.socket.destroyed) return;
    if (recorder.congested) return logCongested(c);
    const r = parseRequestHead(c.buf, headLimits);
    if (r.kind === 'more') return;
    if (r.kind === 'error') {
      const f = new HttpFail(r.status, r.status === 400 ? 'Malformed request' : statusText(r.status), `The request could not be read: ${r.reason}.`, 'http_request_error');
      const rec = recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, allowed: false, rule: 'protocol' });
      c.buf = null;
      c.detached = true;
      socketFail(c.socket, f, rec);
      rec.complete();
      return;
    }
    const head = r.head;
    const rest = c.buf.length > head.size ? c.buf.subarray(head.size) : null;
    c.buf = null;
    if (head.method === 'CONNECT') return onConnect(c, head, rest ?? Buffer.alloc(0));
    const rec = recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, method: head.method, url: head.target });
    const framing = requestFraming(head);
    if (!('kind' in framing)) {
      c.detached = true;
      socketFail(c.socket, new HttpFail(framing.status, framing.status === 501 ? 'Not implemented' : 'Malformed request', `The request could not be read: ${framing.reason}.`, 'http_request_error'), rec);
      rec.complete({ bytesUp: head.size });
      return;
    }
    const ex = new Exchange(c, head, rec, new BodyFramer(framing));
    c.ex = ex;
    ex.last = Date.now();
    rec.onKill(c.socket);
    if (rest) onClientData(c, rest);
    if (c.ex === ex && !ex.finished) startExchange(ex, framing);
  }

  /** The log is far behind: this connection's next request waits (see Recorder.congested). */
  function logCongested(c: ClientConn): void {
    if (c.socket.destroyed) return;
    c.socket.pause();
    c.deadline = Date.now() + limits.headerTimeoutMs;
    setTimeout(() => {
      if (c.socket.destroyed || c.ex) return;
      if (!recorder.congested) c.socket.resume();
      nextRequest(c);
    }, CONGESTION_RETRY_MS);
  }

  function startExchange(ex: Exchange, framing: Framing): void {
    const t = parseTarget(ex.req.target, limits.maxUrlLength);
    if (t instanceof HttpFail) return httpFail(ex, t);
    ex.target = t;
    ex.framing = framing;
    ex.rec.set({ host: t.host, port: t.port, url: t.url });
    if (limits.login === 'off') return admit(ex, undefined);
    identify(field(ex.req.raw, 'proxy-authorization'), ex.client.clientAddr, ex.rec, (who) => admit(ex, who));
  }

  /** The requester is known (or need not be): ask the policy, then send the request on. */
  function admit(ex: Exchange, who: AuthUser | undefined | HttpFail): void {
    if (ex.finished) return;
    if (who instanceof HttpFail) {
      if (who.status === 407) ex.closeAfter ||= !ex.reqDone;
      return httpFail(ex, who);
    }
    if (who) ex.rec.set({ user: who.name });
    const t = ex.target!;
    const d = decide(ex.rec, ex.client.clientAddr, t.host, t.port, ex.req.method, who);
    if (d instanceof HttpFail) return httpFail(ex, d);
    ex.lease = d.lease;
    if (isSelf(t.host, t.port) || looped(ex.req.raw)) {
      return httpFail(ex, new HttpFail(508, 'Request loop', `The request for ${t.authority} would reach Gatehouse itself.`, 'proxy_loop_detected'));
    }
    const upgradeTo = field(ex.req.raw, 'upgrade');
    ex.upgrade = upgradeTo !== undefined && hasToken(field(ex.req.raw, 'connection'), 'upgrade');
    ex.head = requestHead(ex, t, ex.framing!, upgradeTo);
    sendRequest(ex);
  }

  /** The head sent to the origin: origin-form target, Host from the URL (RFC 9112 §3.2.2), our framing. */
  function requestHead(ex: Exchange, t: Target, framing: Framing, upgradeTo: string | undefined): string {
    let s = `${ex.req.method} ${t.path} HTTP/1.1\r\nHost: ${t.authority}\r\n`;
    s += forwardFields(ex.req.raw, isHostOrLength);
    if (framing.kind === 'chunked') s += 'Transfer-Encoding: chunked\r\n';
    else if (framing.kind === 'length') s += `Content-Length: ${framing.length}\r\n`;
    else if (!NO_BODY_BY_DEFAULT.has(ex.req.method) || field(ex.req.raw, 'content-length') !== undefined) s += 'Content-Length: 0\r\n';
    if (ex.upgrade) s += `Connection: Upgrade\r\nUpgrade: ${upgradeTo}\r\n`;
    return `${s}\r\n`;
  }

  /** Request body bytes: to the origin when it is there, else queued (and the client paused when the queue is full). */
  function sendUp(ex: Exchange, chunk: Buffer): void {
    ex.bytesUp += chunk.length;
    ex.last = Date.now();
    const o = ex.origin;
    if (!o || !o.connected || ex.upQueue) {
      (ex.upQueue ??= []).push(chunk);
      ex.upQueued += chunk.length;
      if (ex.upQueued > UP_QUEUE_MAX) ex.client.socket.pause();
      return;
    }
    writeUp(ex, o, chunk);
  }

  function writeUp(ex: Exchange, o: OriginConn, chunk: Buffer): void {
    if (ex.lease?.up) {
      if (!ex.upTh) {
        const th = (ex.upTh = new ThrottleStream(ex.lease.up));
        th.on('data', (b: Buffer) => {
          if (!o.socket.write(b)) th.pause();
        });
        th.on('drain', () => ex.client.socket.resume());
        ex.originReusable = false;
      }
      if (!ex.upTh.write(chunk)) ex.client.socket.pause();
      return;
    }
    if (!o.socket.write(chunk)) ex.client.socket.pause();
  }

  // ---------------------------------------------------------------- origin side

  function sendRequest(ex: Exchange): void {
    const t = ex.target!;
    const key = `${t.scheme}://${t.authority}`;
    let o: OriginConn | undefined;
    if (!ex.upgrade && !ex.retried) {
      const free = pool.get(key);
      while (free?.length && !o) {
        const cand = free.pop()!;
        if (!cand.socket.destroyed && cand.socket.writable) o = cand;
      }
    }
    if (!o) o = dialOrigin(key, t, ex);
    o.ex = ex;
    ex.origin = o;
    if (o.connected) writeRequest(ex, o);
  }

  function writeRequest(ex: Exchange, o: OriginConn): void {
    const s = o.socket;
    ex.sentAt = ex.last = Date.now();
    const q = ex.upQueue;
    ex.upQueue = null;
    ex.upQueued = 0;
    if (!q) {
      s.write(ex.head, 'latin1');
    } else {
      s.cork();
      s.write(ex.head, 'latin1');
      for (const b of q) writeUp(ex, o, b);
      s.uncork();
      if (!ex.client.detached) ex.client.socket.resume();
    }
  }

  function dialOrigin(key: string, t: Target, ex: Exchange): OriginConn {
    const servername = t.scheme === 'https' && !net.isIP(t.host) ? t.host : undefined;
    // upgraded connections become relays, which read with 'data' events
    const plain = t.scheme === 'http' && !ex.upgrade;
    const socket =
      t.scheme === 'https'
        ? tls.connect({ host: t.host, port: t.port, servername, ALPNProtocols: ['http/1.1'] })
        : !plain
          ? net.connect({ host: t.host, port: t.port, noDelay: true, autoSelectFamily: true })
          : net.connect({
            host: t.host,
            port: t.port,
            noDelay: true,
            autoSelectFamily: true,
            onread: sharedOnread(function onread(n, buf) {
              onOriginRead(o, n, buf);
              return true;
            }) as net.OnReadOpts,
          });
    const o = new OriginConn(socket, key);
    const timer = setTimeout(() => {
      o.error = Object.assign(new Error('connect timeout'), { code: 'E_CONNECT_TIMEOUT' });
      socket.destroy();
    }, limits.connectTimeoutMs);
    socket.once(t.scheme === 'https' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (t.scheme === 'https') socket.setNoDelay(true);
      o.connected = true;
      if (o.ex) writeRequest(o.ex, o);
    });
    if (!plain) socket.on('data', (chunk: Buffer) => onOriginData(o, chunk));
    else socket.resume(); // reads come through onread; flowing mode still delivers 'end'
    socket.on('drain', () => {
      const e = o.ex;
      if (!e) return;
      if (e.upTh) e.upTh.resume();
      else if (!e.client.detached) e.client.socket.resume();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      o.error ??= err;
    });
    socket.on('end', () => {
      const e = o.ex;
      // a close-delimited response ends here
      if (e?.resFramer && e.resFramer.eof()) return void responseDone(e, o, null);
      socket.destroy();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      removeFromPool(o);
      const e = o.ex;
      o.ex = null;
      if (e && !e.finished && e.origin === o) originGone(e, o);
    });
    return o;
  }

  function removeFromPool(o: OriginConn): void {
    const free = pool.get(o.key);
    if (!free) return;
    const i = free.indexOf(o);
    if (i >= 0) free.splice(i, 1);
    if (free.length === 0) pool.delete(o.key);
  }

  /** The origin connection closed before the response was complete. */
  function originGone(ex: Exchange, o: OriginConn): void {
    ex.origin = null;
    const err = o.error;
    if (!ex.resHeadSent && !ex.resFramer) {
      // a pooled connection the origin had already closed: send the request again on a fresh one
      const nothingBack = !o.buf || o.buf.length === 0;
      if (o.reused && nothingBack && !ex.retried && IDEMPOTENT.has(ex.req.method) && ex.reqFramer.framing.kind === 'none') {
        ex.retried = true;
        return sendRequest(ex);
      }
      const e = err ?? Object.assign(new Error('closed'), { code: o.connected ? 'ECONNRESET' : 'ECONNREFUSED' });
      return httpFail(ex, failFromErrno(e, ex.target!.authority));
    }
    ex.rec.set({ error: err ? err.message : 'origin closed the connection during the response' });
    ex.closeAfter = true;
    ex.client.socket.destroy();
  }

  function dropOrigin(ex: Exchange): void {
    const o = ex.origin;
    ex.origin = null;
    if (o) {
      o.ex = null;
      o.socket.destroy();
    }
  }

  /**
   * A read of a plain-HTTP origin socket, in the shared read buffer (see net/relay.ts). Bulk body
   * reads are copied once into a pooled buffer that goes back to the pool when its write is done;
   * anything else is copied into a buffer of its own and handled like a 'data' event.
   */
  function onOriginRead(o: OriginConn, n: number, shared: Buffer): void {
    const ex = o.ex;
    const f = ex?.resFramer;
    if (ex && f && !ex.decode && !ex.downTh && n >= 16 * 1024) {
      const copy = copyOut(shared, n);
      const data = copy.subarray(0, n);
      const k = f.take(data, 0);
      if (k === n) {
        ex.last = Date.now();
        ex.bytesDown += n;
        if (!ex.client.socket.write(data, () => giveBack(copy))) o.socket.pause();
        if (f.done) responseDone(ex, o, null);
        return;
      }
      if (k < 0) {
        ex.rec.set({ error: `the origin's response body is malformed: ${f.error}` });
        return httpFail(ex, new HttpFail(502, 'Bad response', f.error, 'http_protocol_error'));
      }
      // the response ends inside this read: the general path handles the rest (the copy is not pooled again)
      ex.last = Date.now();
      writeDown(ex, o, data.subarray(0, k));
      return responseDone(ex, o, data.subarray(k));
    }
    onOriginData(o, Buffer.from(shared.subarray(0, n)));
  }

  function onOriginData(o: OriginConn, chunk: Buffer): void {
    const ex = o.ex;
    if (!ex) {
      // nothing was asked: bytes on an idle connection make it unusable
      o.socket.destroy();
      return;
    }
    ex.last = Date.now();
    if (ex.resFramer) return responseBody(ex, o, chunk, 0);
    let buf = o.buf ? Buffer.concat([o.buf, chunk]) : chunk;
    o.buf = null;
    let at = 0;
    for (;;) {
      const r = parseResponseHead(buf, at, RESPONSE_HEAD_MAX);
      if (r.kind === 'more') {
        o.buf = at > 0 ? buf.subarray(at) : buf;
        return;
      }
      if (r.kind === 'error') {
        return httpFail(ex, new HttpFail(502, 'Bad response', `${ex.target!.authority} sent a response that is not valid HTTP: ${r.reason}.`, 'http_protocol_error'));
      }
      const h = r.head;
      at += h.size;
      if (h.status === 101 && ex.upgrade) return upgraded(ex, o, h, buf.subarray(at));
      if (h.status < 200) {
        informational(ex, h);
        continue;
      }
      responseHead(ex, o, h);
      const rf = ex.resFramer as BodyFramer | null; // set by responseHead
      if (!ex.finished && rf && (at < buf.length || rf.done)) responseBody(ex, o, buf, at);
      // no body bytes came with the head (or it failed): the head goes alone
      if (ex.headOut !== null) sendHead(ex, null);
      return;
    }
  }

  /** 1xx (RFC 9110 §15.2): passed on to HTTP/1.1 clients; 101 only when an upgrade was asked for. */
  function informational(ex: Exchange, h: ResponseHead): void {
    if (h.status === 101 || ex.req.minor === 0) return;
    const head = `HTTP/1.1 ${h.status} ${h.reason}\r\n${forwardFields(h.raw)}\r\n`;
    ex.bytesDown += head.length;
    ex.client.socket.write(head, 'latin1');
  }

  function responseHead(ex: Exchange, o: OriginConn, h: ResponseHead): void {
    const framing = responseFraming(h, ex.req.method);
    if (!framing) {
      return httpFail(ex, new HttpFail(502, 'Bad response', `${ex.target!.authority} sent an invalid Content-Length.`, 'http_protocol_error'));
    }
    const c = ex.client;
    const conn = field(h.raw, 'connection');
    ex.originReusable = !ex.upTh && framing.kind !== 'close' && (h.minor === 1 ? !hasToken(conn, 'close') : hasToken(conn, 'keep-alive'));
    // an HTTP/1.0 client cannot read chunks: decode them and end the body by closing
    const decode = (ex.decode = framing.kind === 'chunked' && ex.req.minor === 0);
    if (framing.kind === 'close' || decode || c.closing || !ex.reqDone) ex.closeAfter = true;
    ex.resFramer = decode ? new BodyFramer(framing, (b, s, e) => writeDown(ex, o, b.subarray(s, e))) : new BodyFramer(framing);
    // the length goes on as one value (RFC 9110 §8.6 allows "5, 5"; strict parsers refuse it)
    // the framing is ours to state: Content-Length only for a length body (RFC 9112 §6.3: never beside
    // Transfer-Encoding), and one value of it
    let head = `HTTP/1.1 ${h.status} ${h.reason}\r\n${forwardFields(h.raw, framing.kind === 'none' ? undefined : isContentLength)}`;
    if (framing.kind === 'length') head += `Content-Length: ${framing.length}\r\n`;
    else if (framing.kind === 'chunked' && !decode) head += 'Transfer-Encoding: chunked\r\n';
    else if (framing.kind === 'close') {
      // a transfer coding other than chunked (the body then ends with the connection): the client decodes it
      const te = field(h.raw, 'transfer-encoding');
      if (te !== undefined) head += `Transfer-Encoding: ${te}\r\n`;
    }
    if (ex.closeAfter) head += 'Connection: close\r\n';
    else if (ex.req.minor === 0) head += 'Connection: keep-alive\r\n';
    head += '\r\n';
    ex.rec.set({ status: h.status });
    ex.resHeadSent = true;
    if (ex.lease?.down) {
      const th = (ex.downTh = new ThrottleStream(ex.lease.down));
      th.on('data', (b: Buffer) => {
        ex.bytesDown += b.length;
        ex.last = Date.now();
        if (!c.socket.write(b)) th.pause();
      });
      th.on('drain', () => {
        if (o.ex === ex) o.socket.resume();
      });
    }
    ex.bytesDown += head.length;
    // held until the first body bytes, so a small response leaves in one write
    if (ex.downTh) c.socket.write(head, 'latin1');
    else ex.headOut = head;
  }

  /** Writes the held response head, with `body` in the same buffer when it is small. */
  function sendHead(ex: Exchange, body: Buffer | null): boolean {
    const head = ex.headOut!;
    ex.headOut = null;
    const s = ex.client.socket;
    if (body && body.length <= 16 * 1024) {
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, 'latin1');
      body.copy(out, head.length);
      return s.write(out);
    }
    const ok = s.write(head, 'latin1');
    return body ? s.write(body) : ok;
  }

  function writeDown(ex: Exchange, o: OriginConn, b: Buffer): void {
    if (ex.downTh) {
      if (!ex.downTh.write(b)) o.socket.pause();
      return;
    }
    ex.bytesDown += b.length;
    const ok = ex.headOut !== null ? sendHead(ex, b) : ex.client.socket.write(b);
    if (!ok) o.socket.pause();
  }

  function responseBody(ex: Exchange, o: OriginConn, buf: Buffer, from: number): void {
    const f = ex.resFramer!;
    const n = f.take(buf, from);
    if (n < 0) {
      ex.rec.set({ error: `the origin's response body is malformed: ${f.error}` });
      return httpFail(ex, new HttpFail(502, 'Bad response', f.error, 'http_protocol_error'));
    }
    if (n > 0 && !ex.decode) writeDown(ex, o, from === 0 && n === buf.length ? buf : buf.subarray(from, from + n));
    if (f.done) responseDone(ex, o, from + n < buf.length ? buf.subarray(from + n) : null);
  }

  function responseDone(ex: Exchange, o: OriginConn, extra: Buffer | null): void {
    if (ex.headOut !== null) sendHead(ex, null); // a response without body bytes

    // bytes after the response, or a request still being sent: the connection cannot be reused
    if (extra || !ex.reqDone || !ex.originReusable) {
      ex.origin = null;
      o.ex = null;
      o.socket.destroy();
    } else {
      ex.origin = null;
      o.ex = null;
      o.reused = true;
      o.idleSince = Date.now();
      o.buf = null;
      let free = pool.get(o.key);
      if (!free) pool.set(o.key, (free = []));
      if (free.length < POOL_PER_ORIGIN) free.push(o);
      else o.socket.destroy();
      if (o.socket.isPaused()) o.socket.resume();
    }
    if (!ex.reqDone) ex.closeAfter = true;
    if (ex.downTh) {
      const th = ex.downTh;
      th.once('end', () => finish(ex));
      th.end();
      th.resume();
    } else {
      finish(ex);
    }
  }

  /** The exchange is over: complete the record, then read the next request or close. */
  function finish(ex: Exchange): void {
    if (ex.finished) return;
    ex.finished = true;
    ex.lease?.release();
    ex.upTh?.destroy();
    ex.downTh?.destroy();
    ex.rec.complete({ bytesUp: ex.bytesUp, bytesDown: ex.bytesDown });
    const c = ex.client;
    if (c.ex !== ex) return;
    c.ex = null;
    if (c.socket.destroyed || c.detached) return;
    if (ex.closeAfter || c.closing) {
      c.detached = true;
      c.ending = true;
      c.deadline = Date.now() + Math.max(limits.idleTimeoutMs, 2000);
      endSoon(c.socket);
      return;
    }
    c.deadline = Date.now() + (c.buf ? limits.headerTimeoutMs : limits.idleTimeoutMs);
    if (c.socket.isPaused()) c.socket.resume();
    // the next pipelined request starts on a fresh stack: a burst of requests refused at once
    // must not recurse request by request
    if (c.buf) setImmediate(nextRequest, c);
  }

  // ---------------------------------------------------------------- upgrades and tunnels

  /** 101 Switching Protocols (RFC 9110 §7.8): pass the head on, then relay bytes both ways. */
  function upgraded(ex: Exchange, o: OriginConn, h: ResponseHead, rest: Buffer): void {
    const c = ex.client;
    c.detached = true;
    c.ex = null;
    ex.finished = true;
    ex.origin = null;
    ex.upTh?.destroy();
    ex.downTh?.destroy();
    o.ex = null;
    ex.rec.set({ status: 101 });
    let head = `HTTP/1.1 101 ${h.reason}\r\n`;
    for (let i = 0; i < h.raw.length; i += 2) head += `${h.raw[i]}: ${h.raw[i + 1]}\r\n`;
    head += '\r\n';
    c.socket.removeAllListeners('data');
    c.socket.removeAllListeners('drain');
    c.socket.removeAllListeners('end');
    c.socket.removeAllListeners('close');
    o.socket.removeAllListeners('data');
    o.socket.removeAllListeners('drain');
    o.socket.removeAllListeners('end');
    o.socket.removeAllListeners('close');
    clients.delete(c);
    c.socket.write(head, 'latin1');
    if (rest.length) c.socket.write(rest);
    if (c.buf) o.socket.write(c.buf);
    const upStart = c.socket.bytesRead;
    const downStart = c.socket.bytesWritten;
    const lease = ex.lease;
    const kill = relay(c.socket, o.socket, { idleTimeoutMs: limits.idleTimeoutMs, up: lease?.up, down: lease?.down }, () => {
      tunnels.delete(kill);
      lease?.release();
      ex.rec.complete({ bytesUp: ex.bytesUp + c.socket.bytesRead - upStart, bytesDown: ex.bytesDown + head.length + c.socket.bytesWritten - downStart });
    });
    tunnels.add(kill);
  }

  /** CONNECT host:port (RFC 9110 §9.3.6): only to allowed ports, then a byte tunnel. */
  function onConnect(c: ClientConn, req: RequestHead, early: Buffer): void {
    const socket = c.socket;
    c.detached = true;
    clients.delete(c);
    socket.removeAllListeners('data');
    socket.removeAllListeners('drain');
    socket.removeAllListeners('end');
    socket.removeAllListeners('close');
    socket.pause();
    const target = req.target;
    const rec = recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, method: 'CONNECT', url: target });
    const finishRec = (patch: { bytesUp?: number; bytesDown?: number } = {}) => rec.complete(patch);
    rec.onKill(socket);
    const a = parseAuthority(target);
    if (!a) {
      socketFail(socket, new HttpFail(400, 'Malformed request', `CONNECT needs a host:port target; got "${target.slice(0, 200)}".`, 'http_request_error'), rec);
      return finishRec({ bytesUp: req.size });
    }
    rec.set({ host: a.host, port: a.port });
    // the client's early bytes wait (in `early` and in the paused socket) until the tunnel is up
    let gone = false;
    connecting.add(socket);
    socket.once('close', () => {
      gone = true;
      connecting.delete(socket);
    });
    identify(field(req.raw, 'proxy-authorization'), c.clientAddr, rec, (who) => {
      if (gone) return finishRec({ bytesUp: req.size });
      if (who instanceof HttpFail) return socketFail(socket, who, rec), finishRec({ bytesUp: req.size });
      if (who) rec.set({ user: who.name });
      const d = decide(rec, c.clientAddr, a.host, a.port, 'CONNECT', who);
      if (d instanceof HttpFail) return socketFail(socket, d, rec), finishRec({ bytesUp: req.size });
      if (d.lease) socket.once('close', d.lease.release);
      if (isSelf(a.host, a.port) || looped(req.raw)) {
        socketFail(socket, new HttpFail(508, 'Request loop', `A tunnel to ${target} would reach Gatehouse itself.`, 'proxy_loop_detected'), rec);
        return finishRec({ bytesUp: req.size });
      }
      if (gone) return finishRec({ bytesUp: req.size });
      tunnel(socket, early, rec, a, req.size, finishRec, d.lease);
    });
  }

  function tunnel(
    socket: net.Socket,
    head: Buffer,
    rec: ConnRecord,
    a: { host: string; port: number },
    reqBytes: number,
    finishRec: (patch?: { bytesUp?: number; bytesDown?: number }) => void,
    lease: Lease | null,
  ): void {
    const target = hostPort(a.host, a.port);
    // a throttled tunnel relays through streams; otherwise reads go straight from pooled buffers
    const reader = lease?.down || lease?.up ? undefined : fastReader();
    dial(a.host, a.port, { timeoutMs: limits.connectTimeoutMs, reader }).then(
      (up) => {
        if (socket.destroyed) {
          up.destroy();
          return finishRec();
        }
        rec.set({ status: 200 });
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        const kill = relay(socket, up, { idleTimeoutMs: limits.idleTimeoutMs, bReader: reader, up: lease?.up, down: lease?.down }, () => {
          tunnels.delete(kill);
          finishRec({ bytesUp: reqBytes + up.bytesWritten, bytesDown: 39 + (reader ? reader.bytes : up.bytesRead) });
        });
        tunnels.add(kill);
      },
      (err: NodeJS.ErrnoException) => {
        socketFail(socket, failFromErrno(err, target), rec);
        finishRec({ bytesUp: reqBytes });
      },
    );
  }

  // ---------------------------------------------------------------- deadlines

  /**
   * One timer for every deadline: heads that do not arrive (slowloris, 408),
   * idle keep-alive connections, responses that do not start (504), exchanges
   * gone quiet, and pooled origin connections idle for too long.
   */
  function sweep(): void {
    const now = Date.now();
    for (const c of clients) {
      if (c.detached) {
        // a closing connection whose client does not read its last bytes
        if (c.ending && now > c.deadline) c.socket.destroy();
        continue;
      }
      const ex = c.ex;
      if (!ex) {
        if (now < c.deadline) continue;
        if (c.buf && c.buf.length > 0) {
          c.detached = true;
          const rec = recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, allowed: false, rule: 'protocol' });
          socketFail(c.socket, new HttpFail(408, 'Request timeout', `The request head did not arrive within ${limits.headerTimeoutMs / 1000} s.`, 'http_request_error'), rec);
          rec.complete();
        } else {
          c.socket.destroy();
        }
        continue;
      }
      if (ex.sentAt > 0 && !ex.resHeadSent && !ex.resFramer && now - ex.last > limits.responseTimeoutMs) {
        httpFail(ex, failFromErrno(Object.assign(new Error('response timeout'), { code: 'E_RESPONSE_TIMEOUT' }), ex.target!.authority));
      } else if (now - ex.last > Math.max(limits.responseTimeoutMs, limits.idleTimeoutMs)) {
        ex.rec.set({ error: 'no data moved for too long' });
        dropOrigin(ex);
        c.socket.destroy();
      }
    }
    for (const free of pool.values()) {
      for (const o of free) if (now - o.idleSince > Math.min(POOL_IDLE_MS, limits.idleTimeoutMs)) o.socket.destroy();
    }
    if (clients.size === 0 && pool.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = null;
    }
  }

  function ensureSweeper(): void {
    if (sweeper) return;
    const shortest = Math.min(limits.headerTimeoutMs, limits.idleTimeoutMs, limits.responseTimeoutMs);
    sweeper = setInterval(sweep, Math.min(1000, Math.max(25, shortest / 4)));
    sweeper.unref();
  }

  return {
    createServer() {
      return net.createServer({ allowHalfOpen: true, noDelay: true }, onClientConnection);
    },
    setLimits(l) {
      limits = l;
      headLimits = { maxHeaderSize: l.maxHeaderSize, maxUrlLength: l.maxUrlLength, maxFields: MAX_FIELDS };
      if (sweeper) {
        clearInterval(sweeper);
        sweeper = null;
        ensureSweeper();
      }
    },
    closeIdle() {
      for (const c of clients) {
        c.closing = true;
        if (!c.ex && !c.detached) c.socket.end();
      }
    },
    destroyAll() {
      for (const c of clients) c.socket.destroy();
      clients.clear();
      for (const free of pool.values()) for (const o of free) o.socket.destroy();
      pool.clear();
      for (const kill of tunnels) kill();
      tunnels.clear();
      for (const s of connecting) s.destroy();
      connecting.clear();
    },
  };
}
