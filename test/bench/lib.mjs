// What the HTTP and SOCKS benchmarks share: pinning, child processes that print a
// JSON ready line, bulk transfers with curl, and the mirrored layouts.
//
// Mirrored layouts: the proxy runs pinned to one core while the origin and the
// load run on the other, and then the other way round. On a shared VM the two
// cores do not run at the same speed (one was measured at half the other's
// speed for minutes at a time), and a ratio taken in one layout is off by that
// factor: proxy core speed over load core speed. In the mirrored layout the
// factor is inverted, so the geometric mean of the two ratios cancels it.
import { spawn, execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';

export const execFileP = promisify(execFile);
export const twoCores = cpus().length >= 2;

/** [proxy core, load core] per layout; BENCH_MIRROR=0 keeps only the first. */
export const LAYOUTS = !twoCores
  ? [{ proxy: null, load: null, name: 'one core' }]
  : process.env.BENCH_MIRROR === '0'
    ? [{ proxy: 0, load: 1, name: 'A' }]
    : [
        { proxy: 0, load: 1, name: 'A' },
        { proxy: 1, load: 0, name: 'B' },
      ];

export function describeLayouts() {
  if (!twoCores) return 'one core (figures less stable)';
  return LAYOUTS.map((l) => `${l.name}: proxy on core ${l.proxy}, origin and load on core ${l.load}`).join('; ');
}

/**
 * Sets up every layout (`setUp(layout)` gives an env with its `gate` and `origin` processes, its
 * `dataDir`, and optionally `others`: more child processes to stop), runs `measure(envs)`, then
 * stops the processes and removes the data dirs.
 */
export async function acrossLayouts(setUp, measure) {
  const envs = [];
  try {
    for (const layout of LAYOUTS) envs.push(await setUp(layout));
    return await measure(envs);
  } finally {
    for (const e of envs) {
      e.gate.child.kill('SIGTERM');
      e.origin.child.kill('SIGTERM');
      for (const c of e.others ?? []) c.kill('SIGTERM');
    }
    await sleep(500);
    for (const e of envs) rmSync(e.dataDir, { recursive: true, force: true });
  }
}

/** The command and arguments that run `cmd` on `core` (as is when there is one core). */
export function pin(core, cmd, args) {
  return core === null || !twoCores ? [cmd, args] : ['taskset', ['-c', String(core), cmd, ...args]];
}

/** A child process whose first stdout line is JSON (its ready line). */
export function startJson(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args.join(' ')}: no ready line in 20 s`)), 20000);
    rl.once('line', (l) => {
      clearTimeout(t);
      resolve(JSON.parse(l));
    });
    child.once('exit', (c) => reject(new Error(`${cmd} exited ${c}`)));
  });
  return { child, first };
}

export const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Median MiB/s of `runs` transfers of `mb` MiB with curl on `core` (loopback throughput varies from run to run). */
export async function curlSpeed(core, args, mb, runs) {
  const speeds = [];
  for (let i = 0; i < runs; i++) {
    const [c, a] = pin(core, 'curl', ['-sS', '--noproxy', '', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...args]);
    const { stdout } = await execFileP(c, a);
    const [speed, size] = stdout.trim().split(' ').map(Number);
    if (size !== mb * 1024 * 1024) throw new Error(`bulk transfer incomplete: ${size} bytes`);
    speeds.push(speed / 1024 / 1024);
  }
  return median(speeds);
}

export const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/** The header of a figures table: per layout direct, proxied and ratio, then the combined ratio. */
export function header(proxiedName) {
  const per = LAYOUTS.map((l) => `${`${l.name}: direct`.padStart(11)} ${proxiedName.padStart(9)} ${'ratio'.padStart(6)}`).join(' │');
  console.log(`${'figure'.padEnd(34)} ${per} │ ${'unit'.padEnd(6)} ${'ratio'.padStart(6)}`);
}

/**
 * One figure: per layout {direct: [..], proxied: [..]}, one sample of each per round, taken one
 * right after the other. Prints each layout's medians and the median of its rounds' ratios, and
 * returns the median over rounds of the layouts' geometric mean. A ratio is taken within a round,
 * from runs seconds apart, so a drift of the machine between rounds (its speed was seen to change
 * by half within a minute) does not enter it. For a lower-is-better figure such as latency the
 * ratio is direct/proxied. BENCH_VERBOSE=1 prints every round's ratios.
 */
export function row(name, perLayout, unit, digits = 0, higherIsBetter = true) {
  const rounds = Math.min(...perLayout.map((l) => Math.min(l.direct.length, l.proxied.length)));
  const ratioAt = (l, i) => (higherIsBetter ? l.proxied[i] / l.direct[i] : l.direct[i] / l.proxied[i]);
  const byRound = Array.from({ length: rounds }, (_, i) => perLayout.map((l) => ratioAt(l, i)));
  const per = perLayout
    .map((l, j) => {
      const r = median(byRound.map((x) => x[j]));
      return `${fmt(median(l.direct), digits).padStart(11)} ${fmt(median(l.proxied), digits).padStart(9)} ${`${fmt(r, 2)}×`.padStart(6)}`;
    })
    .join(' │');
  const ratio = median(byRound.map(geomean));
  console.log(`${name.padEnd(34)} ${per} │ ${unit.padEnd(6)} ${`${fmt(ratio, 2)}×`.padStart(6)}`);
  if (process.env.BENCH_VERBOSE === '1') {
    console.log(`${''.padEnd(34)} rounds: ${byRound.map((x) => x.map((r) => fmt(r, 2)).join('/')).join('  ')}`);
  }
  return ratio;
}
