/**
 * Helpers for end-to-end tests on real sockets: start the real gateway
 * (`node dist/gatehouse.js serve --json`) in a fresh data directory and read
 * its ready line, run a loopback origin server, send a request through the
 * proxy, and check that a port refuses connections. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ReadyLine {
  event: 'ready';
  http: string | null;
  socks: string | null;
  admin: string;
  adminUrl: string;
  [k: string]: unknown;
}

export interface Gateway {
  ready: ReadyLine;
  /** every stdout/stderr line so far, for failure messages */
  output(): string;
  stop(): Promise<void>;
}

const CLI = resolve('dist/gatehouse.js');

export interface GatewayOptions {
  /** --sharing (default off: the dashboard test turns it on with the switch) */
  sharing?: 'on' | 'off';
  /** also listen for SOCKS on a free port */
  socks?: boolean;
  timeoutMs?: number;
}

export async function startGateway(opts: GatewayOptions | number = {}): Promise<Gateway> {
  const o: GatewayOptions = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? 20_000;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  if (!existsSync(resolve('app/dist/renderer/index.html'))) {
    throw new Error('app/dist/renderer/index.html is missing: run "npm run build" first');
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--json',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1',
      '--http-port',
      '0',
      // a free port in every case: 1080 may be taken on the machine running the tests
      '--socks-port',
      '0',
      '--admin-port',
      '0',
      '--sharing',
      o.sharing ?? 'off',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let exited: number | null | undefined;
  const exit = new Promise<void>((r) =>
    proc.once('exit', (code) => {
      exited = code;
      r();
    }),
  );

  const ready = await new Promise<ReadyLine>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
    let buf = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        lines.push(line);
        try {
          const msg = JSON.parse(line) as { event?: string };
          if (msg.event === 'ready') {
            clearTimeout(timer);
            resolveReady(msg as ReadyLine);
          }
        } catch {
          // not JSON: keep it for the failure message only
        }
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean).map((l) => `stderr: ${l}`)));
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`gatehouse serve exited (code ${exited}) before it was ready:\n${lines.join('\n')}`));
    });
  });

  return {
    ready,
    output: () => lines.join('\n'),
    async stop() {
      if (exited === undefined) {
        proc.kill('SIGTERM');
        const killed = await Promise.race([exit.then(() => true), delay(10_000).then(() => false)]);
        if (!killed) proc.kill('SIGKILL');
        await Promise.race([exit, delay(2_000)]);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Origin {
  port: number;
  requests: string[];
  close(): Promise<void>;
}

/** A loopback origin server that answers every GET with a short text. */
export async function startOrigin(): Promise<Origin> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const body = `hello from origin: ${req.url}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Sends an absolute-form GET (RFC 9112 §3.2.2) to the proxy, as a configured client does. */
export function getThroughProxy(proxyPort: number, url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolveGet, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'GET',
      path: url,
      headers: { host: target.host },
      agent: false,
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from the proxy within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.end();
  });
}

/** Opens a TCP connection and reports how it went: 'connected' or the error code. */
export function tryConnect(port: number, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolveTry) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolveTry('timeout');
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolveTry('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolveTry(err.code ?? err.message);
    });
  });
}
