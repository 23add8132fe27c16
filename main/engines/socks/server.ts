/**
 * The SOCKS service: one port for SOCKS4, SOCKS4a and SOCKS5, told apart by
 * the first byte. Per connection: a handshake driven by the sans-IO parsers in
 * protocol.ts, under a deadline; identity (RFC 1929 username/password, or the
 * client address alone); the policy's decision; then CONNECT (a relay), BIND
 * (two replies, the second when the peer connects) or UDP ASSOCIATE (udp.ts).
 * One failure path per session (`socksFail`): reply with the code that tells
 * the truth, close, and note the reason on the session's record.
 */
import net from 'node:net';
import type { Policy } from '../../policy/policy.js';
import type { Authenticator } from '../../policy/auth.js';
import type { Lease, Limiter } from '../../policy/limits.js';
import type { ConnRecord, Recorder } from '../../recorder.js';
import { normalizeAddr, hostPort } from '../../net/addresses.js';
import { dial } from '../../net/dialer.js';
import { pooledReader, relay } from '../../net/relay.js';
import type { Logger } from '../../logger.js';
import {
  CMD_BIND,
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  METHOD_NO_ACCEPTABLE,
  METHOD_NO_AUTH,
  METHOD_USERPASS,
  REP_COMMAND_NOT_SUPPORTED,
  REP_CONNECTION_REFUSED,
  REP_GENERAL_FAILURE,
  REP_HOST_UNREACHABLE,
  REP_NETWORK_UNREACHABLE,
  REP_NOT_ALLOWED,
  REP_SUCCEEDED,
  REP_TTL_EXPIRED,
  SOCKS4_GRANTED,
  SOCKS4_REJECTED,
  SOCKS4_VERSION,
  SOCKS5_VERSION,
  authReply,
  methodReply,
  parseGreeting5,
  parseRequest4,
  parseRequest5,
  parseUserPass,
  reply4,
  reply5,
  type Address,
} from './protocol.js';
import { UdpAssociation } from './udp.js';

export type LoginMode = 'off' | 'optional' | 'required';

export interface SocksLimits {
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  bindTimeoutMs: number;
  connectTimeoutMs: number;
  udp: boolean;
  login: LoginMode;
}

export interface SocksOptions {
  policy: Policy;
  recorder: Recorder;
  auth: Authenticator;
  limiter: Limiter;
  limits: SocksLimits;
  logger: Logger;
}

export interface SocksProxy {
  createServer(): net.Server;
  setLimits(limits: SocksLimits): void;
  /** close every open session */
  destroyAll(): void;
}

/** errno → SOCKS5 reply code (RFC 1928 §6), after Dante's choices. */
export function repFromErrno(code: string | undefined): number {
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return REP_HOST_UNREACHABLE;
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return REP_NETWORK_UNREACHABLE;
    case 'ECONNREFUSED':
      return REP_CONNECTION_REFUSED;
    case 'ETIMEDOUT':
    case 'E_CONNECT_TIMEOUT':
      return REP_TTL_EXPIRED;
    default:
      return REP_GENERAL_FAILURE;
  }
}

const REP_TEXT: Record<number, string> = {
  [REP_GENERAL_FAILURE]: 'general failure',
  [REP_NOT_ALLOWED]: 'not allowed by the rules',
  [REP_NETWORK_UNREACHABLE]: 'network unreachable',
  [REP_HOST_UNREACHABLE]: 'host unreachable',
  [REP_CONNECTION_REFUSED]: 'connection refused',
  [REP_TTL_EXPIRED]: 'timed out',
  [REP_COMMAND_NOT_SUPPORTED]: 'command not supported',
};

const EMPTY = Buffer.alloc(0);

type Stage = 'first' | 'greeting5' | 'auth5' | 'request5' | 'request4' | 'busy' | 'done';

export function createSocksProxy(opts: SocksOptions): SocksProxy {
  let limits = opts.limits;
  const { policy, recorder, auth } = opts;
  const sessions = new Set<() => void>();

  function onConnection(socket: net.Socket): void {
    const clientAddr = normalizeAddr(socket.remoteAddress);
    const clientPort = socket.remotePort ?? 0;
    const rec: ConnRecord = recorder.open({ service: 'socks', clientAddr, clientPort });
    let buf: Buffer = EMPTY;
    let stage: Stage = 'first';
    let version = 0;
    let user = '';
    let groups: string[] = [];
    const kill = () => socket.destroy();
    sessions.add(kill);
    rec.onKill(kill);
    let lease: Lease | null = null;
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      sessions.delete(kill);
      clearTimeout(deadline);
      if (stage !== 'done') {
        // the client left during the handshake
        if (!rec.fields.error) rec.set({ error: buf.length ? 'client closed with an incomplete request' : 'client closed during the handshake' });
        rec.complete({ bytesUp: socket.bytesRead, bytesDown: socket.bytesWritten });
      }
    });
    const deadline = setTimeout(() => {
      socksFail(version === SOCKS5_VERSION && stage === 'request5' ? REP_TTL_EXPIRED : -1, `the handshake did not finish within ${limits.handshakeTimeoutMs / 1000} s`);
    }, limits.handshakeTimeoutMs);

    /** The one failure path: reply (code -1: none), close, note the reason. */
    function socksFail(code: number, reason: string, allowed = true): void {
      if (stage === 'done') return;
      stage = 'done';
      clearTimeout(deadline);
      socket.removeListener('data', onData);
      let bytes: Buffer | null = null;
      if (code >= 0) bytes = version === SOCKS4_VERSION ? reply4(SOCKS4_REJECTED) : reply5(code);
      rec.set({ status: code >= 0 ? (version === SOCKS4_VERSION ? SOCKS4_REJECTED : code) : rec.fields.status, error: reason, ...(allowed ? {} : { allowed: false }) });
      if (bytes && socket.writable) socket.end(bytes);
      else socket.end();
      // the reply has a moment to leave; then the socket goes in any case
      setTimeout(() => socket.destroy(), 1000).unref();
      rec.complete({ bytesUp: socket.bytesRead, bytesDown: socket.bytesWritten });
    }

    function onData(chunk: Buffer): void {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      step();
    }
    socket.on('data', onData);

    function chooseMethod(offered: number[]): number {
      const login = limits.login;
      if (login === 'required') return offered.includes(METHOD_USERPASS) ? METHOD_USERPASS : METHOD_NO_ACCEPTABLE;
      if (login === 'optional' && offered.includes(METHOD_USERPASS)) return METHOD_USERPASS;
      return offered.includes(METHOD_NO_AUTH) ? METHOD_NO_AUTH : METHOD_NO_ACCEPTABLE;
    }

    function step(): void {
      for (;;) {
        switch (stage) {
          case 'first': {
            if (buf.length === 0) return;
            version = buf[0]!;
            if (version === SOCKS5_VERSION) {
              stage = 'greeting5';
              rec.set({ service: 'socks5' });
            } else if (version === SOCKS4_VERSION) {
              stage = 'request4';
              rec.set({ service: 'socks4' });
            } else {
              return socksFail(-1, `not a SOCKS request (first byte 0x${version.toString(16).padStart(2, '0')})`);
            }
            continue;
          }
          case 'greeting5': {
            const r = parseGreeting5(buf);
            if (r.kind === 'more') return;
            if (r.kind === 'error') return socksFail(-1, r.reason);
            buf = r.rest;
            const m = chooseMethod(r.msg.methods);
            if (m === METHOD_NO_ACCEPTABLE) {
              socket.write(methodReply(METHOD_NO_ACCEPTABLE));
              const offered = r.msg.methods.map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(', ');
              return socksFail(-1, limits.login === 'required' ? `login required, but the client offered no username/password method (offered ${offered})` : `no acceptable authentication method (offered ${offered})`, false);
            }
            socket.write(methodReply(m));
            stage = m === METHOD_USERPASS ? 'auth5' : 'request5';
            continue;
          }
          case 'auth5': {
            const r = parseUserPass(buf);
            if (r.kind === 'more') return;
            if (r.kind === 'error') return socksFail(-1, r.reason);
            buf = r.rest;
            stage = 'busy';
            socket.pause();
            const { username, password } = r.msg;
            rec.set({ user: username });
            auth.check(username, password, clientAddr).then(
              (res) => {
                if (stage !== 'busy' || socket.destroyed) return;
                if (!res.ok) {
                  socket.write(authReply(false));
                  rec.set({ rule: res.lockedOut ? 'lockout' : 'login' });
                  return socksFail(-1, res.reason, false);
                }
                user = res.user.name;
                groups = res.user.groups;
                rec.set({ user });
                socket.write(authReply(true));
                stage = 'request5';
                socket.resume();
                step();
              },
              (err) => socksFail(-1, `sign-in check failed: ${(err as Error).message}`),
            );
            return;
          }
          case 'request5': {
            const r = parseRequest5(buf);
            if (r.kind === 'more') return;
            if (r.kind === 'error') return socksFail(r.code, r.reason);
            buf = r.rest;
            stage = 'busy';
            socket.pause();
            return handleRequest(r.msg.cmd, r.msg.dst);
          }
          case 'request4': {
            const r = parseRequest4(buf);
            if (r.kind === 'more') return;
            if (r.kind === 'error') return socksFail(SOCKS4_REJECTED, r.reason);
            buf = r.rest;
            if (r.msg.userId) rec.set({ user: `${r.msg.userId} (unverified)` });
            if (limits.login === 'required') {
              rec.set({ rule: 'login' });
              return socksFail(SOCKS4_REJECTED, 'login required: SOCKS4 cannot carry a password (use SOCKS5)', false);
            }
            stage = 'busy';
            socket.pause();
            return handleRequest(r.msg.cmd, r.msg.dst);
          }
          default:
            return;
        }
      }
    }

    function decide(method: string, dst: Address): boolean {
      const d = policy.decide({ service: 'socks', clientAddr, user: user || undefined, groups, host: dst.host, port: dst.port, method });
      rec.set({ method, host: dst.host, port: dst.port, url: hostPort(dst.host, dst.port), rule: d.rule, allowed: d.allow });
      if (!d.allow) {
        socksFail(REP_NOT_ALLOWED, d.reason, false);
        return false;
      }
      if (d.limits) {
        lease = opts.limiter.acquire(d.limits);
        if (!lease) {
          socksFail(REP_NOT_ALLOWED, `${user ? `user ${user}` : `client ${clientAddr}`} already has ${d.limits.maxConnections} connections open (rule "${d.rule}")`, false);
          return false;
        }
        socket.once('close', lease.release);
      }
      return true;
    }

    function succeed(host: string, port: number): Buffer {
      return version === SOCKS4_VERSION ? reply4(SOCKS4_GRANTED, host, port) : reply5(REP_SUCCEEDED, host, port);
    }

    function startRelay(up: net.Socket, reader: ReturnType<typeof pooledReader> | undefined): void {
      stage = 'done';
      clearTimeout(deadline);
      socket.removeListener('data', onData);
      if (buf.length) up.write(buf);
      buf = EMPTY;
      relay(socket, up, { idleTimeoutMs: limits.idleTimeoutMs, bReader: reader, up: lease?.up, down: lease?.down }, () => {
        rec.complete({ bytesUp: socket.bytesRead, bytesDown: socket.bytesWritten });
      });
      socket.resume();
    }

    function handleRequest(cmd: number, dst: Address): void {
      const label = cmd === CMD_CONNECT ? 'CONNECT' : cmd === CMD_BIND ? 'BIND' : 'UDP';
      if (!decide(label, dst)) return;
      if (cmd === CMD_CONNECT) return doConnect(dst);
      if (cmd === CMD_BIND) return doBind(dst);
      if (cmd === CMD_UDP_ASSOCIATE) return doUdp(dst);
      socksFail(REP_COMMAND_NOT_SUPPORTED, `command ${cmd} is not supported`);
    }

    function doConnect(dst: Address): void {
      // a throttled session relays through streams; otherwise reads go straight from pooled buffers
      const reader = lease?.up || lease?.down ? undefined : pooledReader();
      dial(dst.host, dst.port, { timeoutMs: limits.connectTimeoutMs, onread: reader?.onread }).then(
        (up) => {
          if (socket.destroyed || stage === 'done') {
            up.destroy();
            return;
          }
          rec.set({ status: version === SOCKS4_VERSION ? SOCKS4_GRANTED : REP_SUCCEEDED });
          socket.write(succeed(normalizeAddr(up.localAddress), up.localPort ?? 0));
          startRelay(up, reader);
        },
        (err: NodeJS.ErrnoException) => {
          const rep = repFromErrno(err.code);
          socksFail(rep, `${hostPort(dst.host, dst.port)}: ${REP_TEXT[rep]} (${err.code ?? err.message})`);
        },
      );
    }

    /** BIND (RFC 1928 §4; SOCKS4): listen, reply with the address, reply again when the peer connects. */
    function doBind(dst: Address): void {
      const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
      const local = normalizeAddr(socket.localAddress);
      let timer: NodeJS.Timeout | null = null;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        listener.close();
      };
      socket.once('close', cleanup);
      listener.on('error', (err: NodeJS.ErrnoException) => {
        cleanup();
        socksFail(REP_GENERAL_FAILURE, `BIND could not listen: ${err.code ?? err.message}`);
      });
      listener.listen(0, local, () => {
        const a = listener.address() as net.AddressInfo;
        socket.write(succeed(normalizeAddr(a.address), a.port));
        timer = setTimeout(() => {
          cleanup();
          socksFail(REP_TTL_EXPIRED, `no peer connected to the BIND port within ${limits.bindTimeoutMs / 1000} s`);
        }, limits.bindTimeoutMs);
        // the client is waiting: its handshake is over, the BIND wait has its own deadline
        clearTimeout(deadline);
      });
      listener.on('connection', (peer: net.Socket) => {
        cleanup();
        const peerAddr = normalizeAddr(peer.remoteAddress);
        const expected = dst.host;
        const any = expected === '0.0.0.0' || expected === '::' || dst.atyp === 0x03;
        if (!any && expected !== peerAddr) {
          peer.destroy();
          return socksFail(REP_NOT_ALLOWED, `BIND: the peer ${peerAddr} is not the expected ${expected}`, false);
        }
        if (socket.destroyed) return void peer.destroy();
        socket.write(succeed(peerAddr, peer.remotePort ?? 0));
        rec.set({ status: version === SOCKS4_VERSION ? SOCKS4_GRANTED : REP_SUCCEEDED, url: `${hostPort(dst.host, dst.port)} ← ${hostPort(peerAddr, peer.remotePort ?? 0)}` });
        peer.setNoDelay(true);
        startRelay(peer, undefined);
        peer.resume();
      });
    }

    function doUdp(dst: Address): void {
      if (version !== SOCKS5_VERSION) return socksFail(SOCKS4_REJECTED, 'UDP needs SOCKS5');
      if (!limits.udp) return socksFail(REP_NOT_ALLOWED, 'UDP ASSOCIATE is turned off in settings (socks.udp)', false);
      const assoc = new UdpAssociation({
        control: socket,
        clientAddr,
        clientPort: dst.port,
        clientHostHint: dst.host,
        user,
        groups,
        policy,
        recorder,
        idleTimeoutMs: limits.idleTimeoutMs,
        base: { service: 'socks5', clientAddr, clientPort, user, rule: rec.fields.rule },
      });
      assoc.start().then(
        ({ host, port }) => {
          if (socket.destroyed) return assoc.close();
          stage = 'done';
          clearTimeout(deadline);
          socket.removeListener('data', onData);
          socket.write(reply5(REP_SUCCEEDED, host, port));
          // the association is logged per destination; this session's own row is not written
          rec.set({ status: REP_SUCCEEDED });
          const end = () => {
            assoc.close();
            rec.discard();
          };
          socket.once('close', end);
          // anything the client sends on the control connection is ignored; its end ends the association
          socket.on('data', () => {});
          socket.on('end', () => socket.end());
          socket.setKeepAlive(true, 30000);
          socket.resume();
        },
        (err: NodeJS.ErrnoException) => socksFail(REP_GENERAL_FAILURE, `UDP relay could not start: ${err.code ?? err.message}`),
      );
    }
  }

  const servers = new Set<net.Server>();
  return {
    createServer() {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
      servers.add(server);
      server.on('close', () => servers.delete(server));
      return server;
    },
    setLimits(l) {
      limits = l;
    },
    destroyAll() {
      for (const kill of sessions) kill();
      sessions.clear();
    },
  };
}
