/**
 * Byte tunnels through the HTTP proxy: CONNECT host:port (RFC 9110 §9.3.6),
 * admitted like any request (only to allowed ports), and upgraded
 * connections (101 Switching Protocols, RFC 9110 §7.8, e.g. WebSocket). Both
 * become a relay (main/net/relay.ts) whose record completes when it closes.
 */
import type net from 'node:net';
import type { Lease } from '../../policy/limits.js';
import type { ConnRecord } from '../../recorder.js';
import { hostPort, parseAuthority } from '../../net/addresses.js';
import { dial, type Destination } from '../../net/dialer.js';
import { fastReader, relay } from '../../net/relay.js';
import { field, type RequestHead, type ResponseHead } from './codec.js';
import { HttpFail, failFromErrno } from './errors.js';
import { looped, socketFail, type HttpEngine } from './engine.js';
import { identify, verdictFail, type Exchange } from './exchange.js';
import type { ClientConn } from './client.js';
import type { OriginConn } from './origin.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/** Gives a client connection's socket over to a tunnel: the client side no longer reads it. */
function detach(c: ClientConn): void {
  c.detached = true;
  c.ex = null;
  c.engine.clients.delete(c);
  for (const ev of ['data', 'drain', 'end', 'close']) c.socket.removeAllListeners(ev);
}

/** 101 Switching Protocols: pass the head on, then relay bytes both ways. */
export function upgraded(ex: Exchange, o: OriginConn, h: ResponseHead, rest: Buffer): void {
  const c = ex.client;
  const e = ex.engine;
  detach(c);
  ex.finished = true;
  ex.origin = null;
  ex.upTh?.destroy();
  ex.downTh?.destroy();
  o.ex = null;
  ex.rec.set({ status: 101 });
  let head = `HTTP/1.1 101 ${h.reason}\r\n`;
  for (let i = 0; i < h.raw.length; i += 2) head += `${h.raw[i]}: ${h.raw[i + 1]}\r\n`;
  head += '\r\n';
  for (const ev of ['data', 'drain', 'end', 'close']) o.socket.removeAllListeners(ev);
  c.socket.write(head, 'latin1');
  if (rest.length) c.socket.write(rest);
  if (c.buf) o.socket.write(c.buf);
  const upStart = c.socket.bytesRead;
  const downStart = c.socket.bytesWritten;
  const lease = ex.lease;
  const kill = relay(c.socket, o.socket, { idleTimeoutMs: e.limits.idleTimeoutMs, up: lease?.up, down: lease?.down }, () => {
    e.tunnels.delete(kill);
    lease?.release();
    ex.rec.complete({ bytesUp: ex.bytesUp + c.socket.bytesRead - upStart, bytesDown: ex.bytesDown + head.length + c.socket.bytesWritten - downStart });
  });
  e.tunnels.add(kill);
}

/** CONNECT: admitted (identity, decision, lease) like any request, then a byte tunnel. */
export function onConnect(c: ClientConn, req: RequestHead, early: Buffer): void {
  const { socket, engine: e } = c;
  detach(c);
  socket.pause();
  const target = req.target;
  const rec = e.recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, method: 'CONNECT', url: target });
  const refuse = (f: HttpFail) => {
    socketFail(e, socket, f, rec);
    rec.complete({ bytesUp: req.size });
  };
  rec.onKill(socket);
  const a = parseAuthority(target);
  if (!a) return refuse(new HttpFail(400, 'Malformed request', `CONNECT needs a host:port target; got "${target.slice(0, 200)}".`, 'http_request_error'));
  rec.set({ host: a.host, port: a.port });
  // the client's early bytes wait (in `early` and in the paused socket) until the tunnel is up
  let gone = false;
  e.connecting.add(socket);
  socket.once('close', () => {
    gone = true;
    e.connecting.delete(socket);
  });
  identify(e, field(req.raw, 'proxy-authorization'), c.clientAddr, rec, (who) => {
    if (gone) return rec.complete({ bytesUp: req.size });
    if (who instanceof HttpFail) return refuse(who);
    e.admission.decide({ service: 'http', clientAddr: c.clientAddr, user: who, host: a.host, port: a.port, method: 'CONNECT' }, rec, (v) => {
      if (!v.ok) return refuse(verdictFail(v, target));
      if (gone) {
        // the client left while its name was being resolved
        v.lease?.release();
        return rec.complete({ bytesUp: req.size });
      }
      if (v.lease) socket.once('close', v.lease.release);
      if (looped(e, req.raw)) return refuse(new HttpFail(508, 'Request loop', `The tunnel to ${target} has been through Gatehouse before.`, 'proxy_loop_detected'));
      tunnel(e, socket, early, rec, v.dest, req.size, v.lease);
    });
  });
}

function tunnel(e: HttpEngine, socket: net.Socket, head: Buffer, rec: ConnRecord, dest: Destination, reqBytes: number, lease: Lease | null): void {
  const target = hostPort(dest.host, dest.port);
  // a throttled or chained tunnel relays through streams; otherwise reads go straight from pooled buffers
  const reader = lease?.down || lease?.up || dest.via ? undefined : fastReader();
  dial(dest, { timeoutMs: e.limits.connectTimeoutMs, reader, onWay: (way) => rec.set({ chain: way }) }).then(
    (up) => {
      if (socket.destroyed) {
        up.destroy();
        return rec.complete();
      }
      rec.set({ status: 200 });
      socket.write(ESTABLISHED);
      if (head.length) up.write(head);
      const kill = relay(socket, up, { idleTimeoutMs: e.limits.idleTimeoutMs, bReader: reader, up: lease?.up, down: lease?.down }, () => {
        e.tunnels.delete(kill);
        rec.complete({ bytesUp: reqBytes + up.bytesWritten, bytesDown: ESTABLISHED.length + (reader ? reader.bytes : up.bytesRead) });
      });
      e.tunnels.add(kill);
    },
    (err: NodeJS.ErrnoException) => {
      socketFail(e, socket, failFromErrno(err, target), rec);
      rec.complete({ bytesUp: reqBytes });
    },
  );
}
