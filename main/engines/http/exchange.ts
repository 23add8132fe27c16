/**
 * One request and its response (an `Exchange`): the target is parsed, the
 * client identified, the request admitted (one admission path: ../admission.ts),
 * then sent to the origin (origin.ts) with its body streamed up. One failure
 * path (`httpFail`) answers with an error page when nothing was sent yet, and
 * `finish` completes the record once and hands the connection back.
 */
import { parseBasic, type AuthUser } from '../../policy/auth.js';
import { ThrottleStream, type Lease } from '../../policy/limits.js';
import type { ConnRecord } from '../../recorder.js';
import type { Destination } from '../../net/dialer.js';
import type { Verdict } from '../admission.js';
import { field, hasToken, type BodyFramer, type Framing, type RequestHead } from './codec.js';
import { HttpFail, failFromErrno } from './errors.js';
import { failResponse, forwardFields, looped, type HttpEngine } from './engine.js';
import { parseTarget, type Target } from './target.js';
import { afterExchange, type ClientConn } from './client.js';
import { sendRequest, type OriginConn } from './origin.js';

/** Methods whose requests carry no body unless framed; others get Content-Length: 0 when they have none. */
const NO_BODY_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
/** error pages one connection gets before it is closed (a pipelined burst of bad requests) */
const MAX_FAILURES = 32;
/** bytes of request body held while the origin connection is being set up */
const UP_QUEUE_MAX = 256 * 1024;
const isHostOrLength = (lower: string) => lower === 'host' || lower === 'content-length';

export class Exchange {
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
  /** the addresses the request was admitted for: the origin connection goes to one of them */
  dest: Destination | null = null;
  framing: Framing | null = null;
  upgrade = false;
  /** chunked response decoded for an HTTP/1.0 client */
  decode = false;
  /** the response head, waiting to leave with the first body bytes */
  headOut: string | null = null;
  readonly engine: HttpEngine;
  constructor(
    readonly client: ClientConn,
    readonly req: RequestHead,
    readonly rec: ConnRecord,
    readonly reqFramer: BodyFramer,
  ) {
    this.engine = client.engine;
    this.reqDone = reqFramer.done;
    this.bytesUp = req.size;
    const conn = field(req.raw, 'connection') ?? field(req.raw, 'proxy-connection');
    // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"
    this.closeAfter = req.minor === 1 ? hasToken(conn, 'close') : !hasToken(conn, 'keep-alive');
  }
}

/**
 * Who is asking (RFC 9110 §11.7.1 Proxy-Authorization, RFC 7617 Basic). Calls `go` with the
 * user (or undefined when login is off or optional and no credentials came), or with an HttpFail:
 * 407 with a challenge, or 429 with Retry-After while sign-ins from this client are slowed down.
 */
export function identify(e: HttpEngine, header: string | undefined, clientAddr: string, rec: ConnRecord, go: (r: AuthUser | undefined | HttpFail) => void): void {
  const login = e.limits.login;
  if (login === 'off') return go(undefined);
  const cred = parseBasic(header);
  if (!cred) {
    if (login === 'optional' && !header) return go(undefined);
    rec.set({ rule: 'login', allowed: false, error: header ? 'unreadable Proxy-Authorization header' : 'login required' });
    return go(new HttpFail(407, 'Sign-in required', 'This proxy needs a user name and password. Your browser or app should ask for them.', 'proxy_auth_required'));
  }
  void e.admission.signIn(cred.name, cred.password, clientAddr, rec, false).then((r) => {
    if (r.ok) return go(r.user);
    if (r.throttled) {
      const s = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
      return go(new HttpFail(429, 'Too many failed sign-ins', `Sign-ins from this device are slowed down after repeated failures. Try again in ${s} s.`, 'proxy_auth_required', s));
    }
    go(new HttpFail(407, 'Sign-in failed', 'The user name or password is wrong, or the user is disabled.', 'proxy_auth_required'));
  });
}

/** A refused verdict as the HTTP client sees it. */
export function verdictFail(v: Exclude<Verdict, { ok: true }>, authority: string): HttpFail {
  if (v.why === 'dns') return failFromErrno(v.err, authority);
  if (v.why === 'limit') return new HttpFail(429, 'Too many connections', `${v.reason}. Close some and try again.`, 'connection_limit_reached');
  return new HttpFail(403, 'Access refused', `Gatehouse refused this request: ${v.reason}.`, 'destination_ip_prohibited');
}

export function startExchange(ex: Exchange, framing: Framing): void {
  const t = parseTarget(ex.req.target, ex.engine.limits.maxUrlLength);
  if (t instanceof HttpFail) return httpFail(ex, t);
  ex.target = t;
  ex.framing = framing;
  ex.rec.set({ host: t.host, port: t.port, url: t.url });
  if (ex.engine.limits.login === 'off') return admit(ex, undefined);
  identify(ex.engine, field(ex.req.raw, 'proxy-authorization'), ex.client.clientAddr, ex.rec, (who) => admit(ex, who));
}

/** The requester is known (or need not be): admission decides, then the request goes on. */
function admit(ex: Exchange, who: AuthUser | undefined | HttpFail): void {
  if (ex.finished) return;
  if (who instanceof HttpFail) {
    if (who.status === 407 || who.status === 429) ex.closeAfter ||= !ex.reqDone;
    return httpFail(ex, who);
  }
  const t = ex.target!;
  ex.engine.admission.decide({ service: 'http', clientAddr: ex.client.clientAddr, user: who, host: t.host, port: t.port, method: ex.req.method }, ex.rec, (v) => {
    if (ex.finished) {
      if (v.ok) v.lease?.release();
      return;
    }
    if (!v.ok) return httpFail(ex, verdictFail(v, t.authority));
    ex.lease = v.lease;
    ex.dest = v.dest;
    if (looped(ex.engine, ex.req.raw)) {
      return httpFail(ex, new HttpFail(508, 'Request loop', `The request for ${t.authority} has been through Gatehouse before.`, 'proxy_loop_detected'));
    }
    const upgradeTo = field(ex.req.raw, 'upgrade');
    ex.upgrade = upgradeTo !== undefined && hasToken(field(ex.req.raw, 'connection'), 'upgrade');
    ex.head = requestHead(ex, t, ex.framing!, upgradeTo);
    sendRequest(ex);
  });
}

/** The head sent to the origin: origin-form target, Host from the URL (RFC 9112 §3.2.2), our framing. */
function requestHead(ex: Exchange, t: Target, framing: Framing, upgradeTo: string | undefined): string {
  let s = `${ex.req.method} ${t.path} HTTP/1.1\r\nHost: ${t.authority}\r\n`;
  s += forwardFields(ex.engine, ex.req.raw, isHostOrLength);
  if (framing.kind === 'chunked') s += 'Transfer-Encoding: chunked\r\n';
  else if (framing.kind === 'length') s += `Content-Length: ${framing.length}\r\n`;
  else if (!NO_BODY_BY_DEFAULT.has(ex.req.method) || field(ex.req.raw, 'content-length') !== undefined) s += 'Content-Length: 0\r\n';
  if (ex.upgrade) s += `Connection: Upgrade\r\nUpgrade: ${upgradeTo}\r\n`;
  return `${s}\r\n`;
}

/** Request body bytes: to the origin when it is there, else queued (and the client paused when the queue is full). */
export function sendUp(ex: Exchange, chunk: Buffer): void {
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

export function writeUp(ex: Exchange, o: OriginConn, chunk: Buffer): void {
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

export function dropOrigin(ex: Exchange): void {
  const o = ex.origin;
  ex.origin = null;
  if (o) {
    o.ex = null;
    o.socket.destroy();
  }
}

/** One failure path for exchanges: answer with the page if nothing was sent yet, else cut the connection. */
export function httpFail(ex: Exchange, f: HttpFail): void {
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
  const page = failResponse(ex.engine, f, close, !close && ex.req.minor === 0);
  ex.resHeadSent = true;
  ex.bytesDown += Buffer.byteLength(page);
  ex.client.socket.write(page);
  finish(ex);
}

/** The exchange is over: complete the record, then read the next request or close. */
export function finish(ex: Exchange): void {
  if (ex.finished) return;
  ex.finished = true;
  ex.lease?.release();
  ex.upTh?.destroy();
  ex.downTh?.destroy();
  ex.rec.complete({ bytesUp: ex.bytesUp, bytesDown: ex.bytesDown });
  const c = ex.client;
  if (c.ex !== ex) return;
  c.ex = null;
  afterExchange(c, ex.closeAfter);
}
