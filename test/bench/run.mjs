// npm run bench: Gatehouse's HTTP proxy side by side with direct connections to
// the same loopback origin, in one run. The proxy is pinned to one core and the
// load generator (wrk, curl) and the origin to the other, in both mirrored
// layouts (see lib.mjs). Every figure is printed with its ratio to direct.
// Needs wrk and curl.
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acrossLayouts, curlSpeed, describeLayouts, execFileP, fmt, header, pin, row, sleep, startJson } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const DURATION = process.env.BENCH_SECONDS ?? '4';
const BULK_MB = Number(process.env.BENCH_BULK_MB ?? '512');
const BULK_RUNS = Number(process.env.BENCH_BULK_RUNS ?? '5');
const LOAD_RUNS = Number(process.env.BENCH_LOAD_RUNS ?? '5');

async function which(cmd) {
  try {
    await execFileP('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

async function wrk(core, target, conns, proxyPath) {
  const args = ['-t1', `-c${conns}`, `-d${DURATION}s`, '--latency'];
  if (proxyPath) {
    const script = join(tmpdir(), `gh-wrk-${process.pid}.lua`);
    writeFileSync(script, `wrk.path = "${proxyPath}"\n`);
    args.push('-s', script);
  }
  args.push(target);
  const [c, a] = pin(core, 'wrk', args);
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

const peakRssKiB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** A gateway pinned to the layout's proxy core and an origin pinned to its load core. */
async function setUp(layout) {
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-'));
  const origin = startJson(...pin(layout.load, process.execPath, [join(here, 'origin.mjs')]));
  const gate = startJson(
    ...pin(layout.proxy, process.execPath, ['--max-semi-space-size=4', join(root, 'dist/gatehouse.js'), 'serve', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0', '--sharing', 'on']),
  );
  const env = { layout, dataDir, origin, gate, direct: '', proxy: '' };
  const { port } = await origin.first;
  const ready = await gate.first;
  // allow CONNECT to the origin port for the tunnel figure
  await execFileP(process.execPath, [join(root, 'dist/gatehouse.js'), 'settings', 'set', 'http.connectPorts', `443,${port}`, '--data-dir', dataDir]);
  env.direct = `http://127.0.0.1:${port}`;
  env.proxy = `http://${ready.http}`;
  return env;
}

/**
 * Every figure, per layout: [{figure: {direct, proxied}}]. The layouts' runs interleave (direct
 * and proxied in one layout, then in the next, round after round), so a drift of the machine
 * falls on all of them alike.
 */
async function measure(envs) {
  await sleep(1000);
  for (const e of envs) {
    // warm up both paths
    await wrk(e.layout.load, `${e.direct}/small`, 10, null);
    await wrk(e.layout.load, e.proxy + '/', 10, `${e.direct}/small`);
  }
  const out = envs.map(() => ({}));
  for (const c of [1, 50]) {
    const ds = envs.map(() => []);
    const ps = envs.map(() => []);
    for (let i = 0; i < LOAD_RUNS; i++) {
      for (const [j, e] of envs.entries()) {
        ds[j].push(await wrk(e.layout.load, `${e.direct}/small`, c, null));
        ps[j].push(await wrk(e.layout.load, e.proxy + '/', c, `${e.direct}/small`));
      }
    }
    for (const j of envs.keys()) {
      for (const k of ['rps', 'p50', 'p99']) out[j][`${k}${c}`] = { direct: ds[j].map((x) => x[k]), proxied: ps[j].map((x) => x[k]) };
    }
  }
  const bulk = envs.map(() => ({ direct: [], proxied: [], tunnel: [] }));
  for (let i = 0; i < BULK_RUNS; i++) {
    for (const [j, e] of envs.entries()) {
      const L = e.layout.load;
      bulk[j].direct.push(await curlSpeed(L, [`${e.direct}/bulk?mb=${BULK_MB}`], BULK_MB, 1));
      bulk[j].proxied.push(await curlSpeed(L, ['-x', e.proxy, `${e.direct}/bulk?mb=${BULK_MB}`], BULK_MB, 1));
      bulk[j].tunnel.push(await curlSpeed(L, ['-p', '-x', e.proxy, `${e.direct}/bulk?mb=${BULK_MB}`], BULK_MB, 1));
    }
  }
  for (const [j, e] of envs.entries()) {
    out[j].bulk = { direct: bulk[j].direct, proxied: bulk[j].proxied };
    out[j].tunnel = { direct: bulk[j].direct, proxied: bulk[j].tunnel };
    out[j].peakRss = peakRssKiB(e.gate.child.pid);
  }
  return out;
}

async function main() {
  for (const tool of ['wrk', 'curl']) {
    if (!(await which(tool))) {
      console.error(`bench: ${tool} is needed (apt-get install -y ${tool})`);
      process.exit(1);
    }
  }
  const runs = await acrossLayouts(setUp, measure);
  const per = (k) => runs.map((r) => r[k]);
  console.log(`Gatehouse HTTP benchmark: ${describeLayouts()}`);
  console.log(`${DURATION} s per load run, median of ${LOAD_RUNS}; ${BULK_MB} MiB per transfer, median of ${BULK_RUNS}; ratios within each round; last column: median over rounds of the layouts' geometric mean`);
  header('proxy');
  const r = {};
  for (const c of [1, 50]) {
    r[`rps${c}`] = row(`small requests/s, keep-alive, ${c} conn`, per(`rps${c}`), 'req/s');
    row(`  latency p50, ${c} conn`, per(`p50${c}`), 'ms', 3, false);
    row(`  latency p99, ${c} conn`, per(`p99${c}`), 'ms', 3, false);
  }
  r.bulk = row('bulk GET', per('bulk'), 'MiB/s');
  r.tunnel = row('bulk through CONNECT tunnel', per('tunnel'), 'MiB/s');
  console.log(`${'proxy peak RSS'.padEnd(34)} ${runs.map((x) => `${fmt(x.peakRss / 1024, 1)} MiB`).join(', ')}`);
  console.log(`targets: small@50 ≥ 0.60× (${fmt(r.rps50, 2)}), bulk GET ≥ 0.50× (${fmt(r.bulk, 2)}), CONNECT ≥ 0.70× (${fmt(r.tunnel, 2)})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
