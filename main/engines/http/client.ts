/**
 * The client side of the HTTP proxy: one `ClientConn` per accepted connection.
 * It passes the source gate as it is accepted, then reads request heads one
 * at a time with the codec and hands each request to an exchange (or a
 * CONNECT to a tunnel). A request pipelined behind another waits its turn.
 */
import type net from 'node:net';
import { CONGESTION_RETRY_MS } from '../../recorder.js';
import { normalizeAddr } from '../../net/addresses.js';
import { sharedReads } from '../../net/shared-reads.js';
import { BodyFramer, parseRequestHead, requestFraming } from './codec.js';
import { HttpFail, statusText } from './errors.js';
import { endSoon, failResponse, socketFail, type HttpEngine } from './engine.js';
import { Exchange, dropOrigin, finish, httpFail, sendUp, startExchange } from './exchange.js';
import { onConnect } from './tunnel.js';
import { ensureSweeper } from './proxy.js';

/** One client connection: reads request heads one at a time. */
export class ClientConn {
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
    readonly engine: HttpEngine,
    readonly socket: net.Socket,
  ) {
    this.clientAddr = normalizeAddr(socket.remoteAddress);
    this.clientPort = socket.remotePort ?? 0;
    this.deadline = Date.now() + engine.limits.headerTimeoutMs;
  }
}

const OUTSIDE = new HttpFail(
  403,
  'Access refused',
  'This proxy serves only the devices of its own network: your address is outside the allowed source ranges (access.allowedSources).',
  'destination_ip_prohibited',
);

/** The source gate's answer: a fixed page, nothing read. */
function refuseOutsider(e: HttpEngine, socket: net.Socket): void {
  endSoon(socket, failResponse(e, OUTSIDE, true));
}

export function onClientConnection(e: HttpEngine, socket: net.Socket): void {
  if (!e.admission.gate(socket, 'http', { status: 403, answer: (s) => refuseOutsider(e, s) })) return;
  socket.setNoDelay(true);
  sharedReads(socket);
  const c = new ClientConn(e, socket);
  e.clients.add(c);
  ensureSweeper(e);
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
    if (!ex) {
      // requests complete before the FIN are answered; a partial one never will be
      if (c.buf) nextRequest(c);
      if (!c.ex && !c.detached) closeClient(c);
      return;
    }
    // RFC 9112 §9.6: a client may send its requests and then close its sending side
    // (shutdown(SHUT_WR), as scripts and health checkers do): they are answered, then the
    // connection closes
    if (ex.reqDone && !ex.resHeadSent) return;
    // a FIN in the middle of a request, or of a response (a browser giving up): the exchange
    // ends, and its origin connection, slot and record go now
    if (!ex.finished) {
      ex.rec.set({ error: ex.rec.fields.error || (ex.resHeadSent ? 'client closed during the response' : 'client closed before the request was complete') });
      dropOrigin(ex);
    }
    socket.destroy();
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    e.clients.delete(c);
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
  const limits = c.engine.limits;
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
export function nextRequest(c: ClientConn): void {
  // (also runs from setImmediate: the connection may be gone by then)
  if (!c.buf || c.ex || c.detached || c.socket.destroyed) return;
  const e = c.engine;
  if (e.recorder.congested) return logCongested(c);
  const r = parseRequestHead(c.buf, e.headLimits);
  if (r.kind === 'more') {
    // the client has finished sending: this head will never be complete
    if (c.closing) closeClient(c);
    return;
  }
  if (r.kind === 'error') {
    const f = new HttpFail(r.status, r.status === 400 ? 'Malformed request' : statusText(r.status), `The request could not be read: ${r.reason}.`, 'http_request_error');
    const rec = e.recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, allowed: false, rule: 'protocol' });
    c.buf = null;
    c.detached = true;
    socketFail(e, c.socket, f, rec);
    rec.complete();
    return;
  }
  const head = r.head;
  const rest = c.buf.length > head.size ? c.buf.subarray(head.size) : null;
  c.buf = null;
  if (head.method === 'CONNECT') return onConnect(c, head, rest ?? Buffer.alloc(0));
  const rec = e.recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, method: head.method, url: head.target });
  const framing = requestFraming(head);
  if (!('kind' in framing)) {
    c.detached = true;
    socketFail(e, c.socket, new HttpFail(framing.status, framing.status === 501 ? 'Not implemented' : 'Malformed request', `The request could not be read: ${framing.reason}.`, 'http_request_error'), rec);
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
  c.deadline = Date.now() + c.engine.limits.headerTimeoutMs;
  setTimeout(() => {
    if (c.socket.destroyed || c.ex) return;
    if (!c.engine.recorder.congested) c.socket.resume();
    nextRequest(c);
  }, CONGESTION_RETRY_MS);
}

/** The client connection after an exchange: read the next request, or close. */
export function afterExchange(c: ClientConn, closeAfter: boolean): void {
  if (c.socket.destroyed || c.detached) return;
  const limits = c.engine.limits;
  // after a half-close, requests already received are still answered, one by one
  if (closeAfter || (c.closing && !c.buf)) return closeClient(c);
  c.deadline = Date.now() + (c.buf ? limits.headerTimeoutMs : limits.idleTimeoutMs);
  if (c.socket.isPaused()) c.socket.resume();
  // the next pipelined request starts on a fresh stack: a burst of requests refused at once
  // must not recurse request by request
  if (c.buf) setImmediate(nextRequest, c);
}

/** Ends the connection once the last answer has left (no further request is read). */
function closeClient(c: ClientConn): void {
  c.detached = true;
  c.ending = true;
  c.deadline = Date.now() + Math.max(c.engine.limits.idleTimeoutMs, 2000);
  endSoon(c.socket);
}
