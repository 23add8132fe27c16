// SOCKS5 beside direct connections, in one run: bulk MiB/s through a CONNECT
// session (curl), sessions per second (connect, handshake, small request,
// close) one at a time and 50 in flight, and the proxy's memory per idle
// session with a few thousand open. The proxy is pinned to one core and the
// origin and the load to the other, in both mirrored layouts (see lib.mjs).
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { acrossLayouts, curlSpeed, describeLayouts, execFileP, fmt, header, pin, row, sleep, startJson, twoCores } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? '4');
const BULK_MB = Number(process.env.BENCH_BULK_MB ?? '512');
const BULK_RUNS = Number(process.env.BENCH_BULK_RUNS ?? '5');
const LOAD_RUNS = Number(process.env.BENCH_LOAD_RUNS ?? '5');
const IDLE = Number(process.env.BENCH_IDLE_SESSIONS ?? '3000');

const gatewayArgs = (dataDir) => ['--max-semi-space-size=4', join(root, 'dist/gatehouse.js'), 'serve', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0', '--sharing', 'on'];

async function load(core, mode, port, originPort, inflight) {
  const [c, a] = pin(core, process.execPath, [join(here, 'socks-load.mjs'), mode, String(port), String(originPort), String(inflight), String(SECONDS)]);
  const { stdout } = await execFileP(c, a);
  const r = JSON.parse(stdout);
  if (r.failed) console.error(`  ${mode} ×${inflight}: ${r.failed} sessions failed`);
  return r.sessions / r.seconds;
}

/** microsocks (C, Debian's `microsocks` package), if installed: measured beside Gatehouse as the issue's reference. */
const MICROSOCKS = process.env.BENCH_MICROSOCKS ?? '/usr/bin/microsocks';
const hasMicrosocks = await execFileP(MICROSOCKS, ['-h']).then(
  () => true,
  (err) => typeof err.code === 'number', // it ran: it prints its usage and exits non-zero
);

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function startMicrosocks(core) {
  const port = await freePort();
  const child = spawn(...pin(core, MICROSOCKS, ['-i', '127.0.0.1', '-p', String(port)]), { stdio: 'ignore' });
  child.on('error', () => {});
  // ready once it accepts a connection
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      s.on('connect', () => s.destroy());
    });
    if (ok) return { port, child };
    await sleep(100);
  }
  child.kill('SIGTERM');
  throw new Error(`microsocks did not listen on 127.0.0.1:${port} within 5 s`);
}

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

async function idleSessions(socksPort, holdPort, pid) {
  await sleep(6000);
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
  await sleep(6000);
  const after = rssKiB(pid);
  for (const s of sockets) s.destroy();
  return (after - before) / IDLE;
}

/** A gateway pinned to the layout's proxy core and an origin (HTTP and echo) pinned to its load core. */
async function setUp(layout) {
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-socks-'));
  const origin = startJson(...pin(layout.load, process.execPath, [join(here, 'origin.mjs')]));
  const gate = startJson(...pin(layout.proxy, process.execPath, gatewayArgs(dataDir)));
  const env = { layout, dataDir, origin, gate, httpOrigin: 0, echo: 0, echoes: [], nextEcho: 0, socks: '', socksPort: 0, microsocks: null, others: [] };
  const o = await origin.first;
  const ready = await gate.first;
  env.httpOrigin = o.port;
  env.echo = o.echo;
  env.echoes = o.echoes;
  env.socks = ready.socks;
  env.socksPort = Number(ready.socks.split(':').pop());
  if (hasMicrosocks) {
    env.microsocks = await startMicrosocks(layout.proxy);
    env.others = [env.microsocks.child];
  }
  return env;
}

/** Bulk and session figures per layout: [{figure: {direct, proxied}}]; the layouts' runs interleave (see run.mjs). */
async function measure(envs) {
  const out = envs.map(() => ({}));
  const bulk = envs.map(() => ({ direct: [], proxied: [] }));
  for (let i = 0; i < BULK_RUNS; i++) {
    for (const [j, e] of envs.entries()) {
      const url = `http://127.0.0.1:${e.httpOrigin}/bulk?mb=${BULK_MB}`;
      bulk[j].direct.push(await curlSpeed(e.layout.load, [url], BULK_MB, 1));
      bulk[j].proxied.push(await curlSpeed(e.layout.load, ['--socks5', e.socks, url], BULK_MB, 1));
    }
  }
  for (const j of envs.keys()) out[j].bulk = bulk[j];
  // every load run gets an echo port of its own (see origin.mjs)
  const echo = (e) => e.echoes[e.nextEcho++ % e.echoes.length];
  for (const e of envs) {
    const p = echo(e);
    await load(e.layout.load, 'direct', p, p, 10);
    await load(e.layout.load, 'socks', e.socksPort, echo(e), 10);
  }
  for (const n of [1, 50]) {
    const ds = envs.map(() => []);
    const ps = envs.map(() => []);
    const ms = envs.map(() => []);
    for (let i = 0; i < LOAD_RUNS; i++) {
      for (const [j, e] of envs.entries()) {
        const p = echo(e);
        ds[j].push(await load(e.layout.load, 'direct', p, p, n));
        ps[j].push(await load(e.layout.load, 'socks', e.socksPort, echo(e), n));
        if (n === 50 && e.microsocks) ms[j].push(await load(e.layout.load, 'socks', e.microsocks.port, echo(e), n));
      }
    }
    if (n === 50 && hasMicrosocks) for (const j of envs.keys()) out[j].ms50 = { direct: ds[j], proxied: ms[j] };
    for (const j of envs.keys()) out[j][`s${n}`] = { direct: ds[j], proxied: ps[j] };
  }
  return out;
}

/** KiB per idle session, on a fresh gateway (so garbage from load runs does not blur the baseline). */
async function idleFigure() {
  const hold = net.createServer((s) => s.on('error', () => {}));
  await new Promise((r) => hold.listen(0, '127.0.0.1', r));
  const holds = new Set();
  hold.on('connection', (s) => holds.add(s));
  const idleDir = mkdtempSync(join(tmpdir(), 'gh-bench-idle-'));
  const idleGate = startJson(...pin(twoCores ? 0 : null, process.execPath, gatewayArgs(idleDir)));
  try {
    const idleReady = await idleGate.first;
    return await idleSessions(Number(idleReady.socks.split(':').pop()), hold.address().port, idleGate.child.pid);
  } finally {
    idleGate.child.kill('SIGTERM');
    for (const s of holds) s.destroy();
    hold.close();
    await sleep(1000);
    rmSync(idleDir, { recursive: true, force: true });
  }
}

async function main() {
  // this process opens the idle sessions: it runs with the load
  if (twoCores) await execFileP('taskset', ['-p', '-c', '1', String(process.pid)]).catch(() => {});
  const runs = await acrossLayouts(setUp, measure);
  const perIdle = await idleFigure();
  const per = (k) => runs.map((r) => r[k]);
  console.log(`SOCKS5 benchmark: ${describeLayouts()}`);
  console.log(`${SECONDS} s per load run, median of ${LOAD_RUNS}; ${BULK_MB} MiB per transfer, median of ${BULK_RUNS}; ratios within each round; last column: median over rounds of the layouts' geometric mean`);
  header('socks5');
  const bulk = row('bulk through a CONNECT session', per('bulk'), 'MiB/s');
  const s1 = row('sessions/s, one at a time', per('s1'), 'sess/s');
  const s50 = row('sessions/s, 50 in flight', per('s50'), 'sess/s');
  if (hasMicrosocks) {
    header('microsocks');
    row('sessions/s, 50 in flight', per('ms50'), 'sess/s');
  } else console.log('(install microsocks to measure it beside Gatehouse: apt-get install microsocks)');
  console.log(`${`memory per idle session (${IDLE})`.padEnd(34)} ${fmt(perIdle, 1)} KiB (proxy on core 0)`);
  console.log(`targets: bulk ≥ 0.70× (${fmt(bulk, 2)}), sessions/s at 50 ≥ 0.75× (${fmt(s50, 2)}), ≤ 12 KiB per idle session (${fmt(perIdle, 1)}); one at a time: ${fmt(s1, 2)}×`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
