// npm run bench: Gatehouse's HTTP proxy side by side with direct connections to
// the same loopback origin, in one run. The proxy is pinned to core 0; the load
// generator (wrk, curl) and the origin to core 1, so the figures are stable.
// Every figure is printed with its ratio to direct. Needs wrk and curl.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const DURATION = process.env.BENCH_SECONDS ?? '5';
const BULK_MB = Number(process.env.BENCH_BULK_MB ?? '512');
const twoCores = cpus().length >= 2;
const pin = (core, cmd, args) => (twoCores ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

async function which(cmd) {
  try {
    await execFileP('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

function startJsonProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
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

async function wrk(target, conns, proxyPath) {
  const args = ['-t1', `-c${conns}`, `-d${DURATION}s`, '--latency'];
  let script;
  if (proxyPath) {
    script = join(tmpdir(), `gh-wrk-${process.pid}.lua`);
    writeFileSync(script, `wrk.path = "${proxyPath}"\n`);
    args.push('-s', script);
  }
  args.push(target);
  const [c, a] = pin(1, 'wrk', args);
  const { stdout } = await execFileP(c, a, { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
  const lat = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(stdout)?.[1] ?? '';
  if (errors !== '0' || socketErrors) console.error(`  wrk ${target} ${proxyPath ?? ''}: ${errors} non-2xx, ${socketErrors}`);
  return { rps, p50: lat(50), p99: lat(99) };
}

const BULK_RUNS = Number(process.env.BENCH_BULK_RUNS ?? '5');
const LOAD_RUNS = Number(process.env.BENCH_LOAD_RUNS ?? '3');
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median MiB/s of BULK_RUNS transfers (loopback throughput varies a lot from run to run). */
async function curlSpeed(args) {
  const speeds = [];
  for (let i = 0; i < BULK_RUNS; i++) {
    const [c, a] = pin(1, 'curl', ['-sS', '--noproxy', '', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...args]);
    const { stdout } = await execFileP(c, a);
    const [speed, size] = stdout.trim().split(' ').map(Number);
    if (size !== BULK_MB * 1024 * 1024) throw new Error(`bulk transfer incomplete: ${size} bytes`);
    speeds.push(speed / 1024 / 1024);
  }
  return median(speeds);
}

function rssPeakKiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
function row(name, direct, proxied, unit, digits = 0, higherIsBetter = true) {
  const ratio = higherIsBetter ? proxied / direct : direct / proxied;
  console.log(`${name.padEnd(34)} ${fmt(direct, digits).padStart(10)} ${fmt(proxied, digits).padStart(10)} ${unit.padEnd(6)} ${fmt(ratio, 2).padStart(6)}×`);
  return ratio;
}

async function main() {
  for (const tool of ['wrk', 'curl']) {
    if (!(await which(tool))) {
      console.error(`bench: ${tool} is needed (apt-get install -y ${tool})`);
      process.exit(1);
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-'));
  const [oc, oa] = pin(1, process.execPath, [join(here, 'origin.mjs')]);
  const origin = startJsonProcess(oc, oa);
  const [gc, ga] = pin(0, process.execPath, ['--max-semi-space-size=4', join(root, 'dist/gatehouse.js'), 'serve', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0', '--sharing', 'on']);
  const gate = startJsonProcess(gc, ga);
  try {
    const { port } = await origin.first;
    const ready = await gate.first;
    // allow CONNECT to the origin port for the tunnel figure
    await execFileP(process.execPath, [join(root, 'dist/gatehouse.js'), 'settings', 'set', 'http.connectPorts', `443,${port}`, '--data-dir', dataDir]);
    await new Promise((r) => setTimeout(r, 1000));
    const direct = `http://127.0.0.1:${port}`;
    const proxy = `http://${ready.http}`;
    console.log(`Gatehouse benchmark: ${twoCores ? 'proxy on core 0, origin and load on core 1' : 'one core (figures less stable)'}; ${DURATION} s per load run, median of ${LOAD_RUNS}; ${BULK_MB} MiB per transfer, median of ${BULK_RUNS}`);
    console.log(`${'figure'.padEnd(34)} ${'direct'.padStart(10)} ${'proxy'.padStart(10)} ${'unit'.padEnd(6)} ${'ratio'.padStart(7)}`);
    // warm up both paths
    await wrk(`${direct}/small`, 10, null);
    await wrk(proxy + '/', 10, `${direct}/small`);
    const results = {};
    for (const c of [1, 50]) {
      // direct and proxied runs alternate, LOAD_RUNS of each; medians are compared (a shared machine drifts)
      const ds = [];
      const ps = [];
      for (let i = 0; i < LOAD_RUNS; i++) {
        ds.push(await wrk(`${direct}/small`, c, null));
        ps.push(await wrk(proxy + '/', c, `${direct}/small`));
      }
      const med = (xs, k) => median(xs.map((x) => x[k]));
      results[`rps${c}`] = row(`small requests/s, keep-alive, ${c} conn`, med(ds, 'rps'), med(ps, 'rps'), 'req/s');
      row(`  latency p50, ${c} conn`, med(ds, 'p50'), med(ps, 'p50'), 'ms', 3, false);
      row(`  latency p99, ${c} conn`, med(ds, 'p99'), med(ps, 'p99'), 'ms', 3, false);
    }
    const bulkDirect = await curlSpeed([`${direct}/bulk?mb=${BULK_MB}`]);
    const bulkProxy = await curlSpeed(['-x', proxy, `${direct}/bulk?mb=${BULK_MB}`]);
    results.bulk = row('bulk GET', bulkDirect, bulkProxy, 'MiB/s');
    const bulkTunnel = await curlSpeed(['-p', '-x', proxy, `${direct}/bulk?mb=${BULK_MB}`]);
    results.tunnel = row('bulk through CONNECT tunnel', bulkDirect, bulkTunnel, 'MiB/s');
    const peak = rssPeakKiB(gate.child.pid);
    console.log(`${'proxy peak RSS'.padEnd(34)} ${''.padStart(10)} ${fmt(peak / 1024, 1).padStart(10)} MiB`);
    console.log(
      `targets: small@50 ≥ 0.60× (${fmt(results.rps50, 2)}), bulk GET ≥ 0.50× (${fmt(results.bulk, 2)}), CONNECT ≥ 0.70× (${fmt(results.tunnel, 2)})`,
    );
  } finally {
    gate.child.kill('SIGTERM');
    origin.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
