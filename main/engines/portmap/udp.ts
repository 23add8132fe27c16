/**
 * A UDP port mapping (3proxy's udppm): datagrams arriving on the mapping's
 * port are sent on to its one destination, and replies go back to the client
 * that sent. Each client (address and port) is a flow with its own socket
 * towards the destination, admitted once (source, rules, limits, route) and
 * logged as one row when it ends: after `idleMs` without a datagram either
 * way, or when the mapping stops. Flows are bounded in number, and datagrams
 * waiting for a flow's decision are bounded too; what does not fit is dropped,
 * as UDP allows.
 *
 * Through an upstream chain, a flow goes by SOCKS5 UDP ASSOCIATE at the
 * chain's hop, which must be a single SOCKS5 hop (HTTP and SOCKS4a carry no UDP).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Admission } from '../admission.js';
import type { ConnRecord, Recorder } from '../../recorder.js';
import { hostPort, normalizeAddr } from '../../net/addresses.js';
import type { Destination } from '../../net/dialer.js';
import { associateUdp, type UdpAssociation } from '../../net/upstream/udp.js';
import type { Lease } from '../../policy/limits.js';
import type { MapTarget, PortMapLimits } from './tcp.js';

export interface UdpMapOptions {
  /** flows at once per listening socket (default 1024) */
  maxFlows?: number;
  /** a flow without a datagram either way for this long ends (default 60 s) */
  idleMs?: number;
}

export interface UdpMapDeps {
  admission: Admission;
  recorder: Recorder;
  limits(): PortMapLimits;
}

/** datagrams kept per flow while it is being admitted */
const MAX_PENDING = 16;

interface Flow {
  key: string;
  rec: ConnRecord | null;
  /** null while admitting; false once refused (datagrams dropped until the flow expires) */
  out: dgram.Socket | null | false;
  assoc: UdpAssociation | null;
  lease: Lease | null;
  pending: Buffer[];
  last: number;
  bytesUp: number;
  bytesDown: number;
}

export class UdpMap {
  private readonly sockets = new Set<dgram.Socket>();
  private readonly flows = new Map<string, Flow>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly maxFlows: number;
  private readonly idleMs: number;

  constructor(
    private readonly deps: UdpMapDeps,
    readonly target: MapTarget,
    opts: UdpMapOptions = {},
  ) {
    this.maxFlows = opts.maxFlows ?? 1024;
    this.idleMs = opts.idleMs ?? 60_000;
  }

  get flowCount(): number {
    return this.flows.size;
  }

  /** Binds one listening socket; rejects with the bind error (EADDRINUSE…). */
  listen(host: string | undefined, port: number): Promise<dgram.Socket> {
    const family = host && net.isIPv4(host) ? 'udp4' : 'udp6';
    const sock = dgram.createSocket({ type: family, ipv6Only: false });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: host ?? '::', port, exclusive: true }, () => {
        sock.removeListener('error', reject);
        sock.on('error', () => {});
        sock.on('message', (msg, from) => this.fromClient(sock, msg, from));
        this.sockets.add(sock);
        this.sweeper ??= setInterval(() => this.sweep(), Math.max(50, Math.min(5000, this.idleMs / 4)));
        this.sweeper.unref();
        resolve(sock);
      });
    });
  }

  private fromClient(sock: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo): void {
    const clientAddr = normalizeAddr(from.address);
    const key = `${from.address}|${from.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.flows.size >= this.maxFlows) return; // full: the datagram is dropped
      flow = this.openFlow(sock, key, clientAddr, from);
    }
    flow.last = Date.now();
    if (flow.out === false) return;
    flow.bytesUp += msg.length;
    if (flow.out === null) {
      if (flow.pending.length < MAX_PENDING) flow.pending.push(msg);
      return;
    }
    this.sendOut(flow, msg);
  }

  private openFlow(sock: dgram.Socket, key: string, clientAddr: string, from: dgram.RemoteInfo): Flow {
    const { admission, recorder } = this.deps;
    const { name, host, port } = this.target;
    const flow: Flow = { key, rec: null, out: null, assoc: null, lease: null, pending: [], last: Date.now(), bytesUp: 0, bytesDown: 0 };
    this.flows.set(key, flow);
    const base = { service: 'mapping', mapping: name, clientAddr, clientPort: from.port, method: 'UDP', host, port, url: `udp://${hostPort(host, port)}` };
    if (!admission.deps.policy.admitsSource(clientAddr)) {
      // refused at the gate: one row, then the client's datagrams are dropped until the flow expires
      flow.out = false;
      recorder.open({ ...base, allowed: false, rule: 'allowed-sources' }).complete({ error: `client ${clientAddr} is outside the allowed source ranges (access.allowedSources)` });
      return flow;
    }
    const rec = recorder.open(base);
    flow.rec = rec;
    rec.onKill(() => this.endFlow(flow));
    admission.decide({ service: 'mapping', mapping: name, clientAddr, host, port, method: 'UDP' }, rec, (v) => {
      if (this.flows.get(key) !== flow) return v.ok ? v.lease?.release() : undefined;
      if (!v.ok) {
        flow.out = false;
        flow.pending = [];
        return;
      }
      flow.lease = v.lease;
      this.connect(flow, sock, from, v.dest).catch((err: Error) => {
        rec.set({ error: `${hostPort(host, port)}: ${err.message}` });
        flow.out = false;
        flow.pending = [];
      });
    });
    return flow;
  }

  /** The flow's socket towards the destination (direct), or its association at the chain's SOCKS5 hop. */
  private async connect(flow: Flow, sock: dgram.Socket, from: dgram.RemoteInfo, dest: Destination): Promise<void> {
    const back = (payload: Buffer) => {
      if (this.flows.get(flow.key) !== flow) return;
      flow.last = Date.now();
      flow.bytesDown += payload.length;
      sock.send(payload, from.port, from.address);
    };
    if (dest.via) {
      const hops = dest.via.chain.hops;
      if (hops.length !== 1) throw new Error(`UDP through chain ${dest.via.chain.name} needs a single SOCKS5 hop (it has ${hops.length})`);
      const assoc = await associateUdp(hops[0]!, { timeoutMs: this.deps.limits().connectTimeoutMs });
      flow.rec?.set({ chain: dest.via.chain.name });
      const out = dgram.createSocket(net.isIPv6(assoc.relay.address) ? 'udp6' : 'udp4');
      out.on('error', () => {});
      out.on('message', (msg) => {
        const d = assoc.unwrap(msg);
        if (d) back(d.payload);
      });
      assoc.control.once('close', () => this.endFlow(flow));
      flow.assoc = assoc;
      this.ready(flow, out);
      return;
    }
    const address = dest.addresses[0]!;
    const out = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    out.on('error', () => {});
    out.on('message', (msg) => back(msg));
    await new Promise<void>((resolve) => out.connect(dest.port, address, resolve));
    this.ready(flow, out);
  }

  private ready(flow: Flow, out: dgram.Socket): void {
    if (this.flows.get(flow.key) !== flow) return void out.close();
    flow.out = out;
    for (const msg of flow.pending) this.sendOut(flow, msg);
    flow.pending = [];
  }

  private sendOut(flow: Flow, msg: Buffer): void {
    const out = flow.out as dgram.Socket;
    if (flow.assoc) {
      const { host, port } = this.target;
      out.send(flow.assoc.wrap({ host, port }, msg), flow.assoc.relay.port, flow.assoc.relay.address);
    } else out.send(msg);
  }

  private endFlow(flow: Flow): void {
    if (this.flows.get(flow.key) !== flow) return;
    this.flows.delete(flow.key);
    if (flow.out) flow.out.close();
    flow.assoc?.close();
    flow.lease?.release();
    flow.rec?.complete({ bytesUp: flow.bytesUp, bytesDown: flow.bytesDown });
  }

  private sweep(): void {
    const now = Date.now();
    for (const f of [...this.flows.values()]) if (now - f.last >= this.idleMs) this.endFlow(f);
  }

  /** Ends every flow (each logs its row) and closes the listening sockets. */
  close(): void {
    for (const f of [...this.flows.values()]) this.endFlow(f);
    for (const s of this.sockets) s.close();
    this.sockets.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}
