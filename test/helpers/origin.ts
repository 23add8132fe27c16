/**
 * Loopback origin servers for tests: HTTP and HTTPS (a self-signed certificate
 * made with openssl for 127.0.0.1), with a few routes that echo what arrived.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  bodyLength: number;
  bodySha: string;
}

export interface Origin {
  port: number;
  url: string;
  seen: Seen[];
  connections: number;
  close(): Promise<void>;
}

/** Routes: /hello, /echo (body hash back), /big?mb=N (streamed zeros), /status/N, /slow (never answers), /ws (upgrade echo), /early-hints */
function handler(seen: Seen[]) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const hash = createHash('sha256');
    let len = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      len += c.length;
    });
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyLength: len, bodySha: hash.digest('hex') };
      seen.push(s);
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/slow') return; // never answers
      if (u.pathname === '/big') {
        const total = Number(u.searchParams.get('mb') ?? '1') * 1024 * 1024;
        const chunk = Buffer.alloc(64 * 1024, 97);
        res.writeHead(200, u.searchParams.has('chunked') ? {} : { 'Content-Length': total });
        let sent = 0;
        const pump = () => {
          while (sent < total) {
            const n = Math.min(chunk.length, total - sent);
            sent += n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      if (u.pathname.startsWith('/status/')) {
        res.writeHead(Number(u.pathname.slice(8)), { 'Content-Type': 'text/plain' });
        return res.end(req.method === 'HEAD' ? undefined : 'status');
      }
      if (u.pathname === '/early-hints') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return res.end('after hints');
      }
      res.writeHead(200, {
        'Content-Type': 'application/json',
        Connection: 'keep-alive, X-Origin-Secret',
        'X-Origin-Secret': 'hop',
      });
      res.end(JSON.stringify({ path: req.url, method: req.method, bodyLength: len, bodySha: s.bodySha }));
    });
  };
}

function track(server: net.Server, origin: { connections: number }) {
  server.on('connection', () => origin.connections++);
}

function onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer) {
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  if (head.length) socket.write(head);
  socket.pipe(socket); // echo
}

export async function startHttpOrigin(): Promise<Origin> {
  const seen: Seen[] = [];
  const server = http.createServer(handler(seen));
  server.on('upgrade', onUpgrade);
  const origin: Origin = { port: 0, url: '', seen, connections: 0, close: () => closeServer(server) };
  track(server, origin);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin.port = (server.address() as AddressInfo).port;
  origin.url = `http://127.0.0.1:${origin.port}`;
  return origin;
}

let certCache: { key: Buffer; cert: Buffer } | null = null;
export function selfSignedCert(): { key: Buffer; cert: Buffer } {
  if (certCache) return certCache;
  const dir = mkdtempSync(join(tmpdir(), 'gh-cert-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  certCache = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  rmSync(dir, { recursive: true, force: true });
  return certCache;
}

export async function startHttpsOrigin(): Promise<Origin & { cert: Buffer }> {
  const seen: Seen[] = [];
  const { key, cert } = selfSignedCert();
  const server = https.createServer({ key, cert }, handler(seen));
  const origin = { port: 0, url: '', seen, connections: 0, cert, close: () => closeServer(server) };
  track(server, origin);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin.port = (server.address() as AddressInfo).port;
  origin.url = `https://127.0.0.1:${origin.port}`;
  return origin;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as http.Server).closeAllConnections?.();
  });
}

/** A TCP server that accepts and then says nothing (for timeouts). */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A port nobody listens on. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
