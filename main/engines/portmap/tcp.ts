/**
 * A TCP port mapping (3proxy's tcppm, WinGate's mapped link): every
 * connection accepted on the mapping's port is relayed to its one fixed
 * destination. It takes the same admission path as the proxies (source gate,
 * rules that may name the mapping, limits, the route through an upstream
 * chain) and is logged as one row per connection: client, destination, bytes
 * both ways, duration, rule.
 */
import net from 'node:net';
import type { Admission } from '../admission.js';
import type { Recorder } from '../../recorder.js';
import { hostPort, normalizeAddr } from '../../net/addresses.js';
import { dial } from '../../net/dialer.js';
import { fastReader, relay } from '../../net/relay.js';
import { dialOutcome } from '../outcomes.js';

export interface MapTarget {
  /** the mapping's name: rules and routes name it as service "mapping:NAME" */
  name: string;
  host: string;
  port: number;
}

export interface PortMapLimits {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface TcpMapDeps {
  admission: Admission;
  recorder: Recorder;
  limits(): PortMapLimits;
}

/** The connections of one running mapping (ended together when it stops). */
export class TcpMap {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly deps: TcpMapDeps,
    readonly target: MapTarget,
  ) {}

  createServer(): net.Server {
    return net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    const { admission, recorder } = this.deps;
    if (!admission.gate(socket, 'mapping')) return;
    const { name, host, port } = this.target;
    const clientAddr = normalizeAddr(socket.remoteAddress);
    const target = hostPort(host, port);
    const rec = recorder.open({ service: 'mapping', mapping: name, clientAddr, clientPort: socket.remotePort ?? 0, method: 'TCP', host, port, url: target });
    const end = () => socket.destroy();
    this.open.add(end);
    rec.onKill(socket);
    let gone = false;
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      gone = true;
      this.open.delete(end);
    });
    admission.decide({ service: 'mapping', mapping: name, clientAddr, host, port, method: 'TCP' }, rec, (v) => {
      if (!v.ok || gone) {
        if (v.ok) v.lease?.release();
        socket.destroy();
        return rec.complete();
      }
      const lease = v.lease;
      const limits = this.deps.limits();
      // a throttled or chained connection relays through streams; otherwise reads go straight from pooled buffers
      const reader = lease?.up || lease?.down || v.dest.via ? undefined : fastReader();
      dial(v.dest, { timeoutMs: limits.connectTimeoutMs, reader, onWay: (way) => rec.set({ chain: way }) }).then(
        (up) => {
          if (socket.destroyed) {
            up.destroy();
            lease?.release();
            return rec.complete();
          }
          const kill = relay(socket, up, { idleTimeoutMs: limits.idleTimeoutMs, bReader: reader, up: lease?.up, down: lease?.down }, () => {
            this.open.delete(kill);
            lease?.release();
            rec.complete({ bytesUp: up.bytesWritten, bytesDown: reader ? reader.bytes : up.bytesRead });
          });
          this.open.delete(end);
          this.open.add(kill);
        },
        (err: NodeJS.ErrnoException) => {
          lease?.release();
          socket.destroy();
          rec.complete({ error: dialOutcome(err, target).detail });
        },
      );
    });
  }

  /** Ends every connection of this mapping now. */
  destroyAll(): void {
    for (const end of [...this.open]) end();
    this.open.clear();
  }
}
