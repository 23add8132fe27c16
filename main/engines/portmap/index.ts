/**
 * The running port mappings: `set(list, listen)` starts, stops or moves each
 * mapping's listeners to match the saved list, leaving the others (and their
 * connections) alone. A mapping that cannot listen (its port taken by another
 * program, an address that is not this PC's) shows its error and the rest
 * run; with sharing off (`listen` null) none listens.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseHostPort, type MappingData } from '../../contract/index.js';
import type { Logger } from '../../logger.js';
import { hostPort } from '../../net/addresses.js';
import { TcpMap, type TcpMapDeps } from './tcp.js';
import { UdpMap, type UdpMapOptions } from './udp.js';

export interface PortMapsDeps extends TcpMapDeps {
  logger: Logger;
  udp?: UdpMapOptions;
}

export interface MappingState {
  state: 'stopped' | 'running' | 'error';
  error: string | null;
  addresses: string[];
}

interface Running {
  key: string;
  proto: 'tcp' | 'udp';
  port: number;
  tcp: TcpMap | null;
  servers: net.Server[];
  udp: UdpMap | null;
  addresses: string[];
}

const STOPPED: MappingState = Object.freeze({ state: 'stopped', error: null, addresses: [] }) as MappingState;

function listenError(e: NodeJS.ErrnoException, m: MappingData, hosts: readonly string[]): string {
  if (e.code === 'EADDRINUSE') return `port ${m.port}/${m.proto} is already in use by another program; choose another port for mapping "${m.name}"`;
  if (e.code === 'EADDRNOTAVAIL') return `an address to listen on (${hosts.join(', ')}) does not belong to this PC`;
  if (e.code === 'EACCES') return `port ${m.port} needs administrator rights; choose a port above 1023 for mapping "${m.name}"`;
  return e.message;
}

export class PortMaps {
  private readonly running = new Map<number, Running>();
  private readonly errors = new Map<number, string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: PortMapsDeps) {}

  /** Puts the list in force; `listen`: the proxies' listen addresses, or null when sharing is off. Calls are serialized. */
  set(list: readonly MappingData[], listen: readonly string[] | null): Promise<void> {
    const run = this.queue.then(() => this.reconcile(list, listen));
    this.queue = run.catch(() => {});
    return run;
  }

  private async reconcile(list: readonly MappingData[], listen: readonly string[] | null): Promise<void> {
    const wanted = new Map<number, { m: MappingData; hosts: string[]; key: string }>();
    if (listen) {
      for (const m of list) {
        if (!m.enabled) continue;
        const hosts = m.listen ? [m.listen] : [...listen];
        wanted.set(m.id, { m, hosts, key: JSON.stringify([m.name, m.proto, m.port, m.to, hosts]) });
      }
    }
    for (const [id, r] of this.running) {
      if (wanted.get(id)?.key !== r.key) await this.stopOne(id);
    }
    for (const id of [...this.errors.keys()]) if (!wanted.has(id)) this.errors.delete(id);
    for (const [id, w] of wanted) {
      if (this.running.has(id)) continue;
      try {
        await this.startOne(w.m, w.hosts, w.key);
        this.errors.delete(id);
        this.deps.logger.info(`port mapping "${w.m.name}" listening`, { addresses: this.running.get(id)?.addresses, to: w.m.to });
      } catch (err) {
        const msg = listenError(err as NodeJS.ErrnoException, w.m, w.hosts);
        this.errors.set(id, msg);
        this.deps.logger.error(`port mapping "${w.m.name}": ${msg}`);
      }
    }
  }

  private async startOne(m: MappingData, hosts: readonly string[], key: string): Promise<void> {
    const to = parseHostPort(m.to, `mapping "${m.name}": the destination`);
    const target = { name: m.name, host: to.host, port: to.port };
    const r: Running = { key, proto: m.proto, port: m.port, tcp: null, servers: [], udp: null, addresses: [] };
    try {
      if (m.proto === 'tcp') {
        r.tcp = new TcpMap(this.deps, target);
        for (const h of hosts) {
          const server = r.tcp.createServer();
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen({ host: h === '*' ? undefined : h, port: m.port, exclusive: true }, () => {
              server.removeListener('error', reject);
              resolve();
            });
          });
          server.on('error', (err) => this.deps.logger.error(`port mapping "${m.name}" server error`, { err: err.message }));
          r.servers.push(server);
          const a = server.address() as AddressInfo;
          r.addresses.push(hostPort(a.address, a.port));
        }
      } else {
        r.udp = new UdpMap(this.deps, target, this.deps.udp);
        for (const h of hosts) {
          const sock = await r.udp.listen(h === '*' ? undefined : h, m.port);
          const a = sock.address();
          r.addresses.push(hostPort(a.address, a.port));
        }
      }
    } catch (err) {
      await this.close(r);
      throw err;
    }
    this.running.set(m.id, r);
  }

  private async stopOne(id: number): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    await this.close(r);
  }

  private async close(r: Running): Promise<void> {
    r.tcp?.destroyAll();
    r.udp?.close();
    await Promise.all(r.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  state(id: number): MappingState {
    const err = this.errors.get(id);
    if (err) return { state: 'error', error: err, addresses: [] };
    const r = this.running.get(id);
    return r ? { state: 'running', error: null, addresses: [...r.addresses] } : STOPPED;
  }

  /** a TCP port a mapping listens on (the proxies never connect to it: loops) */
  isOwnPort(port: number): boolean {
    for (const r of this.running.values()) if (r.port === port) return true;
    return false;
  }

  /** how many mappings run, and how many have an error */
  counts(): { running: number; errors: number } {
    return { running: this.running.size, errors: this.errors.size };
  }

  async stop(): Promise<void> {
    await this.queue;
    for (const id of [...this.running.keys()]) await this.stopOne(id);
    this.errors.clear();
  }
}
