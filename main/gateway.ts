/**
 * Composes the proxy services from settings and owns their lifecycle:
 * start(), stop(graceMs) and apply(settings), which restarts only the
 * services whose listening settings changed and hands new limits to the rest.
 * Sharing off means no proxy socket is open at all.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceStatus, Settings } from './contract/index.js';
import { GatehouseError } from './contract/index.js';
import { createHttpProxy, type HttpProxy, type HttpProxyLimits } from './engines/http/proxy.js';
import { hostPort } from './net/addresses.js';
import type { Policy } from './policy/policy.js';
import type { Recorder } from './recorder.js';
import type { Logger } from './logger.js';

export interface GatewayDeps {
  policy: Policy;
  recorder: Recorder;
  logger: Logger;
}

function httpLimits(s: Settings): HttpProxyLimits {
  return {
    headerTimeoutMs: s['http.headerTimeout'] * 1000,
    idleTimeoutMs: s['http.idleTimeout'] * 1000,
    connectTimeoutMs: s['http.connectTimeout'] * 1000,
    responseTimeoutMs: s['http.responseTimeout'] * 1000,
    maxHeaderSize: s['http.maxHeaderSize'],
    maxUrlLength: s['http.maxUrlLength'],
  };
}

/** What a running HTTP service was started with; a change here means a restart. */
function httpListenKey(s: Settings): string {
  return JSON.stringify([s.listen, s['http.port'], s['http.maxHeaderSize'], s['http.headerTimeout'] < 2]);
}

function listenHost(addr: string): string | undefined {
  return addr === '*' ? undefined : addr;
}

async function listenOn(server: http.Server, host: string | undefined, port: number): Promise<void> {
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

class HttpService {
  private servers: http.Server[] = [];
  private proxy: HttpProxy | null = null;
  state: ServiceStatus['state'] = 'stopped';
  error: string | null = null;
  key = '';
  port: number | null = null;

  constructor(private readonly deps: GatewayDeps) {}

  addresses(): string[] {
    return this.servers.map((s) => {
      const a = s.address() as AddressInfo | null;
      return a ? hostPort(a.address, a.port) : '';
    }).filter(Boolean);
  }

  async start(s: Settings): Promise<void> {
    this.state = 'starting';
    this.error = null;
    this.key = httpListenKey(s);
    const proxy = createHttpProxy({
      policy: this.deps.policy,
      recorder: this.deps.recorder,
      limits: httpLimits(s),
      ownPorts: () => (this.port === null ? [] : [this.port]),
    });
    this.proxy = proxy;
    let port = s['http.port'];
    try {
      for (const addr of s.listen) {
        const server = proxy.createServer();
        server.on('error', (err) => this.deps.logger.error('http server error', { err: err.message }));
        await listenOn(server, listenHost(addr), port);
        this.servers.push(server);
        port = (server.address() as AddressInfo).port; // port 0: every address gets the one picked first
      }
      this.port = port;
      this.state = 'running';
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await this.stop(0);
      this.state = 'error';
      this.error =
        e.code === 'EADDRINUSE'
          ? `port ${s['http.port']} is already in use by another program; choose another http.port`
          : e.code === 'EADDRNOTAVAIL'
            ? `an address in listen (${s.listen.join(', ')}) does not belong to this PC`
            : e.message;
      throw new GatehouseError(e.code === 'EADDRINUSE' ? 'E_PORT_IN_USE' : 'E_UNAVAILABLE', `HTTP proxy: ${this.error}`);
    }
  }

  setLimits(s: Settings): void {
    this.proxy?.setLimits(httpLimits(s));
  }

  /** Stops accepting, lets in-flight requests finish for up to graceMs, then cuts the rest. */
  async stop(graceMs: number): Promise<void> {
    const servers = this.servers;
    this.servers = [];
    const proxy = this.proxy;
    this.proxy = null;
    this.port = null;
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              server.closeAllConnections();
              proxy?.destroyAll();
            }, graceMs);
            server.close(() => {
              clearTimeout(timer);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
    proxy?.destroyAll();
    if (this.state !== 'error') this.state = 'stopped';
  }
}

export class Gateway {
  private readonly http: HttpService;
  private settings: Settings | null = null;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: GatewayDeps) {
    this.http = new HttpService(deps);
  }

  /** Applies settings: starts, stops or restarts services as needed. Calls are serialized. */
  apply(settings: Settings): Promise<void> {
    const run = this.queue.then(() => this.applyNow(settings));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(s: Settings): Promise<void> {
    this.settings = s;
    const want = s['sharing.enabled'];
    const running = this.http.state === 'running';
    if (!want) {
      if (running || this.http.state === 'error') {
        await this.http.stop(2000);
        this.http.state = 'stopped';
        this.http.error = null;
      }
      return;
    }
    if (running && this.http.key === httpListenKey(s)) {
      this.http.setLimits(s);
      return;
    }
    if (running) await this.http.stop(2000);
    await this.http.start(s);
    this.deps.logger.info('http proxy listening', { addresses: this.http.addresses() });
  }

  status(): ServiceStatus[] {
    return [
      {
        name: 'http',
        label: 'HTTP/HTTPS proxy',
        state: this.http.state,
        addresses: this.http.addresses(),
        port: this.http.port,
        error: this.http.error,
      },
    ];
  }

  async stop(graceMs = 3000): Promise<void> {
    await this.queue;
    await this.http.stop(graceMs);
  }
}
