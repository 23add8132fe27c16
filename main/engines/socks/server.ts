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
import { sharedReads } from '../../net/shared-reads.js';
import type { Lease } from '../../policy/limits.js';
import { whenLogKeepsUp, type ConnRecord, type Recorder } from '../../recorder.js';
import { normalizeAddr, hostPort } from '../../net/addresses.js';
import { dial, type Destination } from '../../net/dialer.js';
import { fastReader, relay, type FastReader } from '../../net/relay.js';
import type { Logger } from '../../logger.js';
import type { Admission, Verdict } from '../admission.js';
import { dialOutcome } from '../outcomes.js';
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
  admission: Admission;
  recorder: Recorder;
  limits: SocksLimits;
  logger: Logger;
}

export interface SocksProxy {
  createServer(): net.Server;
  setLimits(limits: SocksLimits): void;
  /** close every open session */
  destroyAll(): void;
}

/** errno → SOCKS5 reply code (RFC 1928 §6): the engines' shared table (../outcomes.ts). */
export function repFromErrno(code: string | undefined): number {
  return dialOutcome(Object.assign(new Error(code ?? ''), { code }), '').rep;
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

interface Engine {
  limits: SocksLimits;
  readonly opts: SocksOptions;
  readonly sessions: Set<net.Socket>;
}

const kSession = Symbol('gatehouse.socks.session');
type SessionSocket = net.Socket & { [kSession]?: Session };

/* Shared listeners: a session's socket finds its session through kSession. */
function onSessionData(this: SessionSocket, chunk: Buffer): void {
  const s = this[kSession]!;
  s.buf = s.buf.length ? Buffer.concat([s.buf, chunk]) : chunk;
  s.step();
}
function onSessionError(this: SessionSocket): void {
  this.destroy();
}
function onSessionClose(this: SessionSocket): void {
  this[kSession]!.onClose();
}
function onSessionEnd(this: SessionSocket): void {
  const s = this[kSession]!;
  // a request cut short and then FIN: nothing more can come, close now (a complete request
  // being decided keeps its socket paused, so its FIN is read once the relay starts)
  if (s.stage !== 'done' && s.stage !== 'busy') s.fail(-1, s.buf.length ? 'client closed with an incomplete request' : 'client closed during the handshake');
}
function onDeadline(this: Session): void {
  this.deadline = null;
  this.fail(this.version === SOCKS5_VERSION && this.stage === 'request5' ? REP_TTL_EXPIRED : -1, `the handshake did not finish within ${this.engine.limits.handshakeTimeoutMs / 1000} s`);
}

/**
 * One client connection through its handshake, decision and command. A class
 * with shared listeners, so an idle session costs its sockets and this object.
 */
class Session {
  buf: Buffer = EMPTY;
  stage: Stage = 'first';
  version = 0;
  user = '';
  groups: string[] = [];
  lease: Lease | null = null;
  deadline: NodeJS.Timeout | null;
  readonly rec: ConnRecord;
  readonly clientAddr: string;
  readonly clientPort: number;

  constructor(
    readonly engine: Engine,
    readonly socket: SessionSocket,
  ) {
    this.clientAddr = normalizeAddr(socket.remoteAddress);
    this.clientPort = socket.remotePort ?? 0;
    this.rec = engine.opts.recorder.open({ service: 'socks', clientAddr: this.clientAddr, clientPort: this.clientPort });
    this.rec.onKill(socket);
    engine.sessions.add(socket);
    socket[kSession] = this;
    socket.setNoDelay(true);
    socket.on('error', onSessionError);
    socket.once('close', onSessionClose);
    socket.on('data', onSessionData);
    socket.on('end', onSessionEnd);
    this.deadline = setTimeout(onDeadline.bind(this), engine.limits.handshakeTimeoutMs);
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  onClose(): void {
    this.engine.sessions.delete(this.socket);
    this.clearDeadline();
    if (this.stage !== 'done') {
      // the client left during the handshake
      if (!this.rec.fields.error) this.rec.set({ error: this.buf.length ? 'client closed with an incomplete request' : 'client closed during the handshake' });
      this.rec.complete({ bytesUp: this.socket.bytesRead, bytesDown: this.socket.bytesWritten });
    }
  }

  /** The one failure path: reply (code -1: none), close, note the reason. */
  fail(code: number, reason: string, allowed = true): void {
    if (this.stage === 'done') return;
    const { socket, rec } = this;
    this.stage = 'done';
    this.clearDeadline();
    socket.removeListener('data', onSessionData);
    socket.removeListener('end', onSessionEnd);
    let bytes: Buffer | null = null;
    if (code >= 0) bytes = this.version === SOCKS4_VERSION ? reply4(SOCKS4_REJECTED) : reply5(code);
    rec.set({ status: code >= 0 ? (this.version === SOCKS4_VERSION ? SOCKS4_REJECTED : code) : rec.fields.status, error: reason, ...(allowed ? {} : { allowed: false }) });
    if (bytes && socket.writable) socket.end(bytes);
    else socket.end();
    // the reply has a moment to leave; then the socket goes in any case
    setTimeout(() => socket.destroy(), 1000).unref();
    rec.complete({ bytesUp: socket.bytesRead, bytesDown: socket.bytesWritten });
  }

  private chooseMethod(offered: number[]): number {
    const login = this.engine.limits.login;
    if (login === 'required') return offered.includes(METHOD_USERPASS) ? METHOD_USERPASS : METHOD_NO_ACCEPTABLE;
    if (login === 'optional' && offered.includes(METHOD_USERPASS)) return METHOD_USERPASS;
    return offered.includes(METHOD_NO_AUTH) ? METHOD_NO_AUTH : METHOD_NO_ACCEPTABLE;
  }

  step(): void {
    const { socket, rec } = this;
    for (;;) {
      switch (this.stage) {
        case 'first': {
          if (this.buf.length === 0) return;
          this.version = this.buf[0]!;
          if (this.version === SOCKS5_VERSION) {
            this.stage = 'greeting5';
            rec.set({ service: 'socks5' });
          } else if (this.version === SOCKS4_VERSION) {
            this.stage = 'request4';
            rec.set({ service: 'socks4' });
          } else {
            return this.fail(-1, `not a SOCKS request (first byte 0x${this.version.toString(16).padStart(2, '0')})`);
          }
          continue;
        }
        case 'greeting5': {
          const r = parseGreeting5(this.buf);
          if (r.kind === 'more') return;
          if (r.kind === 'error') return this.fail(-1, r.reason);
          this.buf = r.rest;
          const m = this.chooseMethod(r.msg.methods);
          if (m === METHOD_NO_ACCEPTABLE) {
            socket.write(methodReply(METHOD_NO_ACCEPTABLE));
            const offered = r.msg.methods.map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(', ');
            return this.fail(
              -1,
              this.engine.limits.login === 'required'
                ? `login required, but the client offered no username/password method (offered ${offered})`
                : `no acceptable authentication method (offered ${offered})`,
              false,
            );
          }
          socket.write(methodReply(m));
          this.stage = m === METHOD_USERPASS ? 'auth5' : 'request5';
          continue;
        }
        case 'auth5': {
          const r = parseUserPass(this.buf);
          if (r.kind === 'more') return;
          if (r.kind === 'error') return this.fail(-1, r.reason);
          this.buf = r.rest;
          this.stage = 'busy';
          socket.pause();
          const { username, password } = r.msg;
          rec.set({ user: username });
          // a throttled sign-in waits its turn (SOCKS has no "retry later"), then gets the RFC 1929 failure
          void this.engine.opts.admission.signIn(username, password, this.clientAddr, rec, true).then((res) => {
            if (this.stage !== 'busy' || socket.destroyed) return;
            if (!res.ok) {
              socket.write(authReply(false));
              return this.fail(-1, res.reason, false);
            }
            this.user = res.user.name;
            this.groups = res.user.groups;
            socket.write(authReply(true));
            this.stage = 'request5';
            socket.resume();
            this.step();
          });
          return;
        }
        case 'request5': {
          const r = parseRequest5(this.buf);
          if (r.kind === 'more') return;
          if (r.kind === 'error') return this.fail(r.code, r.reason);
          this.buf = r.rest;
          this.stage = 'busy';
          socket.pause();
          return this.handleRequest(r.msg.cmd, r.msg.dst);
        }
        case 'request4': {
          const r = parseRequest4(this.buf);
          if (r.kind === 'more') return;
          if (r.kind === 'error') return this.fail(SOCKS4_REJECTED, r.reason);
          this.buf = r.rest;
          if (r.msg.userId) rec.set({ user: `${r.msg.userId} (unverified)` });
          if (this.engine.limits.login === 'required') {
            rec.set({ rule: 'login' });
            return this.fail(SOCKS4_REJECTED, 'login required: SOCKS4 cannot carry a password (use SOCKS5)', false);
          }
          this.stage = 'busy';
          socket.pause();
          return this.handleRequest(r.msg.cmd, r.msg.dst);
        }
        default:
          return;
      }
    }
  }

  /** Admission (decision on the name and its addresses, then the lease); `go` gets the destination. */
  private admit(method: string, host: string, port: number, go: (dest: Destination) => void): void {
    const { rec } = this;
    rec.set({ method, host, port, url: hostPort(host, port) });
    const user = this.user ? { name: this.user, groups: this.groups } : undefined;
    this.engine.opts.admission.decide({ service: 'socks', clientAddr: this.clientAddr, user, host, port, method }, rec, (v: Verdict) => {
      if (this.stage === 'done' || this.socket.destroyed) {
        if (v.ok) v.lease?.release();
        return;
      }
      if (!v.ok) {
        if (v.why === 'dns') {
          const rep = dialOutcome(v.err, hostPort(host, port)).rep;
          return this.fail(rep, `${hostPort(host, port)}: ${REP_TEXT[rep]} (${v.err.code ?? v.err.message})`);
        }
        return this.fail(REP_NOT_ALLOWED, v.reason, false);
      }
      if (v.lease) {
        this.lease = v.lease;
        this.socket.once('close', v.lease.release);
      }
      go(v.dest);
    });
  }

  private succeed(host: string, port: number): Buffer {
    return this.version === SOCKS4_VERSION ? reply4(SOCKS4_GRANTED, host, port) : reply5(REP_SUCCEEDED, host, port);
  }

  private startRelay(up: net.Socket, reader: FastReader | undefined): void {
    const { socket, rec } = this;
    this.stage = 'done';
    this.clearDeadline();
    socket.removeListener('data', onSessionData);
    socket.removeListener('end', onSessionEnd);
    if (this.buf.length) up.write(this.buf);
    this.buf = EMPTY;
    const lease = this.lease;
    relay(socket, up, { idleTimeoutMs: this.engine.limits.idleTimeoutMs, bReader: reader, up: lease?.up, down: lease?.down }, () => {
      rec.complete({ bytesUp: socket.bytesRead, bytesDown: socket.bytesWritten });
    });
  }

  private handleRequest(cmd: number, dst: Address): void {
    if (cmd === CMD_CONNECT) return this.admit('CONNECT', dst.host, dst.port, (dest) => this.doConnect(dest));
    if (cmd === CMD_BIND) return this.doBind(dst);
    // each destination of a UDP association is admitted as its first datagram arrives (udp.ts)
    if (cmd === CMD_UDP_ASSOCIATE) return this.doUdp(dst);
    this.fail(REP_COMMAND_NOT_SUPPORTED, `command ${cmd} is not supported`);
  }

  private doConnect(dest: Destination): void {
    const { socket, rec } = this;
    // a throttled or chained session relays through streams; otherwise reads go through the shared buffer
    const reader = this.lease?.up || this.lease?.down || dest.via ? undefined : fastReader();
    dial(dest, { timeoutMs: this.engine.limits.connectTimeoutMs, reader, onWay: (way) => rec.set({ chain: way }) }).then(
      (up) => {
        if (socket.destroyed || this.stage === 'done') {
          up.destroy();
          return;
        }
        rec.set({ status: this.version === SOCKS4_VERSION ? SOCKS4_GRANTED : REP_SUCCEEDED });
        socket.write(this.succeed(normalizeAddr(up.localAddress), up.localPort ?? 0));
        this.startRelay(up, reader);
      },
      (err: NodeJS.ErrnoException) => {
        const rep = repFromErrno(err.code);
        const why = err.name === 'HopError' ? err.message : `${REP_TEXT[rep]} (${err.code ?? err.message})`;
        this.fail(rep, `${hostPort(dest.host, dest.port)}: ${why}`);
      },
    );
  }

  /**
   * BIND (RFC 1928 §4; SOCKS4): listen, reply with the address, reply again when the peer connects.
   * A named peer is admitted before listening; "any peer" (an unspecified address or a name) is
   * admitted when it connects, on its address.
   */
  private doBind(dst: Address): void {
    const any = dst.host === '0.0.0.0' || dst.host === '::' || dst.atyp === 0x03;
    if (!any) return this.admit('BIND', dst.host, dst.port, () => this.listenForPeer(dst, false));
    this.rec.set({ method: 'BIND', host: dst.host, port: dst.port, url: hostPort(dst.host, dst.port) });
    this.listenForPeer(dst, true);
  }

  private listenForPeer(dst: Address, any: boolean): void {
    const { socket, rec } = this;
    const limits = this.engine.limits;
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
      this.fail(REP_GENERAL_FAILURE, `BIND could not listen: ${err.code ?? err.message}`);
    });
    listener.listen(0, local, () => {
      const a = listener.address() as net.AddressInfo;
      socket.write(this.succeed(normalizeAddr(a.address), a.port));
      timer = setTimeout(() => {
        cleanup();
        this.fail(REP_TTL_EXPIRED, `no peer connected to the BIND port within ${limits.bindTimeoutMs / 1000} s`);
      }, limits.bindTimeoutMs);
      // the client is waiting: its handshake is over, the BIND wait has its own deadline
      this.clearDeadline();
    });
    listener.on('connection', (peer: net.Socket) => {
      cleanup();
      const peerAddr = normalizeAddr(peer.remoteAddress);
      const peerPort = peer.remotePort ?? 0;
      if (!any && dst.host !== peerAddr) {
        peer.destroy();
        return this.fail(REP_NOT_ALLOWED, `BIND: the peer ${peerAddr} is not the expected ${dst.host}`, false);
      }
      const accept = () => {
        if (socket.destroyed) return void peer.destroy();
        socket.write(this.succeed(peerAddr, peerPort));
        rec.set({
          status: this.version === SOCKS4_VERSION ? SOCKS4_GRANTED : REP_SUCCEEDED,
          url: `${hostPort(dst.host, dst.port)} ← ${hostPort(peerAddr, peerPort)}`,
        });
        peer.setNoDelay(true);
        this.startRelay(peer, undefined);
      };
      if (!any) return accept();
      let admitted = false;
      this.admit('BIND', peerAddr, peerPort, () => {
        admitted = true;
        accept();
      });
      // (an address is decided at once, with no lookup)
      if (!admitted) peer.destroy();
    });
  }

  private doUdp(dst: Address): void {
    const { socket, rec } = this;
    const limits = this.engine.limits;
    if (this.version !== SOCKS5_VERSION) return this.fail(SOCKS4_REJECTED, 'UDP needs SOCKS5');
    if (!limits.udp) return this.fail(REP_NOT_ALLOWED, 'UDP ASSOCIATE is turned off in settings (socks.udp)', false);
    const assoc = new UdpAssociation({
      control: socket,
      clientAddr: this.clientAddr,
      clientPort: dst.port,
      user: this.user,
      groups: this.groups,
      admission: this.engine.opts.admission,
      recorder: this.engine.opts.recorder,
      idleTimeoutMs: limits.idleTimeoutMs,
      connectTimeoutMs: limits.connectTimeoutMs,
      base: { service: 'socks5', clientAddr: this.clientAddr, clientPort: this.clientPort, user: this.user, rule: rec.fields.rule },
    });
    assoc.start().then(
      ({ host, port }) => {
        if (socket.destroyed) return assoc.close();
        this.stage = 'done';
        this.clearDeadline();
        socket.removeListener('data', onSessionData);
        socket.write(reply5(REP_SUCCEEDED, host, port));
        // the association is logged per destination; this session's own row is not written
        rec.set({ status: REP_SUCCEEDED });
        socket.once('close', () => {
          assoc.close();
          rec.discard();
        });
        // anything the client sends on the control connection is ignored; its end ends the association
        socket.on('data', () => {});
        socket.on('end', () => socket.end());
        socket.setKeepAlive(true, 30000);
        socket.resume();
      },
      (err: NodeJS.ErrnoException) => this.fail(REP_GENERAL_FAILURE, `UDP relay could not start: ${err.code ?? err.message}`),
    );
  }
}

export function createSocksProxy(opts: SocksOptions): SocksProxy {
  const engine: Engine = { limits: opts.limits, opts, sessions: new Set() };
  const onConnection = (socket: net.Socket) => {
    // the source gate: a client from outside gets no method offer, only a close
    if (!opts.admission.gate(socket, 'socks')) return;
    sharedReads(socket);
    whenLogKeepsUp(opts.recorder, socket, () => void new Session(engine, socket));
  };
  const servers = new Set<net.Server>();
  return {
    createServer() {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
      servers.add(server);
      server.on('close', () => servers.delete(server));
      return server;
    },
    setLimits(l) {
      engine.limits = l;
    },
    destroyAll() {
      for (const s of engine.sessions) s.destroy();
      engine.sessions.clear();
    },
  };
}
