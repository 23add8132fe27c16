/**
 * Real upstream proxies for tests, each on 127.0.0.1 at a free port with a
 * `close()`: Squid (HTTP CONNECT, optionally Basic sign-in), microsocks (SOCKS5,
 * optionally username/password), Dante (SOCKS5 without sign-in, CONNECT and UDP
 * ASSOCIATE), and a small in-process SOCKS4/4a server that reads requests with
 * Gatehouse's own parser. Also destinations: a TCP echo server that can speak
 * first, and a port that answers nothing.
 *
 * Daemons run in the foreground as children of the test process; every one
 * started is killed on close(), and at the latest when the process exits.
 * Debian packages: squid, microsocks, dante-server (and openssl for Squid's
 * password file).
 */
import net from 'node:net';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseRequest4, reply4, SOCKS4_GRANTED, SOCKS4_REJECTED } from '../../main/engines/socks/protocol.js';

export const SQUID = '/usr/sbin/squid';
export const SQUID_BASIC_AUTH = '/usr/lib/squid/basic_ncsa_auth';
export const MICROSOCKS = '/usr/bin/microsocks';
export const DANTED = '/usr/sbin/danted';

export interface Upstream {
  host: string;
  port: number;
  /** ms from spawn to the port accepting */
  startupMs: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child still running, killed when the test process exits (a test that failed before close()). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** A port nobody listens on right now (the daemon is told it; a race with another binder is retried). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface Daemon {
  child: ChildProcess;
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

function spawnDaemon(cmd: string, args: string[]): Daemon {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      r();
    }),
  );
  child.once('error', (err) => {
    out += `\nspawn failed: ${err.message}`;
    exited = true;
    running.delete(child);
  });
  return {
    child,
    output: () => out,
    exited: () => exited,
    async stop() {
      if (exited || child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(t);
    },
  };
}

/** Waits (bounded) until the port accepts; false if the daemon exited first or time ran out. */
async function waitForPort(port: number, d: Daemon, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (d.exited()) return false;
    if (await canConnect(port)) return true;
    await sleep(20);
  }
  return false;
}

/**
 * Starts a daemon on a free port: `make(port)` gives its command line; retried on another
 * port (up to 3 times) if it exits before its port accepts.
 */
async function startOnFreePort(name: string, make: (port: number) => { cmd: string; args: string[]; log?: () => string }, cleanup: () => void = () => {}): Promise<Upstream> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const { cmd, args, log } = make(port);
    const t0 = Date.now();
    const d = spawnDaemon(cmd, args);
    if (await waitForPort(port, d, 15000)) {
      return {
        host: '127.0.0.1',
        port,
        startupMs: Date.now() - t0,
        close: async () => {
          await d.stop();
          cleanup();
        },
      };
    }
    await d.stop();
    last = `${d.output()}\n${log?.() ?? ''}`.trim().slice(-2000);
  }
  cleanup();
  throw new Error(`${name} did not start:\n${last}`);
}

/** Whether a binary is here (tests that need it skip with the reason otherwise). */
export function have(path: string): boolean {
  return existsSync(path);
}

// ---------------------------------------------------------------------------------------------

/**
 * Squid as an HTTP CONNECT proxy (Debian package `squid`), in the foreground (-N) with a
 * generated config in a temp dir: no disk cache, logs and pid file in the temp dir, CONNECT
 * allowed to any port (`connectOnly443`: to 443 only, as Squid's default), and with `auth` Basic sign-in checked by basic_ncsa_auth against an
 * APR1 password file made by `openssl passwd -apr1`. As root it drops to the `proxy` user.
 * Starts in about 0.1–0.5 s.
 */
export async function startSquid(opts: { auth?: { user: string; pass: string }; connectOnly443?: boolean } = {}): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-squid-'));
  // squid (as `proxy` after dropping root) writes its logs here, and its helper reads the password file
  chmodSync(dir, 0o777);
  const lines = [
    'pid_filename ' + join(dir, 'squid.pid'),
    'cache_log ' + join(dir, 'cache.log'),
    'access_log stdio:' + join(dir, 'access.log'),
    'coredump_dir ' + dir,
    'netdb_filename none',
    'cache deny all',
    'cache_mem 8 MB',
    'pinger_enable off',
    'shutdown_lifetime 0 seconds',
    'acl CONNECT method CONNECT',
  ];
  // as Squid's own default configuration: tunnels to port 443 only
  if (opts.connectOnly443) lines.push('acl SSL_ports port 443', 'http_access deny CONNECT !SSL_ports');
  if (process.getuid?.() === 0) lines.push('cache_effective_user proxy');
  if (opts.auth) {
    const hash = execFileSync('openssl', ['passwd', '-apr1', '-stdin'], { input: `${opts.auth.pass}\n` }).toString().trim();
    const pwFile = join(dir, 'passwd');
    writeFileSync(pwFile, `${opts.auth.user}:${hash}\n`, { mode: 0o644 });
    lines.push(
      `auth_param basic program ${SQUID_BASIC_AUTH} ${pwFile}`,
      'auth_param basic children 2 startup=1',
      'auth_param basic realm gatehouse-test',
      'acl signed_in proxy_auth REQUIRED',
      'http_access allow localhost signed_in',
    );
  } else {
    lines.push('http_access allow localhost');
  }
  lines.push('http_access deny all');
  return startOnFreePort(
    'squid',
    (port) => {
      const conf = join(dir, 'squid.conf');
      writeFileSync(conf, [`http_port 127.0.0.1:${port}`, ...lines, ''].join('\n'), { mode: 0o644 });
      return { cmd: SQUID, args: ['-N', '-f', conf], log: () => (existsSync(join(dir, 'cache.log')) ? readFileSync(join(dir, 'cache.log'), 'utf8') : '') };
    },
    () => rmSync(dir, { recursive: true, force: true }),
  );
}

/** microsocks (Debian package `microsocks`): SOCKS5, with -u/-P it requires RFC 1929 sign-in. Starts in a few ms. */
export async function startMicrosocks(opts: { user?: string; pass?: string } = {}): Promise<Upstream> {
  return startOnFreePort('microsocks', (port) => ({
    cmd: MICROSOCKS,
    args: ['-i', '127.0.0.1', '-p', String(port), ...(opts.user ? ['-u', opts.user, '-P', opts.pass ?? ''] : [])],
  }));
}

/**
 * Dante (Debian package `dante-server`): SOCKS5 without sign-in (its username method checks
 * system accounts, which a test does not create), CONNECT, BIND and UDP ASSOCIATE from and to
 * loopback. Runs in the foreground with one process set (-N 1); as root it drops to `nobody`.
 */
export async function startDante(): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-dante-'));
  chmodSync(dir, 0o777);
  const log = join(dir, 'danted.log');
  return startOnFreePort(
    'danted',
    (port) => {
      const conf = join(dir, 'danted.conf');
      const lines = [
        `logoutput: ${log}`,
        `internal: 127.0.0.1 port = ${port}`,
        'external: 127.0.0.1',
        'socksmethod: none',
        'clientmethod: none',
        ...(process.getuid?.() === 0 ? ['user.privileged: root', 'user.unprivileged: nobody'] : []),
        'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
        'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect bind udpassociate bindreply udpreply }',
        '',
      ];
      writeFileSync(conf, lines.join('\n'), { mode: 0o644 });
      return { cmd: DANTED, args: ['-f', conf, '-p', join(dir, 'danted.pid'), '-N', '1'], log: () => (existsSync(log) ? readFileSync(log, 'utf8') : '') };
    },
    () => rmSync(dir, { recursive: true, force: true }),
  );
}

// ---------------------------------------------------------------------------------------------

export interface Socks4Server extends Upstream {
  /** the USERID of each request, in order */
  userIds: string[];
  /** the destination of each request as the client named it */
  requests: Array<{ host: string; port: number; is4a: boolean }>;
}

/**
 * A small SOCKS4/4a CONNECT server in this process (a real socket server): it reads the request
 * with Gatehouse's own parser (main/engines/socks/protocol.ts), connects, replies 90 or 91, and
 * relays both ways with half-close.
 */
export async function startSocks4Server(): Promise<Socks4Server> {
  const sockets = new Set<net.Socket>();
  const userIds: string[] = [];
  const requests: Socks4Server['requests'] = [];
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const r = parseRequest4(buf);
      if (r.kind === 'more') return;
      client.removeListener('data', onData);
      client.pause();
      if (r.kind === 'error') return void client.end(reply4(SOCKS4_REJECTED));
      userIds.push(r.msg.userId);
      requests.push({ host: r.msg.dst.host, port: r.msg.dst.port, is4a: r.msg.is4a });
      const up = net.connect({ host: r.msg.dst.host, port: r.msg.dst.port, allowHalfOpen: true });
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      let connected = false;
      up.once('error', () => {
        if (connected) client.destroy();
        else client.end(reply4(SOCKS4_REJECTED));
        up.destroy();
      });
      up.once('connect', () => {
        connected = true;
        client.write(reply4(SOCKS4_GRANTED, '0.0.0.0', 0));
        if (r.rest.length) up.write(r.rest);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    client.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    startupMs: 0,
    userIds,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface EchoServer {
  port: number;
  /** connections accepted so far */
  connections: number;
  close(): Promise<void>;
}

/**
 * A TCP destination: sends `greeting` first (if any), then echoes every byte back and ends
 * its side when the client ends (half-close: the echo of the last bytes still goes out).
 */
export async function startEchoServer(opts: { greeting?: Buffer; host?: string } = {}): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    if (opts.greeting) s.write(opts.greeting);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, opts.host ?? '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
