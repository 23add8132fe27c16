/**
 * A SOCKS5 UDP association (RFC 1928 §7): one UDP socket per association,
 * bound beside the TCP control connection. Datagrams from the client (its
 * address, and its port once known) are unwrapped and sent on; datagrams from
 * a destination the client has written to come back wrapped in the header
 * that names their source; everything else is dropped, and so are fragments
 * (FRAG ≠ 0). Each destination is admitted once, through the same admission
 * as every service (its name, then the addresses it resolves to), and logged
 * as its own row (datagrams and bytes each way) when the association ends
 * with its control connection. Destinations of the other address family than
 * the client's (an IPv6 server for an IPv4 client) are reached through a
 * second socket of that family, opened when first needed.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Admission } from '../admission.js';
import type { Recorder, RecordFields } from '../../recorder.js';
import { hostPort, normalizeAddr } from '../../net/addresses.js';
import type { Via } from '../../net/dialer.js';
import { associateUdp, type UdpAssociation as UpstreamAssociation } from '../../net/upstream/udp.js';
import { parseUdp, udpHeader } from './protocol.js';

/** A UDP association at an upstream chain's SOCKS5 hop, and our socket towards its relay. */
interface Upstream {
  assoc: UpstreamAssociation;
  sock: dgram.Socket;
}

interface DestStats {
  host: string;
  port: number;
  /** the address datagrams go to and replies come from */
  addr: string | null;
  allowed: boolean;
  rule: string;
  error: string;
  start: number;
  packetsUp: number;
  bytesUp: number;
  packetsDown: number;
  bytesDown: number;
  pending: Buffer[];
  /** through an upstream chain: its name and association (addr '' when the hop looks the name up) */
  chain: string;
  up: Upstream | null;
}

export interface UdpAssociationOptions {
  control: net.Socket;
  clientAddr: string;
  /** DST.PORT of the request: the client's UDP port if it knows it, else 0 */
  clientPort: number;
  user: string;
  groups: string[];
  admission: Admission;
  recorder: Recorder;
  idleTimeoutMs: number;
  /** how long an upstream SOCKS5 hop may take to grant a UDP association (default 10 s) */
  connectTimeoutMs?: number;
  base: Pick<RecordFields, 'service' | 'clientAddr' | 'clientPort' | 'user' | 'rule'>;
}

const MAX_DESTINATIONS = 4096;

export class UdpAssociation {
  private sock: dgram.Socket | null = null;
  /** the other address family's socket, for destinations the client's family cannot reach */
  private other: dgram.Socket | null = null;
  private clientUdpPort: number;
  private readonly dests = new Map<string, DestStats>();
  /** "addr|port" of resolved destinations → their stats, for replies */
  private readonly bySource = new Map<string, DestStats>();
  private idle: NodeJS.Timeout | null = null;
  /** upstream associations by chain name, opened when a destination is first routed through one */
  private readonly upstreams = new Map<string, Promise<Upstream>>();
  private closed = false;
  private v6 = false;
  dropped = 0;

  constructor(private readonly o: UdpAssociationOptions) {
    this.clientUdpPort = o.clientPort;
  }

  /** Binds the relay socket next to the control connection; resolves with the address to tell the client. */
  start(): Promise<{ host: string; port: number }> {
    const local = normalizeAddr(this.o.control.localAddress);
    this.v6 = local.includes(':');
    const sock = dgram.createSocket({ type: this.v6 ? 'udp6' : 'udp4' });
    this.sock = sock;
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    sock.on('error', () => this.close());
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, local, () => {
        sock.removeListener('error', reject);
        const a = sock.address();
        this.touch();
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  private touch(): void {
    if (this.idle) this.idle.refresh();
    else {
      this.idle = setTimeout(() => this.o.control.destroy(), this.o.idleTimeoutMs);
      this.idle.unref();
    }
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    const from = normalizeAddr(rinfo.address);
    if (from === this.o.clientAddr && (this.clientUdpPort === 0 || rinfo.port === this.clientUdpPort) && !this.bySource.has(`${from}|${rinfo.port}`)) {
      // the first datagram from the client's address tells its port (RFC 1928 §7)
      if (this.clientUdpPort === 0) this.clientUdpPort = rinfo.port;
      return this.fromClient(msg);
    }
    const d = this.bySource.get(`${from}|${rinfo.port}`);
    if (!d || !d.allowed) {
      this.dropped++;
      return;
    }
    d.packetsDown++;
    d.bytesDown += msg.length;
    this.touch();
    this.sock!.send([udpHeader(from, rinfo.port), msg], this.clientUdpPort, this.o.clientAddr);
  }

  private fromClient(msg: Buffer): void {
    const r = parseUdp(msg);
    if (r.kind !== 'ok' || r.msg.frag !== 0) {
      // malformed, or a fragment: Gatehouse does not reassemble (RFC 1928 §7 allows dropping them)
      this.dropped++;
      return;
    }
    const { dst, data } = r.msg;
    this.touch();
    const key = hostPort(dst.host.toLowerCase(), dst.port);
    let d = this.dests.get(key);
    if (!d) {
      if (this.dests.size >= MAX_DESTINATIONS) {
        this.dropped++;
        return;
      }
      d = {
        host: dst.host,
        port: dst.port,
        addr: null,
        allowed: true,
        rule: '',
        error: '',
        start: Date.now(),
        packetsUp: 0,
        bytesUp: 0,
        packetsDown: 0,
        bytesDown: 0,
        pending: [],
        chain: '',
        up: null,
      };
      this.dests.set(key, d);
      this.admit(d);
    }
    d.packetsUp++;
    d.bytesUp += data.length;
    if (!d.allowed) return;
    if (d.addr === null) {
      if (d.pending.length < 64) d.pending.push(Buffer.from(data));
      return;
    }
    this.sendTo(d, data);
  }

  private admit(d: DestStats): void {
    const user = this.o.user ? { name: this.o.user, groups: this.o.groups } : undefined;
    this.o.admission.decide({ service: 'socks', clientAddr: this.o.clientAddr, user, host: d.host, port: d.port, method: 'UDP' }, null, (v) => {
      if (this.closed) return;
      if (!v.ok) {
        d.allowed = false;
        d.rule = v.why === 'dns' ? d.rule : v.decision.rule;
        d.error = v.why === 'dns' ? `${d.host}: ${v.err.code ?? v.err.message}` : v.reason;
        d.pending = [];
        return;
      }
      d.rule = v.decision.rule;
      if (v.dest.via) return this.admitVia(d, v.dest.via, v.dest.addresses[0]);
      // the first decided address (every one of them was decided)
      d.addr = normalizeAddr(v.dest.addresses[0]!);
      this.bySource.set(`${d.addr}|${d.port}`, d);
      for (const p of d.pending) this.sendTo(d, p);
      d.pending = [];
    });
  }

  /** A destination routed through an upstream chain: its datagrams go by the chain's SOCKS5 hop. */
  private admitVia(d: DestStats, via: Via, addr: string | undefined): void {
    d.chain = via.chain.name;
    this.upstream(via).then(
      (up) => {
        if (this.closed) return;
        d.up = up;
        d.addr = addr ? normalizeAddr(addr) : '';
        for (const p of d.pending) this.sendTo(d, p);
        d.pending = [];
      },
      (err: Error) => {
        d.allowed = false;
        d.error = `${hostPort(d.host, d.port)}: ${err.message}`;
        d.pending = [];
      },
    );
  }

  private upstream(via: Via): Promise<Upstream> {
    const name = via.chain.name;
    let p = this.upstreams.get(name);
    if (p) return p;
    p = (async () => {
      const hops = via.chain.hops;
      if (hops.length !== 1) throw new Error(`UDP through chain ${name} needs a single SOCKS5 hop (it has ${hops.length})`);
      const assoc = await associateUdp(hops[0]!, { timeoutMs: this.o.connectTimeoutMs ?? 10_000 });
      const sock = dgram.createSocket(net.isIPv6(assoc.relay.address) ? 'udp6' : 'udp4');
      sock.on('error', () => {});
      sock.on('message', (msg) => {
        const r = assoc.unwrap(msg);
        if (r) this.fromUpstream(name, r.host, r.port, r.payload);
      });
      assoc.control.once('close', () => {
        this.upstreams.delete(name);
        sock.close();
      });
      if (this.closed) assoc.close();
      return { assoc, sock };
    })();
    this.upstreams.set(name, p);
    p.catch(() => this.upstreams.delete(name));
    return p;
  }

  /** A reply that came back through a chain: to the client, from the destination it names. */
  private fromUpstream(chain: string, host: string, port: number, payload: Buffer): void {
    if (this.closed) return;
    const from = normalizeAddr(host);
    let d: DestStats | undefined;
    for (const x of this.dests.values()) {
      if (x.chain === chain && x.port === port && x.up && (x.addr === from || x.addr === '')) {
        d = x;
        if (x.addr === from) break;
      }
    }
    if (!d) {
      this.dropped++;
      return;
    }
    d.packetsDown++;
    d.bytesDown += payload.length;
    this.touch();
    this.sock!.send([udpHeader(from, port), payload], this.clientUdpPort, this.o.clientAddr);
  }

  private sendTo(d: DestStats, data: Buffer): void {
    if (d.up) {
      const { assoc, sock } = d.up;
      return void sock.send(assoc.wrap({ host: d.addr || d.host, port: d.port }, data), assoc.relay.port, assoc.relay.address);
    }
    this.send(data, d.port, d.addr!);
  }

  /** Sends to a destination through the socket of its address family. */
  private send(data: Buffer, port: number, addr: string): void {
    const v6 = net.isIPv6(addr);
    if (v6 === this.v6) return this.sock!.send(data, port, addr);
    if (!this.other) {
      const s = (this.other = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 }));
      s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
      s.on('error', () => this.close());
      s.bind(0);
    }
    this.other.send(data, port, addr);
  }

  /** Ends the association: closes the socket and writes one log row per destination. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idle) clearTimeout(this.idle);
    for (const s of [this.sock, this.other]) {
      try {
        s?.close();
      } catch {
        // already closed
      }
    }
    for (const p of this.upstreams.values()) p.then((u) => u.assoc.close(), () => {});
    const base = this.o.base;
    if (this.dests.size === 0) {
      const rec = this.o.recorder.open({ ...base, method: 'UDP', status: 0 });
      rec.complete({ error: this.dropped ? `no datagram was relayed; ${this.dropped} dropped` : 'no datagram was relayed' });
      return;
    }
    for (const d of this.dests.values()) {
      const rec = this.o.recorder.open({
        ...base,
        method: 'UDP',
        host: d.host,
        port: d.port,
        url: `udp://${hostPort(d.host, d.port)}`,
        rule: d.rule,
        allowed: d.allowed,
        chain: d.chain,
        status: d.allowed && !d.error ? 0 : 2,
      }, d.start);
      rec.complete({
        bytesUp: d.bytesUp,
        bytesDown: d.bytesDown,
        packetsUp: d.packetsUp,
        packetsDown: d.packetsDown,
        error: d.error,
      });
    }
  }
}
