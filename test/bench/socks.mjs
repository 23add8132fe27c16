// SOCKS5 beside direct connections, in one run: bulk MiB/s through a CONNECT
// session (curl), sessions per second (connect, handshake, small request,
// close) one at a time and 50 in flight, and the proxy's memory per idle
// session with a few thousand open. Proxy on core 0; origin and load on core 1.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import net from 'node:net';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? '5');
const BULK_MB = Number(process.env.BENCH_BULK_MB ?? '512');
const BULK_RUNS = Number(process.env.BENCH_BULK_RUNS ?? '5');
const IDLE = Number(process.env.BENCH_IDLE_SESSIONS ?? '3000');
const twoCores = cpus().length >= 2;
const pin = (core, cmd, args) => (twoCores ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function startJson(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args.join(' ')}: no ready line`)), 20000);
    rl.once('line', (l) => {
      clearTimeout(t);
      resolve(JSON.parse(l));
    });
  });
  return { child, first };
}

async function curlSpeed(args) {
  const speeds = [];
  for (let i = 0; i < BULK_RUNS; i++) {
    const [c, a] = pin(1, 'curl', ['-sS', '--noproxy', '', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...args]);
    const { stdout } = await execFileP(c, a);
    const [speed, size] = stdout.trim().split(' ').map(Number);
    if (size !== BULK_MB * 1024 * 1024) throw new Error(`bulk transfer incomplete: ${size}`);
    speeds.push(speed / 1024 / 1024);
  }
  return median(speeds);
}

async function load(mode, port, originPort, inflight) {
  const [c, a] = pin(1, process.execPath, [join(here, 'socks-load.mjs'), mode, String(port), String(originPort), String(inflight), String(SECONDS)]);
  const { stdout } = await execFileP(c, a);
  const r = JSON.parse(stdout);
  if (r.failed) console.error(`  ${mode} ×${inflight}: ${r.failed} sessions failed`);
  return r.sessions / r.seconds;
}

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
function row(name, direct, proxied, unit, digits = 0) {
  const ratio = proxied / direct;
  console.log(`${name.padEnd(34)} ${fmt(direct, digits).padStart(10)} ${fmt(proxied, digits).padStart(10)} ${unit.padEnd(9)} ${fmt(ratio, 2).padStart(6)}×`);
  return ratio;
}

async function idleSessions(socksPort, holdPort, pid) {
  await new Promise((r) => setTimeout(r, 6000));
  const before = rssKiB(pid);
  const sockets = [];
  const request = Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, holdPort >> 8, holdPort & 255]);
  for (let i = 0; i < IDLE; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, IDLE - i) }, () => new Promise((resolve, reject) => {
        const s = net.connect(socksPort, '127.0.0.1');
        sockets.push(s);
        let got = 0;
        s.on('error', reject);
        s.on('connect', () => s.write(request));
        s.on('data', (c) => {
          got += c.length;
          if (got >= 12) resolve();
        });
      })),
    );
  }
  // let the proxy settle: V8's memory reducer collects garbage once allocation stops
  await new Promise((r) => setTimeout(r, 6000));
  const after = rssKiB(pid);
  for (const s of sockets) s.destroy();
  return (after - before) / IDLE;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-socks-'));
  // origin: HTTP for bulk, echo for sessions, a holder for idle sessions
  const [oc, oa] = pin(1, process.execPath, [join(here, 'origin.mjs')]);
  const origin = startJson(oc, oa);
  const echo = net.createServer((s) => {
    s.on('data', (c) => s.write(c));
    s.on('error', () => {});
  });
  // the echo runs in this process: pin this process to core 1 with the load
  if (twoCores) await execFileP('taskset', ['-p', '-c', '1', String(process.pid)]).catch(() => {});
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = echo.address().port;
  const holds = new Set();
  const hold = net.createServer((s) => {
    holds.add(s);
    s.on('error', () => {});
  });
  await new Promise((r) => hold.listen(0, '127.0.0.1', r));
  const [gc, ga] = pin(0, process.execPath, ['--max-semi-space-size=4', join(root, 'dist/gatehouse.js'), 'serve', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0', '--sharing', 'on']);
  const gate = startJson(gc, ga);
  try {
    const { port: httpOrigin } = await origin.first;
    const ready = await gate.first;
    const socksPort = Number(ready.socks.split(':').pop());
    console.log(`SOCKS5 benchmark: ${twoCores ? 'proxy on core 0, origin and load on core 1' : 'one core'}; ${SECONDS} s per load run, ${BULK_MB} MiB per transfer (median of ${BULK_RUNS})`);
    console.log(`${'figure'.padEnd(34)} ${'direct'.padStart(10)} ${'socks5'.padStart(10)} ${'unit'.padEnd(9)} ${'ratio'.padStart(7)}`);
    const bulkDirect = await curlSpeed([`http://127.0.0.1:${httpOrigin}/bulk?mb=${BULK_MB}`]);
    const bulkSocks = await curlSpeed(['--socks5', ready.socks, `http://127.0.0.1:${httpOrigin}/bulk?mb=${BULK_MB}`]);
    const bulk = row('bulk through a CONNECT session', bulkDirect, bulkSocks, 'MiB/s');
    await load('direct', echoPort, echoPort, 10);
    await load('socks', socksPort, echoPort, 10);
    const s1 = row('sessions/s, one at a time', await load('direct', echoPort, echoPort, 1), await load('socks', socksPort, echoPort, 1), 'sess/s');
    const s50 = row('sessions/s, 50 in flight', await load('direct', echoPort, echoPort, 50), await load('socks', socksPort, echoPort, 50), 'sess/s');
    // memory per idle session: a fresh gateway, so garbage from the load runs does not blur the baseline
    const idleDir = mkdtempSync(join(tmpdir(), 'gh-bench-idle-'));
    const [ic, ia] = pin(0, process.execPath, ['--max-semi-space-size=4', join(root, 'dist/gatehouse.js'), 'serve', '--json', '--data-dir', idleDir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0', '--sharing', 'on']);
    const idleGate = startJson(ic, ia);
    let perIdle;
    try {
      const idleReady = await idleGate.first;
      perIdle = await idleSessions(Number(idleReady.socks.split(':').pop()), hold.address().port, idleGate.child.pid);
    } finally {
      idleGate.child.kill('SIGTERM');
      setTimeout(() => rmSync(idleDir, { recursive: true, force: true }), 1000).unref();
    }
    console.log(`${`memory per idle session (${IDLE})`.padEnd(34)} ${''.padStart(10)} ${fmt(perIdle, 1).padStart(10)} KiB`);
    console.log(`targets: bulk ≥ 0.70× (${fmt(bulk, 2)}), sessions/s at 50 ≥ 0.75× (${fmt(s50, 2)}), ≤ 12 KiB per idle session (${fmt(perIdle, 1)}); one at a time: ${fmt(s1, 2)}×`);
  } finally {
    gate.child.kill('SIGTERM');
    origin.child.kill('SIGTERM');
    for (const s of holds) s.destroy();
    echo.close();
    hold.close();
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
