/**
 * A real Gatehouse for the renderer store's tests, and the renderer's own way
 * of reaching it. The runtime (main/runtime.ts) starts in this process on a
 * temp data directory, loopback only, every port 0, the web admin on; a store
 * talks to that admin through the web transport of the renderer
 * (renderer/api/transport.ts: fetch for calls, EventSource for events),
 * signed in with the admin cookie the way a browser is after opening the
 * admin link. Nothing of the service is replaced:
 *  - the admin is reached through a TCP relay the test can take down (the
 *    gateway unreachable, the event stream dropped) and bring back;
 *  - the transport is wrapped only to record calls and to hold one method's
 *    calls before they are sent (an action in flight, for spinners);
 *  - log rows, counters and open connections come from real requests through
 *    the HTTP proxy to a loopback origin (test/helpers/origin.ts).
 * Owns the runtime, the relay, the origin, every EventSource and held request
 * it made; close() ends them all and removes the data directory.
 */
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createClient } from '../../main/contract/client.js';
import type { GatehouseEvent, LogRow, Result, Settings } from '../../main/contract/index.js';
import { silentLogger } from '../../main/logger.js';
import { startRuntime, type Runtime } from '../../main/runtime.js';
import type { Api } from '../../renderer/api/client.js';
import { createHttpTransport, type RendererTransport } from '../../renderer/api/transport.js';
import { nodeEventSources, type NodeEventSources } from './event-source.js';
import { startHttpOrigin, type Origin } from './origin.js';

const COOKIE = 'gatehouse_admin';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns something other than undefined or false; fails after `ms`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
}

/** The value of an ok Result, or a failed assertion quoting the error. */
export async function ok<T = unknown>(p: Promise<Result<unknown>>): Promise<T> {
  const r = await p;
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.value as T;
}

/** A TCP relay on loopback in front of a port: down() refuses and cuts every connection, up() listens again on the same port. */
export class TcpRelay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: this.target });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

export interface Session {
  /** what createAppStore takes */
  api: Api;
  /** the renderer's web transport itself (unwrapped) */
  transport: RendererTransport;
  /** every call the store made, in order, with its result once answered */
  calls: Array<{ method: string; input: any; result?: Result<unknown> }>;
  callsOf(method: string): Array<{ method: string; input: any; result?: Result<unknown> }>;
  /** holds calls of `method` before they are sent, until the returned function is called */
  hold(method: string): () => void;
  /** the EventSources this session's transport opened */
  sources: NodeEventSources;
  /** the browser loses its admin cookie (cleared, or the session expired) */
  signOut(): void;
  /** records every event the transport delivers (a second subscriber on the same stream) */
  recordEvents(): { events: GatehouseEvent[]; stop(): void };
}

export interface WebGateway {
  rt: Runtime;
  dataDir: string;
  /** the relay every session reaches the web admin through */
  relay: TcpRelay;
  origin: Origin;
  /** a store's way in: signed in (the default) or not */
  session(opts?: { signedIn?: boolean }): Promise<Session>;
  /** the HTTP proxy's port now (it changes when http.port or sharing does) */
  proxyPort(): number;
  /** one GET through the HTTP proxy to the origin; resolves with the status once the answer is read */
  get(path: string, opts?: { user?: string; password?: string; agent?: http.Agent }): Promise<number>;
  /**
   * A GET through the proxy that the origin never answers (an open connection). end() only
   * closes the client's side: the gateway keeps waiting for the origin (http.responseTimeout);
   * endConnections() ends it on the gateway's side.
   */
  hold(opts?: { user?: string; password?: string }): { end(): void; done: Promise<void> };
  /** ends every open connection through the control API (connections.kill), as "Disconnect now" does */
  endConnections(): Promise<void>;
  /** the log as the service has it (newest first) */
  log(limit?: number): Promise<LogRow[]>;
  close(): Promise<void>;
}

export interface WebGatewayOptions {
  sharing?: 'on' | 'off';
  overrides?: Partial<Settings>;
  /** runs on the empty data directory before the gateway opens it (a log from an earlier run) */
  prepare?(dataDir: string): void;
}

export async function startWebGateway(opts: WebGatewayOptions = {}): Promise<WebGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-store-'));
  const origin = await startHttpOrigin();
  let rt: Runtime;
  try {
    opts.prepare?.(dataDir);
    rt = await startRuntime({
      dataDir,
      sharing: opts.sharing ?? 'on',
      admin: true,
      rendererDir: null,
      overrides: { listen: ['127.0.0.1'], 'http.port': 0, 'socks.port': 0, 'admin.listen': '127.0.0.1', 'admin.port': 0, ...opts.overrides },
      logger: silentLogger,
      logDelayMs: 20,
      watchMs: 100,
    });
  } catch (err) {
    await origin.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const relay = new TcpRelay(Number(new URL(rt.adminUrl!).port));
  await relay.up();
  const sessions: Session[] = [];
  const held = new Set<http.ClientRequest>();

  const proxyPort = () => {
    const port = rt.status().services.find((s) => s.name === 'http')?.port;
    if (!port) throw new Error('the HTTP proxy is not running (sharing is off?)');
    return port;
  };

  const proxyRequest = (path: string, o: { user?: string; password?: string; agent?: http.Agent }) => {
    const headers: http.OutgoingHttpHeaders = { Host: `127.0.0.1:${origin.port}` };
    if (o.user) headers['Proxy-Authorization'] = `Basic ${Buffer.from(`${o.user}:${o.password ?? ''}`).toString('base64')}`;
    return http.request({ host: '127.0.0.1', port: proxyPort(), path: `${origin.url}${path}`, headers, agent: o.agent ?? false });
  };

  /** Opens the admin link as a browser does: the token in the address is traded for a cookie. */
  const signIn = () =>
    new Promise<string>((resolve, reject) => {
      const req = http.get(`${relay.url}/?token=${encodeURIComponent(rt.adminToken)}`, { agent: false }, (res) => {
        res.resume();
        const set = [res.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith(`${COOKIE}=`));
        if (res.statusCode !== 303 || !set) return reject(new Error(`sign-in answered ${res.statusCode} without the admin cookie`));
        resolve(set.split(';')[0]!);
      });
      req.on('error', reject);
    });

  return {
    rt,
    dataDir,
    relay,
    origin,
    proxyPort,

    async session({ signedIn = true } = {}) {
      let cookie = signedIn ? await signIn() : '';
      const headers = (): Record<string, string> => (cookie ? { Cookie: cookie } : {});
      const sources = nodeEventSources({ headers });
      // the page's fetch, with the cookie a browser would send to its own origin
      const pageFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers() } });
      const transport = createHttpTransport({ baseUrl: relay.url, fetch: pageFetch, EventSource: sources.EventSource });
      const calls: Session['calls'] = [];
      const gates = new Map<string, Promise<void>>();
      const wrapped: RendererTransport = {
        async call(method, input) {
          const entry: Session['calls'][number] = { method, input };
          calls.push(entry);
          await gates.get(method);
          entry.result = await transport.call(method, input);
          return entry.result;
        },
        subscribe: (cb) => transport.subscribe(cb),
        onStreamState: (cb) => transport.onStreamState(cb),
      };
      const session: Session = {
        api: { client: createClient(wrapped), onStreamState: (cb) => wrapped.onStreamState(cb) },
        transport,
        calls,
        callsOf: (m) => calls.filter((c) => c.method === m),
        hold(method) {
          let release!: () => void;
          gates.set(method, new Promise<void>((r) => (release = r)));
          return () => {
            gates.delete(method);
            release();
          };
        },
        sources,
        signOut() {
          cookie = '';
        },
        recordEvents() {
          const events: GatehouseEvent[] = [];
          const stop = transport.subscribe((e) => events.push(e));
          return { events, stop };
        },
      };
      sessions.push(session);
      return session;
    },

    get(path, o = {}) {
      return new Promise<number>((resolve, reject) => {
        const req = proxyRequest(path, o);
        req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path} through the proxy within 10 s`)));
        req.on('error', reject);
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
          res.on('error', reject);
        });
        req.end();
      });
    },

    hold(o = {}) {
      const req = proxyRequest('/slow', o);
      held.add(req);
      const done = new Promise<void>((resolve) => {
        // ended by the gateway (disconnect) or by end(): either way the request is over
        req.on('error', () => resolve());
        req.on('close', () => resolve());
      }).finally(() => held.delete(req));
      req.end();
      return { end: () => req.destroy(), done };
    },

    async endConnections() {
      for (const c of await ok<Array<{ id: number }>>(rt.control.call('connections.list', {}))) await ok(rt.control.call('connections.kill', { id: c.id }));
    },

    async log(limit = 5000) {
      return ok<LogRow[]>(rt.control.call('log.recent', { limit }));
    },

    async close() {
      for (const s of sessions) s.sources.closeAll();
      for (const r of held) r.destroy();
      await relay.down();
      await rt.stop(500);
      await origin.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
