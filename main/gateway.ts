/**
 * Composes the proxy services from settings and owns their lifecycle:
 * apply(settings) starts, stops or restarts each service as needed (a restart
 * only when its listening settings changed; new limits are handed to a running
 * service in place), and stop(graceMs) lets in-flight work finish briefly.
 * Sharing off means no proxy socket is open at all; a service that cannot
 * start means none runs (the error names the port and what to change).
 */
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { MappingData, ServiceName, ServiceStatus, Settings } from './contract/index.js';
import { GatehouseError } from './contract/index.js';
import { createHttpProxy, type HttpProxyLimits } from './engines/http/proxy.js';
import { createSocksProxy, type SocksLimits } from './engines/socks/server.js';
import { hostPort } from './net/addresses.js';
import type { Admission } from './engines/admission.js';
import { PortMaps, type MappingState } from './engines/portmap/index.js';
import type { Recorder } from './recorder.js';
import type { Logger } from './logger.js';

export interface GatewayDeps {
  /** the one admission path every service takes (source gate, sign-in, decision, lease) */
  admission: Admission;
  recorder: Recorder;
  logger: Logger;
}

export function httpLimits(s: Settings): HttpProxyLimits {
  return {
    headerTimeoutMs: s['http.headerTimeout'] * 1000,
    idleTimeoutMs: s['http.idleTimeout'] * 1000,
    connectTimeoutMs: s['http.connectTimeout'] * 1000,
    responseTimeoutMs: s['http.responseTimeout'] * 1000,
    maxHeaderSize: s['http.maxHeaderSize'],
    maxUrlLength: s['http.maxUrlLength'],
    login: s['http.login'],
  };
}

export function socksLimits(s: Settings): SocksLimits {
  return {
    handshakeTimeoutMs: s['socks.handshakeTimeout'] * 1000,
    idleTimeoutMs: s['socks.idleTimeout'] * 1000,
    bindTimeoutMs: s['socks.bindTimeout'] * 1000,
    connectTimeoutMs: s['http.connectTimeout'] * 1000,
    udp: s['socks.udp'],
    login: s['socks.login'],
  };
}

/** An engine as the gateway sees it: something that makes servers and takes new limits. */
interface Engine {
  createServer(): net.Server;
  setLimits(s: Settings): void;
  /** at a stop: close idle connections now, busy ones when their current work is done */
  closeIdle?(): void;
  destroyAll(): void;
}

interface ServiceSpec {
  name: ServiceName;
  label: string;
  port(s: Settings): number;
  portKey: string;
  /** settings that need a restart when they change */
  listenKey(s: Settings): string;
  create(s: Settings): Engine;
}

async function listenOn(server: net.Server, host: string | undefined, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

class Service {
  private servers: net.Server[] = [];
  private engine: Engine | null = null;
  state: ServiceStatus['state'] = 'stopped';
  error: string | null = null;
  key = '';
  port: number | null = null;

  constructor(
    readonly spec: ServiceSpec,
    private readonly logger: Logger,
  ) {}

  addresses(): string[] {
    return this.servers
      .map((s) => {
        const a = s.address() as AddressInfo | null;
        return a ? hostPort(a.address, a.port) : '';
      })
      .filter(Boolean);
  }

  status(): ServiceStatus {
    return { name: this.spec.name, label: this.spec.label, state: this.state, addresses: this.addresses(), port: this.port, error: this.error };
  }

  async start(s: Settings): Promise<void> {
    this.state = 'starting';
    this.error = null;
    this.key = this.spec.listenKey(s);
    const engine = this.spec.create(s);
    this.engine = engine;
    let port = this.spec.port(s);
    try {
      for (const addr of s.listen) {
        const server = engine.createServer();
        server.on('error', (err) => this.logger.error(`${this.spec.name} server error`, { err: err.message }));
        await listenOn(server, addr === '*' ? undefined : addr, port);
        this.servers.push(server);
        port = (server.address() as AddressInfo).port; // port 0: every address gets the port picked first
      }
      this.port = port;
      this.state = 'running';
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await this.stop(0);
      this.state = 'error';
      const wanted = this.spec.port(s);
      this.error =
        e.code === 'EADDRINUSE'
          ? `port ${wanted} is already in use by another program; choose another ${this.spec.portKey}`
          : e.code === 'EADDRNOTAVAIL'
            ? `an address in listen (${s.listen.join(', ')}) does not belong to this PC`
            : e.code === 'EACCES'
              ? `port ${wanted} needs administrator rights; choose a port above 1023 for ${this.spec.portKey}`
              : e.message;
      throw new GatehouseError(e.code === 'EADDRINUSE' ? 'E_PORT_IN_USE' : 'E_UNAVAILABLE', `${this.spec.label}: ${this.error}`);
    }
  }

  setLimits(s: Settings): void {
    this.engine?.setLimits(s);
  }

  /** Stops accepting, lets in-flight work finish for up to graceMs, then cuts the rest. */
  async stop(graceMs: number): Promise<void> {
    const servers = this.servers;
    this.servers = [];
    const engine = this.engine;
    this.engine = null;
    this.port = null;
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              engine?.destroyAll();
            }, graceMs);
            server.close(() => {
              clearTimeout(timer);
              resolve();
            });
            engine?.closeIdle?.();
          }),
      ),
    );
    engine?.destroyAll();
    if (this.state !== 'error') this.state = 'stopped';
  }
}

export class Gateway {
  private readonly services: Service[];
  private queue: Promise<void> = Promise.resolve();
  private readonly portMaps: PortMaps;
  private mappings: readonly MappingData[] = [];
  /** where the proxies listen while sharing is on; null while it is off */
  private listen: readonly string[] | null = null;
  private settings: Settings | null = null;

  constructor(private readonly deps: GatewayDeps) {
    this.portMaps = new PortMaps({
      admission: deps.admission,
      recorder: deps.recorder,
      logger: deps.logger.child('portmap'),
      limits: () => ({ connectTimeoutMs: (this.settings?.['http.connectTimeout'] ?? 30) * 1000, idleTimeoutMs: (this.settings?.['socks.idleTimeout'] ?? 300) * 1000 }),
    });
    const specs: ServiceSpec[] = [
      {
        name: 'http',
        label: 'HTTP/HTTPS proxy',
        port: (s) => s['http.port'],
        portKey: 'http.port',
        listenKey: (s) => JSON.stringify([s.listen, s['http.port']]),
        create: (s) => {
          const p = createHttpProxy({ admission: deps.admission, recorder: deps.recorder, limits: httpLimits(s) });
          return { createServer: () => p.createServer(), setLimits: (x) => p.setLimits(httpLimits(x)), closeIdle: () => p.closeIdle(), destroyAll: () => p.destroyAll() };
        },
      },
      {
        name: 'socks',
        label: 'SOCKS4/5 proxy',
        port: (s) => s['socks.port'],
        portKey: 'socks.port',
        listenKey: (s) => JSON.stringify([s.listen, s['socks.port']]),
        create: (s) => {
          const p = createSocksProxy({ admission: deps.admission, recorder: deps.recorder, limits: socksLimits(s), logger: deps.logger.child('socks') });
          return { createServer: () => p.createServer(), setLimits: (x) => p.setLimits(socksLimits(x)), destroyAll: () => p.destroyAll() };
        },
      },
    ];
    this.services = specs.map((spec) => new Service(spec, deps.logger));
  }

  /** A port one of the proxies listens on (asked per request: no arrays or closures made). */
  isOwnPort(port: number): boolean {
    for (const s of this.services) if (s.port === port) return true;
    return this.portMaps.isOwnPort(port);
  }

  /** Puts the port mappings in force (they listen while sharing is on). */
  setMappings(list: readonly MappingData[]): Promise<void> {
    this.mappings = list;
    const run = this.queue.then(() => this.portMaps.set(this.mappings, this.listen));
    this.queue = run.catch(() => {});
    return run;
  }

  mappingState(id: number): MappingState {
    return this.portMaps.state(id);
  }

  mappingCounts(): { running: number; errors: number } {
    return this.portMaps.counts();
  }

  /** Applies settings: starts, stops or restarts services as needed. Calls are serialized. */
  apply(settings: Settings): Promise<void> {
    const run = this.queue.then(() => this.applyNow(settings));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(s: Settings): Promise<void> {
    const want = s['sharing.enabled'];
    this.settings = s;
    const errors: GatehouseError[] = [];
    for (const svc of this.services) {
      if (!want) {
        if (svc.state !== 'stopped') {
          await svc.stop(2000);
          svc.state = 'stopped';
          svc.error = null;
        }
        continue;
      }
      if (svc.state === 'running' && svc.key === svc.spec.listenKey(s)) {
        svc.setLimits(s);
        continue;
      }
      if (svc.state === 'running') await svc.stop(2000);
      try {
        await svc.start(s);
        this.deps.logger.info(`${svc.spec.name} proxy listening`, { addresses: svc.addresses() });
      } catch (err) {
        errors.push(GatehouseError.from(err));
      }
    }
    if (errors.length) {
      // all or nothing: one service that cannot listen leaves none running (no half-started gateway)
      for (const svc of this.services) if (svc.state === 'running') await svc.stop(0);
      this.listen = null;
      await this.portMaps.set(this.mappings, null);
      throw new GatehouseError(errors[0]!.code, errors.map((e) => e.message).join('; '));
    }
    // a mapping that cannot listen shows its own error; the proxies run
    this.listen = want ? s.listen : null;
    await this.portMaps.set(this.mappings, this.listen);
  }

  status(): ServiceStatus[] {
    return this.services.map((s) => s.status());
  }

  async stop(graceMs = 3000): Promise<void> {
    await this.queue;
    await Promise.all([...this.services.map((s) => s.stop(graceMs)), this.portMaps.stop()]);
  }
}
