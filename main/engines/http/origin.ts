/**
 * The origin side of the HTTP proxy: a pool of keep-alive connections per
 * origin, the dial (through main/net, to the addresses the request was
 * admitted for), the request head and queued body going out, and the
 * response coming back: 1xx passed on, the head rewritten with our framing,
 * the body relayed (plain-HTTP origins read through one shared buffer) and
 * the connection returned to the pool when both messages are complete.
 */
import net from 'node:net';
import tls from 'node:tls';
import { dial, dialHttp, openSocket, type ChainConn, type Destination } from '../../net/dialer.js';
import { copyOut, giveBack, sharedOnread } from '../../net/relay.js';
import { ThrottleStream } from '../../policy/limits.js';
import { BodyFramer, field, hasToken, parseResponseHead, responseFraming, type ResponseHead } from './codec.js';
import { HttpFail, failFromErrno } from './errors.js';
import { forwardFields, type HttpEngine } from './engine.js';
import { finish, httpFail, writeUp, type Exchange } from './exchange.js';
import { upgraded } from './tunnel.js';

/** RFC 9110 §9.2.2: requests that may be sent again when a pooled connection turns out to be closed */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const RESPONSE_HEAD_MAX = 64 * 1024;
/** pooled origin connections per origin, and how long one may sit idle */
const POOL_PER_ORIGIN = 256;
export const POOL_IDLE_MS = 15_000;
const isContentLength = (lower: string) => lower === 'content-length';

/** A connection to an origin, pooled between exchanges. */
export class OriginConn {
  ex: Exchange | null = null;
  buf: Buffer | null = null;
  idleSince = 0;
  /** it served an exchange before this one (so a quiet close may just be the keep-alive ending) */
  reused = false;
  connected = false;
  /** the address it is connected to (a pooled connection serves only requests admitted for it) */
  addr = '';
  error: NodeJS.ErrnoException | null = null;
  /** an upstream HTTP proxy this connection reaches: requests go to it in absolute form */
  forward: ChainConn['proxy'] = null;
  constructor(
    /** through an upstream chain: a placeholder until the chain is up */
    public socket: net.Socket,
    readonly key: string,
  ) {}
}

/** What a pooled connection was admitted for: an address, or a chain and the destination it reaches. */
function poolAddr(d: Destination): string | null {
  return d.via ? `via ${d.via.chain.name} ${d.addresses[0] ?? d.host}` : null;
}

export function sendRequest(ex: Exchange): void {
  const t = ex.target!;
  const key = `${t.scheme}://${t.authority}`;
  const addresses = ex.dest!.addresses;
  const via = poolAddr(ex.dest!);
  let o: OriginConn | undefined;
  if (!ex.upgrade && !ex.retried) {
    const free = ex.engine.pool.get(key);
    while (free?.length && !o) {
      const cand = free.pop()!;
      if (cand.socket.destroyed || !cand.socket.writable) continue;
      // a name that now resolves elsewhere: the old connection is not what was decided
      if (via ? cand.addr === via : addresses.includes(cand.addr)) o = cand;
      else cand.socket.destroy();
    }
  }
  if (!o) o = dialOrigin(ex.engine, key, ex);
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
  const head = o.forward ? absoluteForm(ex, o.forward.authorization) : ex.head;
  if (!q) {
    s.write(head, 'latin1');
  } else {
    s.cork();
    s.write(head, 'latin1');
    for (const b of q) writeUp(ex, o, b);
    s.uncork();
    if (!ex.client.detached) ex.client.socket.resume();
  }
}

/** The request head for an upstream HTTP proxy: the target in absolute form (RFC 9112 §3.2.2), and our sign-in there. */
function absoluteForm(ex: Exchange, authorization: string | null): string {
  const t = ex.target!;
  const head = ex.head;
  const sp = head.indexOf(' ');
  const eol = head.indexOf('\r\n');
  const line = `${head.slice(0, sp)} ${t.scheme}://${t.authority}${t.path} HTTP/1.1\r\n`;
  return line + (authorization ? `Proxy-Authorization: ${authorization}\r\n` : '') + head.slice(eol + 2);
}

function dialOrigin(e: HttpEngine, key: string, ex: Exchange): OriginConn {
  const t = ex.target!;
  const https = t.scheme === 'https';
  if (ex.dest!.via) return dialOriginVia(e, key, ex, https);
  // upgraded connections become relays, which read with 'data' events
  const plain = !https && !ex.upgrade;
  const socket = openSocket(ex.dest!, {
    tls: https ? { alpn: ['http/1.1'] } : undefined,
    onread: plain
      ? (sharedOnread(function onread(n, buf) {
        onOriginRead(o, n, buf);
        return true;
      }) as net.OnReadOpts)
      : undefined,
  });
  const o = new OriginConn(socket, key);
  const timer = setTimeout(() => {
    o.error = Object.assign(new Error('connect timeout'), { code: 'E_CONNECT_TIMEOUT' });
    socket.destroy();
  }, e.limits.connectTimeoutMs);
  socket.once(https ? 'secureConnect' : 'connect', () => {
    clearTimeout(timer);
    connected(o, https, socket.remoteAddress ?? '');
  });
  wire(e, o, plain, timer);
  return o;
}

function connected(o: OriginConn, https: boolean, addr: string): void {
  if (https) o.socket.setNoDelay(true);
  o.connected = true;
  o.addr = addr;
  if (o.ex) writeRequest(o.ex, o);
}

/**
 * An origin reached through an upstream chain: the chain is dialled (its hops' handshakes take
 * a while), so the connection starts with a placeholder socket that ends the exchange if it is
 * destroyed first; TLS to an https:// origin runs inside the chain's stream.
 */
function dialOriginVia(e: HttpEngine, key: string, ex: Exchange, https: boolean): OriginConn {
  const dest = ex.dest!;
  const placeholder = new net.Socket();
  const o = new OriginConn(placeholder, key);
  const rec = ex.rec;
  placeholder.once('close', () => {
    if (o.socket !== placeholder) return;
    const x = o.ex;
    o.ex = null;
    if (x && !x.finished && x.origin === o) originGone(x, o);
  });
  // the way it went: a connection that failed over is pooled under that way, and serves no request routed to the chain
  let way = dest.via!.chain.name;
  const onWay = (w: string) => {
    way = w;
    rec.set({ chain: w });
  };
  const opts = { timeoutMs: e.limits.connectTimeoutMs, onWay };
  // plain HTTP goes to an upstream HTTP proxy as a request of its own; anything else through a tunnel
  const conn = https || ex.upgrade ? dial(dest, opts).then((socket): ChainConn => ({ socket, proxy: null })) : dialHttp(dest, opts);
  conn.then(
    ({ socket: raw, proxy }) => {
      if (placeholder.destroyed) return void raw.destroy();
      o.forward = proxy;
      raw.setNoDelay(true);
      const socket = https ? tls.connect({ socket: raw, servername: net.isIP(dest.host) ? undefined : dest.host, ALPNProtocols: ['http/1.1'] }) : raw;
      o.socket = socket;
      placeholder.destroy();
      const timer = setTimeout(() => {
        o.error = Object.assign(new Error('TLS handshake timeout'), { code: 'E_CONNECT_TIMEOUT' });
        socket.destroy();
      }, e.limits.connectTimeoutMs);
      if (https) {
        socket.once('secureConnect', () => {
          clearTimeout(timer);
          connected(o, true, `via ${way} ${dest.addresses[0] ?? dest.host}`);
        });
      } else clearTimeout(timer);
      wire(e, o, false, timer);
      if (!https) connected(o, false, `via ${way} ${dest.addresses[0] ?? dest.host}`);
    },
    (err: NodeJS.ErrnoException) => {
      o.error = err;
      placeholder.destroy();
    },
  );
  return o;
}

/** The origin socket's events: responses read, back-pressure, its end. */
function wire(e: HttpEngine, o: OriginConn, plain: boolean, timer: NodeJS.Timeout): void {
  const socket = o.socket;
  if (!plain) socket.on('data', (chunk: Buffer) => onOriginData(o, chunk));
  else socket.resume(); // reads come through onread; flowing mode still delivers 'end'
  socket.on('drain', () => {
    const x = o.ex;
    if (!x) return;
    if (x.upTh) x.upTh.resume();
    else if (!x.client.detached) x.client.socket.resume();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    o.error ??= err;
  });
  socket.on('end', () => {
    const x = o.ex;
    // a close-delimited response ends here
    if (x?.resFramer && x.resFramer.eof()) return void responseDone(x, o, null);
    socket.destroy();
  });
  socket.on('close', () => {
    clearTimeout(timer);
    removeFromPool(e, o);
    const x = o.ex;
    o.ex = null;
    if (x && !x.finished && x.origin === o) originGone(x, o);
  });
}

function removeFromPool(e: HttpEngine, o: OriginConn): void {
  const free = e.pool.get(o.key);
  if (!free) return;
  const i = free.indexOf(o);
  if (i >= 0) free.splice(i, 1);
  if (free.length === 0) e.pool.delete(o.key);
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
    const x = err ?? Object.assign(new Error('closed'), { code: o.connected ? 'ECONNRESET' : 'ECONNREFUSED' });
    return httpFail(ex, failFromErrno(x, ex.target!.authority));
  }
  ex.rec.set({ error: err ? err.message : 'origin closed the connection during the response' });
  ex.closeAfter = true;
  ex.client.socket.destroy();
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
  const buf = o.buf ? Buffer.concat([o.buf, chunk]) : chunk;
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
  const head = `HTTP/1.1 ${h.status} ${h.reason}\r\n${forwardFields(ex.engine, h.raw)}\r\n`;
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
  // (a client that half-closed still has its pipelined requests answered before the close)
  if (framing.kind === 'close' || decode || (c.closing && !c.buf) || !ex.reqDone) ex.closeAfter = true;
  ex.resFramer = decode ? new BodyFramer(framing, (b, s, e) => writeDown(ex, o, b.subarray(s, e))) : new BodyFramer(framing);
  // the framing is ours to state: Content-Length only for a length body (RFC 9112 §6.3: never beside
  // Transfer-Encoding), and one value of it (RFC 9110 §8.6 allows "5, 5"; strict parsers refuse it)
  let head = `HTTP/1.1 ${h.status} ${h.reason}\r\n${forwardFields(ex.engine, h.raw, framing.kind === 'none' ? undefined : isContentLength)}`;
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
  ex.origin = null;
  o.ex = null;
  // bytes after the response, or a request still being sent: the connection cannot be reused
  if (extra || !ex.reqDone || !ex.originReusable) {
    o.socket.destroy();
  } else {
    o.reused = true;
    o.idleSince = Date.now();
    o.buf = null;
    const pool = ex.engine.pool;
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
