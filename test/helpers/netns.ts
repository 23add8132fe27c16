/**
 * A real LAN for tests, made of Linux network namespaces (needs root and `ip netns`).
 * Loopback addresses all belong to "this PC"; these namespaces are other machines:
 *
 *   lan  10.231.X.2/24  a LAN device            gateway side 10.231.X.1
 *   out  10.232.X.2/24  a server out there      gateway side 10.232.X.1
 *   ext  198.18.X.2/24  a client outside the    gateway side 198.18.X.1
 *                       allowed sources (RFC 2544's test range)
 *
 * Each namespace is joined to the root namespace (where the test process and the
 * in-process gateway run) by a veth pair, and routes everything via its gateway side.
 * Nothing else is enabled and no sysctl is changed: with IPv4 forwarding off (the usual
 * state, see `ipForward`) lan cannot reach out at all except through Gatehouse's proxies;
 * were it on, the tests would still hold, as they check what the proxies do.
 *
 * This module owns the namespaces it creates (names `gh<pid>-<run>-<role>`, veths
 * `gh<run><role>[p]`) and the processes it starts in them; `destroy()` removes both,
 * and a later run removes what a crashed run left behind (its pid no longer alive).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

export type Role = 'lan' | 'out' | 'ext';
const ROLES: readonly Role[] = ['lan', 'out', 'ext'];
const FIRST_OCTETS: Record<Role, string> = { lan: '10.231', out: '10.232', ext: '198.18' };

/** `gh<pid>-<run>-<role>`: the pid tells a later run whether the run that made it is gone */
const NS_NAME = /^gh(\d+)-([0-9a-f]{6})-(lan|out|ext)$/;
/** root-side veth ends: `gh<run><l|o|e>`; peers (`…p`) live in the namespace */
const VETH_NAME = /^gh([0-9a-f]{6})[loe]p?$/;

export interface ExecResult {
  /** exit code; -1 when killed (timeout or signal) */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ExecOptions {
  /** kill the command after this long (default 15 s) */
  timeoutMs?: number;
  input?: string;
}

/** A process started in a namespace; its stdout arrives line by line in `lines`. */
export interface NsProcess {
  ns: string;
  pid: number;
  lines: string[];
  stderr(): string;
  /** resolves with the first line (already seen or to come) that matches, bounded */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The HTTP origin in `out`: one server per port, each accept reported as a line "accept <port>". */
export interface NsOrigin extends NsProcess {
  host: string;
  ports: number[];
  /** connections accepted on `port` so far (call `fence()` first for an exact count) */
  connections(port: number): number;
  /**
   * Makes sure every accept that happened before now has been counted: a request from the
   * test process straight to the origin's control port (not counted), whose line comes
   * after all earlier ones.
   */
  fence(): Promise<void>;
}

/** A SOCKS5 exchange seen from a client in a namespace. */
export interface Socks5Probe {
  /** "rep N" (the REP byte of the reply), "method N" (a method reply, when only greeting), "closed" or "timeout" */
  result: string;
  /** the REP byte, or null when there was no reply */
  rep: number | null;
  /** the method the server chose, or null when it sent no method reply */
  method: number | null;
  stderr: string;
}

export interface CurlResult extends ExecResult {
  /** the body (what came before the last line) */
  body: string;
  /** %{http_code}: 0 when there was no HTTP answer */
  status: number;
}

export interface Lan {
  /** the random third octet of every subnet of this run */
  x: number;
  /** namespace names */
  ns: Record<Role, string>;
  /** a LAN device, its gateway (this PC's LAN address), the server out there, … */
  addr: { lanDevice: string; lanGateway: string; outServer: string; outGateway: string; extClient: string; extGateway: string };
  /** whether IPv4 forwarding was on in the root namespace (read, never changed) */
  ipForward: boolean;
  exec(ns: Role | string, cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** curl in a namespace with `-sS --max-time 10 -o - -w '\n%{http_code}'` before `args` */
  curl(ns: Role | string, args: string[], opts?: ExecOptions): Promise<CurlResult>;
  /**
   * Runs `node -e script ...args` in a namespace and waits for its ready line (default /^ready\b/).
   * The script should print that line once it listens.
   */
  spawnServer(ns: Role | string, script: string, args?: string[], opts?: { ready?: RegExp; timeoutMs?: number }): Promise<NsProcess>;
  /** the HTTP origin in `out` on `ports` of 10.232.X.2: `GET /` answers `hello from outside <port>` */
  startOrigin(ports: number[]): Promise<NsOrigin>;
  /**
   * A raw SOCKS5 client run in a namespace. With a target: greeting offering "no auth", then
   * CONNECT (IPv4 literal as ATYP 1, else a name, ATYP 3), reporting the REP byte. Without
   * one: only the greeting offering `methods`, reporting the method reply.
   */
  socks5(ns: Role | string, proxy: { host: string; port: number }, opts?: { methods?: number[]; target?: { host: string; port: number }; timeoutMs?: number }): Promise<Socks5Probe>;
  /** deletes the namespaces (and with them the veth pairs) and stops every process started here; idempotent */
  destroy(): Promise<void>;
}

const execFileP = (file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> =>
  new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', env: cleanEnv() }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr, timedOut: false });
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
      const timedOut = !!e.killed && e.signal === 'SIGKILL';
      resolve({ code: typeof e.code === 'number' ? e.code : -1, stdout, stderr: stderr || String(e.message), timedOut });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });

/** The environment without proxy variables, so clients in the namespaces use only what the test names. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/_proxy$/i.test(k)) env[k] = v;
  return env;
}

function ipSync(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error.message) : '') };
}

async function ip(args: string[]): Promise<void> {
  const r = await execFileP('ip', args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNetns(): string[] {
  const r = ipSync(['netns', 'list']);
  // lines look like "name" or "name (id: 3)"
  return r.ok ? r.out.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean) : [];
}

/** Kills (by pid) whatever still runs in namespace `ns` (only namespaces this module created), then deletes it. */
function deleteNetnsSync(ns: string): void {
  const pids = ipSync(['netns', 'pids', ns]);
  if (pids.ok) {
    for (const p of pids.out.split(/\s+/).filter(Boolean).map(Number)) {
      if (p > 1 && p !== process.pid) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }
  ipSync(['netns', 'del', ns]);
}

/**
 * Removes what crashed runs left: namespaces whose embedded pid is no longer alive, and
 * root-side veth ends of a run that has no namespace (a crash between the two steps).
 */
export function cleanLeftovers(): string[] {
  const removed: string[] = [];
  const names = listNetns();
  const liveRuns = new Set<string>();
  for (const name of names) {
    const m = NS_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !pidAlive(pid)) {
      deleteNetnsSync(name);
      removed.push(name);
    } else liveRuns.add(m[2]!);
  }
  // a run creates its namespaces before its veth pairs, so a run with veths and no namespace is gone
  const links = ipSync(['-o', 'link', 'show']);
  for (const line of links.out.split('\n')) {
    const dev = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    const m = dev ? VETH_NAME.exec(dev) : null;
    if (m && !liveRuns.has(m[1]!)) {
      ipSync(['link', 'del', dev!]);
      removed.push(dev!);
    }
  }
  return removed;
}

/** Why namespaces cannot be used here (not root, no `ip netns`, no curl), or null when they can. */
export function canUseNetns(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (run the LAN tests as root)';
  const list = ipSync(['netns', 'list']);
  if (!list.ok) return `"ip netns" is unavailable: ${list.err.trim() || 'ip not found (install iproute2)'}`;
  const probe = `gh${process.pid}-000000-lan`;
  const add = ipSync(['netns', 'add', probe]);
  if (!add.ok) return `cannot create a network namespace: ${add.err.trim()}`;
  ipSync(['netns', 'del', probe]);
  const c = spawnSync('curl', ['--version'], { encoding: 'utf8' });
  if (c.status !== 0) return 'curl is not installed';
  return null;
}

/** Addresses already on this PC, to pick a third octet no other run uses. */
function usedOctets(): Set<number> {
  const used = new Set<number>();
  const r = ipSync(['-4', '-o', 'addr', 'show']);
  for (const m of r.out.matchAll(/inet (10\.231|10\.232|198\.18)\.(\d+)\./g)) used.add(Number(m[2]));
  return used;
}

const SOCKS5_PROBE = String.raw`
const net = require('net');
const [proxyHost, proxyPort, methodsText, host, portText, timeoutText] = process.argv.slice(1);
const methods = methodsText.split(',').map(Number);
const s = net.connect({ host: proxyHost, port: Number(proxyPort) });
let got = Buffer.alloc(0), stage = 'greeting', printed = false;
const say = (t) => { if (!printed) { printed = true; console.log(t); } s.destroy(); };
setTimeout(() => say('timeout'), Number(timeoutText)).unref();
s.on('connect', () => s.write(Buffer.from([5, methods.length, ...methods])));
s.on('data', (d) => {
  got = Buffer.concat([got, d]);
  if (stage === 'greeting' && got.length >= 2) {
    const method = got[1];
    got = got.subarray(2);
    if (!host || method !== 0) return say('method ' + method);
    stage = 'request';
    const v4 = net.isIPv4(host) ? Buffer.from([1, ...host.split('.').map(Number)]) : null;
    const name = Buffer.from(host);
    const addr = v4 ?? Buffer.concat([Buffer.from([3, name.length]), name]);
    const port = Number(portText);
    s.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, Buffer.from([port >> 8, port & 255])]));
  }
  if (stage === 'request' && got.length >= 2) say('rep ' + got[1]);
});
s.on('error', (e) => { console.error(e.message); say('closed'); });
s.on('close', () => say('closed'));
`;

const ORIGIN = String.raw`
const http = require('http');
const [host, ...ports] = process.argv.slice(1);
let waiting = ports.length + 1;
let controlPort = 0;
const listening = () => { if (--waiting === 0) console.log('ready ' + controlPort); };
// a control port of its own, so fences are not counted as connections
const control = http.createServer((req, res) => {
  console.log('fence ' + req.url.slice(1));
  res.end();
});
control.listen(0, host, () => { controlPort = control.address().port; listening(); });
for (const port of ports.map(Number)) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('connection', 'close');
    res.end('hello from outside ' + port);
  });
  server.on('connection', () => console.log('accept ' + port));
  server.on('error', (e) => { console.error('port ' + port + ': ' + e.message); process.exit(1); });
  server.listen(port, host, listening);
}
`;

/** Builds the three namespaces of one test run (cleaning leftovers of crashed runs first). */
export async function createLan(): Promise<Lan> {
  cleanLeftovers();
  const run = randomBytes(3).toString('hex');
  const used = usedOctets();
  let x = 0;
  for (let i = 0; i < 50 && (x === 0 || used.has(x)); i++) x = 1 + Math.floor(Math.random() * 254);
  if (used.has(x)) throw new Error('no free 10.231.X/10.232.X/198.18.X subnet found for the test LAN');
  const ns = Object.fromEntries(ROLES.map((r) => [r, `gh${process.pid}-${run}-${r}`])) as Record<Role, string>;
  const addr = {
    lanDevice: `10.231.${x}.2`,
    lanGateway: `10.231.${x}.1`,
    outServer: `10.232.${x}.2`,
    outGateway: `10.232.${x}.1`,
    extClient: `198.18.${x}.2`,
    extGateway: `198.18.${x}.1`,
  };
  let ipForward = false;
  try {
    ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '0';
  } catch {
    /* not readable: the tests do not depend on it */
  }

  const created: string[] = [];
  const children = new Set<ChildProcess>();
  let destroyed = false;
  const destroySync = () => {
    if (destroyed) return;
    destroyed = true;
    for (const c of children) c.kill('SIGKILL');
    for (const n of created) deleteNetnsSync(n);
  };
  // a test process that exits without running `after` (an uncaught error) still cleans up
  process.once('exit', destroySync);

  const nsName = (n: Role | string) => (n in ns ? ns[n as Role] : n);

  const lan: Lan = {
    x,
    ns,
    addr,
    ipForward,
    exec(n, cmd, args, opts) {
      return execFileP('ip', ['netns', 'exec', nsName(n), cmd, ...args], opts);
    },
    async curl(n, args, opts) {
      const r = await lan.exec(n, 'curl', ['-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', ...args], opts);
      const cut = r.stdout.lastIndexOf('\n');
      return { ...r, body: cut < 0 ? '' : r.stdout.slice(0, cut), status: Number(cut < 0 ? r.stdout : r.stdout.slice(cut + 1)) || 0 };
    },
    spawnServer(n, script, args = [], opts = {}) {
      const name = nsName(n);
      const child = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
      children.add(child);
      const lines: string[] = [];
      const waiters = new Set<() => void>();
      let err = '';
      let buf = '';
      let exited = false;
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        for (const w of waiters) w();
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      const exit = new Promise<void>((res) =>
        child.on('close', () => {
          exited = true;
          children.delete(child);
          for (const w of waiters) w();
          res();
        }),
      );
      child.on('error', (e) => (err += String(e.message)));
      const proc: NsProcess = {
        ns: name,
        pid: child.pid ?? -1,
        lines,
        stderr: () => err,
        waitForLine(re, timeoutMs = 5000) {
          return new Promise((resolve, reject) => {
            const check = () => {
              const hit = lines.find((l) => re.test(l));
              if (hit !== undefined) return done(() => resolve(hit));
              if (exited) done(() => reject(new Error(`process in ${name} exited before printing ${re}; stderr: ${err.trim()}`)));
            };
            const timer = setTimeout(() => done(() => reject(new Error(`no line ${re} from the process in ${name} within ${timeoutMs} ms; stderr: ${err.trim()}`))), timeoutMs);
            const done = (f: () => void) => {
              clearTimeout(timer);
              waiters.delete(check);
              f();
            };
            waiters.add(check);
            check();
          });
        },
        async stop() {
          if (exited) return;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 1000);
          await exit;
          clearTimeout(t);
        },
      };
      return proc
        .waitForLine(opts.ready ?? /^ready\b/, opts.timeoutMs ?? 5000)
        .then(() => proc)
        .catch(async (e) => {
          await proc.stop();
          throw e;
        });
    },
    async startOrigin(ports) {
      const host = addr.outServer;
      const proc = await lan.spawnServer('out', ORIGIN, [host, ...ports.map(String)]);
      const controlPort = Number(/^ready (\d+)$/.exec(await proc.waitForLine(/^ready \d+$/))![1]);
      let fences = 0;
      return {
        ...proc,
        host,
        ports,
        connections: (port) => proc.lines.filter((l) => l === `accept ${port}`).length,
        async fence() {
          const id = `${++fences}`;
          await new Promise<void>((resolve, reject) => {
            const req = http.get({ host, port: controlPort, path: `/${id}`, agent: false, timeout: 5000 }, (res) => {
              res.resume();
              res.on('end', resolve);
            });
            req.on('timeout', () => req.destroy(new Error('the fence request to the origin timed out')));
            req.on('error', reject);
          });
          await proc.waitForLine(new RegExp(`^fence ${id}$`));
        },
      };
    },
    async socks5(n, proxy, opts = {}) {
      const methods = opts.methods ?? [0];
      const t = opts.target;
      const timeoutMs = opts.timeoutMs ?? 8000;
      const r = await lan.exec(n, process.execPath, ['-e', SOCKS5_PROBE, proxy.host, String(proxy.port), methods.join(','), t?.host ?? '', t ? String(t.port) : '', String(timeoutMs)], {
        timeoutMs: timeoutMs + 5000,
      });
      const result = r.stdout.trim() || `no output (exit ${r.code}): ${r.stderr.trim()}`;
      const rep = /^rep (\d+)$/.exec(result);
      const method = /^method (\d+)$/.exec(result);
      return { result, rep: rep ? Number(rep[1]) : null, method: method ? Number(method[1]) : rep ? 0 : null, stderr: r.stderr };
    },
    async destroy() {
      if (destroyed) return;
      process.removeListener('exit', destroySync);
      await Promise.all(
        [...children].map(
          (c) =>
            new Promise<void>((res) => {
              if (c.exitCode !== null || c.signalCode !== null) return res();
              c.once('close', () => res());
              c.kill('SIGKILL');
            }),
        ),
      );
      destroySync();
    },
  };

  try {
    for (const role of ROLES) {
      const name = ns[role];
      const host = `gh${run}${role[0]}`;
      const peer = `${host}p`;
      const [a, b] = FIRST_OCTETS[role].split('.');
      const gw = `${a}.${b}.${x}.1`;
      const dev = `${a}.${b}.${x}.2`;
      // the namespace first: cleanLeftovers treats veths of a run without namespaces as leftovers
      await ip(['netns', 'add', name]);
      created.push(name);
      await ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', peer, 'netns', name]);
      await ip(['addr', 'add', `${gw}/24`, 'dev', host]);
      await ip(['link', 'set', host, 'up']);
      await ip(['-n', name, 'link', 'set', 'lo', 'up']);
      await ip(['-n', name, 'addr', 'add', `${dev}/24`, 'dev', peer]);
      await ip(['-n', name, 'link', 'set', peer, 'up']);
      await ip(['-n', name, 'route', 'add', 'default', 'via', gw]);
    }
  } catch (e) {
    // the veth ends in the root namespace go with their peers
    await lan.destroy();
    throw e;
  }
  return lan;
}
