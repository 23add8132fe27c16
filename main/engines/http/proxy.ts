/**
 * The HTTP/HTTPS forward proxy (RFC 9110, RFC 9112) on node's http.Server:
 * absolute-form requests of every method with bodies streamed both ways,
 * pooled keep-alive connections to origins, hop-by-hop headers removed, Via
 * added, 1xx relayed, Upgrade (WebSocket) relayed, and CONNECT tunnels.
 * It holds no policy: every request is described to `policy.decide` first.
 * Each request or tunnel is one record, completed once when it ends.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Policy } from '../../policy/policy.js';
import { parseBasic, type Authenticator, type AuthUser } from '../../policy/auth.js';
import { ThrottleStream, type Lease, type Limiter } from '../../policy/limits.js';
import type { ConnRecord, Recorder } from '../../recorder.js';
import { hostPort, isLoopbackOrOwn, normalizeAddr, ownAddresses, parseAuthority } from '../../net/addresses.js';
import { dial } from '../../net/dialer.js';
import { fastReader, relay } from '../../net/relay.js';
import { HttpFail, errorPage, failFromErrno, proxyStatusHeader, statusText } from './errors.js';

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
  /** ports this proxy listens on, for loop detection */
  ownPorts?: () => number[];
}

/** RFC 9110 §7.6.1: hop-by-hop fields, never forwarded (plus the legacy Proxy-Connection / Keep-Alive). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Methods for which node would frame an unknown-length body as chunked. */
const NO_BODY_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

export interface HttpProxy {
  /** attach to a server (several servers may share one proxy, one per listen address) */
  attach(server: http.Server): void;
  createServer(): http.Server;
  setLimits(limits: HttpProxyLimits): void;
  /** close pooled origin connections and every open tunnel */
  destroyAll(): void;
}

export function createHttpProxy(opts: HttpProxyOptions): HttpProxy {
  let limits = opts.limits;
  const { policy, recorder, auth } = opts;
  const CHALLENGE = { 'Proxy-Authenticate': 'Basic realm="Gatehouse", charset="UTF-8"' };

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
  // RFC 9110 §7.6.3: a pseudonym in Via; the random part lets us spot our own requests coming back
  const viaName = `gatehouse-${randomBytes(3).toString('hex')}`;
  const via = `1.1 ${viaName}`;
  const own = ownAddresses();
  /** open tunnels and upgrades: each entry closes both of its sockets */
  const tunnels = new Set<() => void>();
  const agentOpts = { keepAlive: true, keepAliveMsecs: 1000, noDelay: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const httpAgent = new http.Agent(agentOpts);
  const httpsAgent = new https.Agent(agentOpts);

  function isSelf(host: string, port: number): boolean {
    const ports = opts.ownPorts?.() ?? [];
    return ports.includes(port) && isLoopbackOrOwn(host, own);
  }

  function loopedVia(headers: http.IncomingHttpHeaders): boolean {
    const v = headers.via;
    return typeof v === 'string' && v.includes(viaName);
  }

  /** Copies raw headers minus hop-by-hop ones and those the Connection field names. */
  function forwardHeaders(raw: string[], keepUpgrade = false): string[] {
    let named: Set<string> | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
        for (const t of raw[i + 1]!.split(',')) {
          const token = t.trim().toLowerCase();
          if (token !== 'keep-alive' && token !== 'close') (named ??= new Set()).add(token);
        }
      }
    }
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      if (keepUpgrade && (lower === 'upgrade' || lower === 'connection')) continue; // re-added below
      if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
      out.push(name, raw[i + 1]!);
    }
    return out;
  }

  function addVia(headers: string[], existing: string | string[] | undefined): void {
    const prior = Array.isArray(existing) ? existing.join(', ') : existing;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'via') {
        headers.splice(i, 2);
        i -= 2;
      }
    }
    headers.push('Via', prior ? `${prior}, ${via}` : via);
  }

  function clientOf(socket: net.Socket): { clientAddr: string; clientPort: number } {
    return { clientAddr: normalizeAddr(socket.remoteAddress), clientPort: socket.remotePort ?? 0 };
  }

  function headBytes(req: http.IncomingMessage): number {
    let n = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i++) n += raw[i]!.length + 2;
    return n;
  }

  /** One failure path for requests: reply with the page (if still possible) and note it on the record. */
  function httpFail(res: http.ServerResponse, rec: ConnRecord, f: HttpFail, extra: Record<string, string> = {}): void {
    rec.set({ status: f.status, error: rec.fields.error || f.detail });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorPage(f);
    res.writeHead(f.status, statusText(f.status), {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'Proxy-Status': proxyStatusHeader(f),
      Via: via,
      ...extra,
    });
    res.end(body);
  }

  /** The same for raw sockets (CONNECT, Upgrade, parse errors): write a whole response, then close. */
  function socketFail(socket: Duplex, f: HttpFail, rec?: ConnRecord): void {
    rec?.set({ status: f.status, error: rec.fields.error || f.detail });
    const body = errorPage(f);
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${f.status} ${statusText(f.status)}\r\nContent-Type: text/html; charset=utf-8\r\n` +
          (f.status === 407 ? `Proxy-Authenticate: ${CHALLENGE['Proxy-Authenticate']}\r\n` : '') +
          `Content-Length: ${Buffer.byteLength(body)}\r\nProxy-Status: ${proxyStatusHeader(f)}\r\n` +
          `Via: ${via}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    // give the reply a moment to leave, then make sure the socket is gone
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  interface Target {
    url: URL;
    host: string;
    port: number;
    secure: boolean;
  }

  /** Validates the request target; returns an HttpFail for anything we will not forward. */
  function parseTarget(req: http.IncomingMessage): Target | HttpFail {
    const raw = req.url ?? '';
    if (raw.length > limits.maxUrlLength) {
      return new HttpFail(414, 'Address too long', `The requested URL is ${raw.length} characters; the limit is ${limits.maxUrlLength}.`, 'http_request_error');
    }
    if (raw.startsWith('/') || raw === '*') {
      return new HttpFail(
        400,
        'This is a proxy server',
        'Gatehouse received a request for itself. Configure this address and port as the HTTP proxy in your browser or system settings, then open web sites as usual.',
        'http_request_error',
      );
    }
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return new HttpFail(400, 'Malformed request', `"${raw.slice(0, 200)}" is not a valid absolute URL.`, 'http_request_error');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return new HttpFail(400, 'Unsupported scheme', `The scheme "${url.protocol.slice(0, -1)}" cannot be proxied; use http or https.`, 'http_request_error');
    }
    const secure = url.protocol === 'https:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (!host) return new HttpFail(400, 'Malformed request', 'The URL has no host.', 'http_request_error');
    const port = url.port ? Number(url.port) : secure ? 443 : 80;
    return { url, host, port, secure };
  }

  function describeAndDecide(
    rec: ConnRecord,
    service: string,
    clientAddr: string,
    host: string,
    port: number,
    method: string,
    user?: AuthUser,
  ): HttpFail | { lease: Lease | null } {
    const d = policy.decide({ service, clientAddr, user: user?.name, groups: user?.groups, host, port, method });
    rec.set({ rule: d.rule, allowed: d.allow, ...(d.allow ? {} : { error: d.reason }) });
    if (!d.allow) return new HttpFail(403, 'Access refused', `Gatehouse refused this request: ${d.reason}.`, 'destination_ip_prohibited');
    if (!d.limits) return { lease: null };
    const lease = opts.limiter.acquire(d.limits);
    if (!lease) {
      const why = `${user ? `user ${user.name}` : `client ${clientAddr}`} already has ${d.limits.maxConnections} connections open (rule "${d.rule}")`;
      rec.set({ allowed: false, error: why });
      return new HttpFail(429, 'Too many connections', `${why}. Close some and try again.`, 'connection_limit_reached');
    }
    return { lease };
  }

  function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const client = clientOf(socket);
    const method = req.method ?? 'GET';
    const rec = recorder.open({ service: 'http', ...client, method, url: req.url ?? '' });
    let bytesUp = headBytes(req);
    const downStart = socket.bytesWritten;
    res.on('close', () => {
      const unfinished = !res.writableFinished && !rec.fields.error;
      rec.complete({
        bytesUp,
        bytesDown: socket.bytesWritten - downStart,
        ...(unfinished ? { error: res.headersSent ? 'connection closed during the response' : 'client closed before the response' } : {}),
      });
    });

    const t = parseTarget(req);
    if (t instanceof HttpFail) return httpFail(res, rec, t);
    rec.set({ host: t.host, port: t.port, url: t.url.href });
    rec.onKill(res);
    identify(req.headers['proxy-authorization'], client.clientAddr, rec, (who) => {
      if (who instanceof HttpFail) return httpFail(res, rec, who, who.status === 407 ? CHALLENGE : {});
      if (who) rec.set({ user: who.name });
      const d = describeAndDecide(rec, 'http', client.clientAddr, t.host, t.port, method, who);
      if (d instanceof HttpFail) return httpFail(res, rec, d);
      if (d.lease) res.once('close', d.lease.release);
      if (isSelf(t.host, t.port) || loopedVia(req.headers)) {
        return httpFail(res, rec, new HttpFail(508, 'Request loop', `The request for ${t.url.host} would reach Gatehouse itself.`, 'proxy_loop_detected'));
      }
      forward(req, res, rec, t, (n) => (bytesUp += n), d.lease);
    });
  }

  function forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: ConnRecord,
    t: Target,
    countUp: (n: number) => void,
    lease: Lease | null,
  ): void {
    const method = req.method ?? 'GET';
    const headers = forwardHeaders(req.rawHeaders);
    // RFC 9112 §3.2.2: a proxy replaces Host with the authority of the target URI
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'host') {
        headers.splice(i, 2);
        i -= 2;
      }
    }
    headers.unshift('Host', t.url.host);
    addVia(headers, req.headers.via);
    const hasCl = req.headers['content-length'] !== undefined;
    const hasTe = req.headers['transfer-encoding'] !== undefined;
    if (hasTe && !hasCl) headers.push('Transfer-Encoding', 'chunked');
    else if (!hasCl && !hasTe && !NO_BODY_BY_DEFAULT.has(method)) headers.push('Content-Length', '0');

    const mod = t.secure ? https : http;
    const out = mod.request({
      host: t.host,
      port: t.port,
      method,
      path: t.url.pathname + t.url.search,
      headers,
      setHost: false,
      agent: t.secure ? httpsAgent : httpAgent,
    });
    let connectTimer: NodeJS.Timeout | null = null;
    const clearConnectTimer = () => {
      if (connectTimer) clearTimeout(connectTimer);
      connectTimer = null;
    };
    out.on('socket', (s: net.Socket) => {
      if (s.connecting) {
        connectTimer = setTimeout(() => out.destroy(Object.assign(new Error('connect timeout'), { code: 'E_CONNECT_TIMEOUT' })), limits.connectTimeoutMs);
        s.once('connect', clearConnectTimer);
      }
    });
    out.setTimeout(limits.responseTimeoutMs, () => {
      out.destroy(Object.assign(new Error('response timeout'), { code: 'E_RESPONSE_TIMEOUT' }));
    });
    out.on('information', (info) => {
      if (res.headersSent) return;
      if (info.statusCode === 100) res.writeContinue();
      else if (info.statusCode === 102) res.writeProcessing();
      else if (info.statusCode === 103) res.writeEarlyHints(info.headers as Record<string, string | string[]>);
    });
    out.on('response', (pres) => {
      clearConnectTimer();
      const h = forwardHeaders(pres.rawHeaders);
      addVia(h, pres.headers.via);
      rec.set({ status: pres.statusCode ?? 0 });
      res.writeHead(pres.statusCode ?? 502, pres.statusMessage, h);
      if (lease?.down) {
        const th = new ThrottleStream(lease.down);
        res.once('close', () => th.destroy());
        pres.pipe(th).pipe(res);
      } else {
        relayBody(pres, res);
      }
      pres.on('error', () => res.destroy());
      pres.on('aborted', () => {
        rec.set({ error: 'origin closed the connection during the response' });
        res.destroy();
      });
    });
    out.on('error', (err: NodeJS.ErrnoException) => {
      clearConnectTimer();
      if (res.headersSent) {
        rec.set({ error: err.message });
        res.destroy();
      } else {
        httpFail(res, rec, failFromErrno(err, t.url.host));
      }
    });
    // the client went away before the response completed: stop the origin request
    res.on('close', () => {
      clearConnectTimer();
      if (!res.writableFinished) out.destroy();
    });
    if (!hasCl && !hasTe) {
      // no body (RFC 9112 §6.3): nothing to stream
      out.end();
      req.resume();
    } else if (lease?.up) {
      const th = new ThrottleStream(lease.up);
      res.once('close', () => th.destroy());
      req.pipe(th).pipe(out);
      req.on('data', (c: Buffer) => countUp(c.length));
    } else {
      req.pipe(out);
      req.on('data', (c: Buffer) => countUp(c.length));
    }
  }

  /**
   * Streams a response body to the client with backpressure: what pipe() does,
   * with fewer listeners per request (this runs for every proxied response).
   */
  function relayBody(from: http.IncomingMessage, to: http.ServerResponse): void {
    const onData = (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    };
    from.on('data', onData);
    to.on('drain', () => from.resume());
    from.once('end', () => to.end());
  }

  /** WebSocket and other upgrades over the plain proxy: forward the handshake, then relay bytes. */
  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const ns = socket as net.Socket;
    const client = clientOf(ns);
    const rec = recorder.open({ service: 'http', ...client, method: req.method ?? 'GET', url: req.url ?? '' });
    socket.on('error', () => socket.destroy());
    rec.onKill(socket);
    const t = parseTarget(req);
    if (t instanceof HttpFail) return socketFail(socket, t, rec), rec.complete();
    rec.set({ host: t.host, port: t.port, url: t.url.href });
    ns.pause();
    identify(req.headers['proxy-authorization'], client.clientAddr, rec, (who) => {
      if (who instanceof HttpFail) return socketFail(socket, who, rec), rec.complete();
      if (who) rec.set({ user: who.name });
      const d = describeAndDecide(rec, 'http', client.clientAddr, t.host, t.port, req.method ?? 'GET', who);
      if (d instanceof HttpFail) return socketFail(socket, d, rec), rec.complete();
      if (d.lease) socket.once('close', d.lease.release);
      if (isSelf(t.host, t.port) || loopedVia(req.headers)) {
        socketFail(socket, new HttpFail(508, 'Request loop', `The request for ${t.url.host} would reach Gatehouse itself.`, 'proxy_loop_detected'), rec);
        return rec.complete();
      }
      upgrade(req, socket, head, rec, t, d.lease);
      ns.resume();
    });
  }

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, rec: ConnRecord, t: Target, lease: Lease | null): void {
    const ns = socket as net.Socket;
    const headers = forwardHeaders(req.rawHeaders, true);
    const clean: string[] = ['Host', t.url.host];
    for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() !== 'host') clean.push(headers[i]!, headers[i + 1]!);
    clean.push('Connection', 'Upgrade', 'Upgrade', String(req.headers.upgrade ?? ''));
    addVia(clean, req.headers.via);
    const out = (t.secure ? https : http).request({
      host: t.host,
      port: t.port,
      method: req.method,
      path: t.url.pathname + t.url.search,
      headers: clean,
      setHost: false,
      agent: false,
      timeout: limits.connectTimeoutMs,
    });
    out.on('timeout', () => out.destroy(Object.assign(new Error('timeout'), { code: 'E_RESPONSE_TIMEOUT' })));
    const upStart = ns.bytesRead;
    const downStart = ns.bytesWritten;
    out.on('upgrade', (pres, psock, phead) => {
      out.setTimeout(0);
      rec.set({ status: pres.statusCode ?? 101 });
      const lines = [`HTTP/1.1 ${pres.statusCode} ${pres.statusMessage}`];
      for (let i = 0; i < pres.rawHeaders.length; i += 2) lines.push(`${pres.rawHeaders[i]}: ${pres.rawHeaders[i + 1]}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      if (phead.length) socket.write(phead);
      if (head.length) psock.write(head);
      const kill = relay(socket, psock, { idleTimeoutMs: limits.idleTimeoutMs, up: lease?.up, down: lease?.down }, () => {
        tunnels.delete(kill);
        rec.complete({ bytesUp: ns.bytesRead - upStart, bytesDown: ns.bytesWritten - downStart });
      });
      tunnels.add(kill);
    });
    out.on('response', (pres) => {
      // the origin declined the upgrade: pass its answer on and close
      rec.set({ status: pres.statusCode ?? 0 });
      const h = forwardHeaders(pres.rawHeaders);
      const lines = [`HTTP/1.1 ${pres.statusCode} ${pres.statusMessage}`];
      for (let i = 0; i < h.length; i += 2) lines.push(`${h[i]}: ${h[i + 1]}`);
      lines.push(`Via: ${via}`, 'Connection: close');
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      pres.pipe(socket);
      pres.on('end', () => rec.complete({ bytesUp: ns.bytesRead - upStart, bytesDown: ns.bytesWritten - downStart }));
    });
    out.on('error', (err: NodeJS.ErrnoException) => {
      socketFail(socket, failFromErrno(err, t.url.host), rec);
      rec.complete();
    });
    out.end();
  }

  /** CONNECT host:port (RFC 9110 §9.3.6): only to allowed ports, then a byte tunnel. */
  function onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const ns = socket as net.Socket;
    const client = clientOf(ns);
    const target = req.url ?? '';
    const rec = recorder.open({ service: 'http', ...client, method: 'CONNECT', url: target });
    socket.on('error', () => socket.destroy());
    const finish = (patch: { bytesUp?: number; bytesDown?: number } = {}) => rec.complete(patch);
    rec.onKill(socket);
    const a = parseAuthority(target);
    if (!a) {
      socketFail(socket, new HttpFail(400, 'Malformed request', `CONNECT needs a host:port target; got "${target.slice(0, 200)}".`, 'http_request_error'), rec);
      return finish();
    }
    rec.set({ host: a.host, port: a.port });
    // hold the client's early bytes until the tunnel is up
    ns.pause();
    const reqBytes = headBytes(req);
    identify(req.headers['proxy-authorization'], client.clientAddr, rec, (who) => {
      if (who instanceof HttpFail) return socketFail(socket, who, rec), finish({ bytesUp: reqBytes });
      if (who) rec.set({ user: who.name });
      const d = describeAndDecide(rec, 'http', client.clientAddr, a.host, a.port, 'CONNECT', who);
      if (d instanceof HttpFail) return socketFail(socket, d, rec), finish({ bytesUp: reqBytes });
      if (d.lease) socket.once('close', d.lease.release);
      if (isSelf(a.host, a.port) || loopedVia(req.headers)) {
        socketFail(socket, new HttpFail(508, 'Request loop', `A tunnel to ${target} would reach Gatehouse itself.`, 'proxy_loop_detected'), rec);
        return finish({ bytesUp: reqBytes });
      }
      tunnel(socket, head, rec, a, reqBytes, finish, d.lease);
    });
  }

  function tunnel(
    socket: Duplex,
    head: Buffer,
    rec: ConnRecord,
    a: { host: string; port: number },
    reqBytes: number,
    finish: (patch?: { bytesUp?: number; bytesDown?: number }) => void,
    lease: Lease | null,
  ): void {
    const ns = socket as net.Socket;
    const target = hostPort(a.host, a.port);
    // a throttled tunnel relays through streams; otherwise reads go straight from pooled buffers
    const reader = lease?.down || lease?.up ? undefined : fastReader();
    dial(a.host, a.port, { timeoutMs: limits.connectTimeoutMs, reader }).then(
      (up) => {
        if (socket.destroyed) {
          up.destroy();
          return finish();
        }
        rec.set({ status: 200 });
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        const kill = relay(socket, up, { idleTimeoutMs: limits.idleTimeoutMs, bReader: reader, up: lease?.up, down: lease?.down }, () => {
          tunnels.delete(kill);
          finish({ bytesUp: reqBytes + up.bytesWritten, bytesDown: 39 + (reader ? reader.bytes : up.bytesRead) });
        });
        tunnels.add(kill);
        ns.resume();
      },
      (err: NodeJS.ErrnoException) => {
        socketFail(socket, failFromErrno(err, target), rec);
        finish({ bytesUp: reqBytes });
      },
    );
  }

  function onClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const ns = socket as net.Socket;
    let f: HttpFail;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      f = new HttpFail(431, 'Request head too large', `The request head is larger than ${limits.maxHeaderSize} bytes.`, 'http_request_error');
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') {
      f = new HttpFail(408, 'Request timeout', `The request head did not arrive within ${limits.headerTimeoutMs / 1000} s.`, 'http_request_error');
    } else {
      f = new HttpFail(400, 'Malformed request', `The request could not be parsed (${err.code ?? err.message}).`, 'http_request_error');
    }
    const rec = recorder.open({ service: 'http', ...clientOf(ns), allowed: false, rule: 'protocol' });
    socketFail(socket, f, rec);
    rec.complete();
  }

  function configure(server: http.Server): void {
    server.headersTimeout = limits.headerTimeoutMs;
    server.requestTimeout = 0; // bodies may stream for long; idle sockets are cut by `timeout`
    server.keepAliveTimeout = limits.idleTimeoutMs;
    server.timeout = Math.max(limits.responseTimeoutMs, limits.idleTimeoutMs);
    server.maxHeadersCount = 500;
  }

  const servers = new Set<http.Server>();

  return {
    attach(server) {
      servers.add(server);
      configure(server);
      server.on('request', onRequest);
      server.on('checkContinue', onRequest);
      server.on('connect', onConnect);
      server.on('upgrade', onUpgrade);
      server.on('clientError', onClientError);
      server.on('close', () => servers.delete(server));
    },
    createServer() {
      const server = http.createServer({
        maxHeaderSize: limits.maxHeaderSize,
        connectionsCheckingInterval: Math.min(1000, Math.max(50, limits.headerTimeoutMs / 2)),
        noDelay: true,
        keepAlive: true,
        // responses are ours to frame; node must not add a Date header we did not get
        sendDate: false,
      } as http.ServerOptions);
      this.attach(server);
      return server;
    },
    setLimits(l) {
      limits = l;
      for (const s of servers) configure(s);
    },
    destroyAll() {
      httpAgent.destroy();
      httpsAgent.destroy();
      for (const kill of tunnels) kill();
      tunnels.clear();
    },
  };
}
