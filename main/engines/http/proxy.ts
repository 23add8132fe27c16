/**
 * The HTTP/HTTPS forward proxy (RFC 9110, RFC 9112) on raw sockets: absolute-
 * form requests of every method with bodies streamed both ways, pooled keep-
 * alive connections to origins, hop-by-hop headers removed, Via added, 1xx
 * relayed, Upgrade (WebSocket) relayed, and CONNECT tunnels.
 *
 * Messages are framed by the sans-IO codec (codec.ts); the parts that move
 * bytes are one file each (see engine.ts). Node's http module is not used:
 * its server and client cost more per request than the whole forwarding here
 * (see the benchmark figures in the README).
 *
 * It holds no policy: every request goes through the one admission path
 * (../admission.ts) before anything is dialled. Each request or tunnel is one
 * record, completed once when it ends. This file assembles the parts and
 * keeps every deadline with one timer.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { failFromErrno, HttpFail } from './errors.js';
import { MAX_FIELDS, socketFail, type HttpEngine, type HttpProxyLimits, type HttpProxyOptions } from './engine.js';
import { onClientConnection } from './client.js';
import { dropOrigin, httpFail } from './exchange.js';
import { POOL_IDLE_MS } from './origin.js';

export type { HttpProxyLimits, HttpProxyOptions } from './engine.js';
export { parseTarget } from './target.js';

export interface HttpProxy {
  createServer(): net.Server;
  setLimits(limits: HttpProxyLimits): void;
  /** for a stop: close idle client connections now, the others once their current response is done */
  closeIdle(): void;
  /** close every client connection, pooled origin connection and open tunnel */
  destroyAll(): void;
}

export function createHttpProxy(opts: HttpProxyOptions): HttpProxy {
  const viaName = `gatehouse-${randomBytes(3).toString('hex')}`;
  const e: HttpEngine = {
    limits: opts.limits,
    headLimits: { maxHeaderSize: opts.limits.maxHeaderSize, maxUrlLength: opts.limits.maxUrlLength, maxFields: MAX_FIELDS },
    admission: opts.admission,
    recorder: opts.recorder,
    viaName,
    via: `1.1 ${viaName}`,
    clients: new Set(),
    pool: new Map(),
    tunnels: new Set(),
    connecting: new Set(),
    sweeper: null,
  };
  return {
    createServer() {
      return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => onClientConnection(e, socket));
    },
    setLimits(l) {
      e.limits = l;
      e.headLimits = { maxHeaderSize: l.maxHeaderSize, maxUrlLength: l.maxUrlLength, maxFields: MAX_FIELDS };
      if (e.sweeper) {
        clearInterval(e.sweeper);
        e.sweeper = null;
        ensureSweeper(e);
      }
    },
    closeIdle() {
      for (const c of e.clients) {
        c.closing = true;
        if (!c.ex && !c.detached) c.socket.end();
      }
    },
    destroyAll() {
      for (const c of e.clients) c.socket.destroy();
      e.clients.clear();
      for (const free of e.pool.values()) for (const o of free) o.socket.destroy();
      e.pool.clear();
      for (const kill of e.tunnels) kill();
      e.tunnels.clear();
      for (const s of e.connecting) s.destroy();
      e.connecting.clear();
    },
  };
}

/**
 * One timer for every deadline: heads that do not arrive (slowloris, 408),
 * idle keep-alive connections, responses that do not start (504), exchanges
 * gone quiet, and pooled origin connections idle for too long.
 */
function sweep(e: HttpEngine): void {
  const now = Date.now();
  const limits = e.limits;
  for (const c of e.clients) {
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
        const rec = e.recorder.open({ service: 'http', clientAddr: c.clientAddr, clientPort: c.clientPort, allowed: false, rule: 'protocol' });
        socketFail(e, c.socket, new HttpFail(408, 'Request timeout', `The request head did not arrive within ${limits.headerTimeoutMs / 1000} s.`, 'http_request_error'), rec);
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
  for (const free of e.pool.values()) {
    for (const o of free) if (now - o.idleSince > Math.min(POOL_IDLE_MS, limits.idleTimeoutMs)) o.socket.destroy();
  }
  if (e.clients.size === 0 && e.pool.size === 0 && e.sweeper) {
    clearInterval(e.sweeper);
    e.sweeper = null;
  }
}

export function ensureSweeper(e: HttpEngine): void {
  if (e.sweeper) return;
  const l = e.limits;
  const shortest = Math.min(l.headerTimeoutMs, l.idleTimeoutMs, l.responseTimeoutMs);
  e.sweeper = setInterval(sweep, Math.min(1000, Math.max(25, shortest / 4)), e);
  e.sweeper.unref();
}
