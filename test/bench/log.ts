/**
 * npm run bench (log part): the request log at scale, in this process exactly
 * as the gateway runs it (ThreadedLogWriter on the proxies' thread, the
 * writing and reading threads behind it).
 *
 *  1. ingest: rows pushed at a steady 20,000/s, then as fast as the writing
 *     thread takes them; rows/s, no row lost, and the event-loop lag (p50/p99/
 *     max) of this thread meanwhile;
 *  2. the log grown to LOG_BENCH_ROWS rows (default 1,000,000);
 *  3. query latency through the reading thread, first page of common filters
 *     (p50/p99 of repeated runs, text search cold and warm), a deep page, counts;
 *  4. lag again while ingesting at 20,000/s with a full export and heavy
 *     queries running.
 *
 * Targets (issue 5): ingest ≥ 20,000 rows/s with lag p99 < 20 ms; filtered
 * first page < 50 ms p50 on 1M rows. Bounded: every phase has a row count and
 * a time limit.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LogQueryInputSchema, type LogFilter } from '../../main/contract/index.js';
import { DB_FILE, openDb } from '../../main/storage/db.js';
import { ThreadedLogWriter } from '../../main/storage/log-writer-thread.js';
import { LogReader } from '../../main/storage/log-reader.js';
import { rowGenerator } from '../helpers/log-rows.js';

const TOTAL = Number(process.env.LOG_BENCH_ROWS ?? 1_000_000);
const RATE = 20_000;
const STEADY_S = Number(process.env.LOG_BENCH_SECONDS ?? 10);
const dataDir = mkdtempSync(join(tmpdir(), 'gh-logbench-'));
const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lagMeter() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
}

function pct(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main() {
  console.log(`Gatehouse log benchmark: ${cpus().length} cores, data in ${dataDir}`);
  const db = openDb(dataDir);
  const writer = new ThreadedLogWriter({ dataDir, db, limits: { retentionDays: 3650, maxRows: 0, maxSizeMB: 0 }, onError: (e) => console.error('writer:', e) });
  let written = 0;
  writer.onRows((r) => (written += r.length));
  const gen = rowGenerator({ seed: 99, start: Date.now() - 30 * 60 * 60 * 1000, gapMs: 100 });
  let pushed = 0;

  /** pushes at `rate` rows/s (0: as fast as the thread keeps up) for `seconds` or until `limit` rows */
  async function ingest(rate: number, seconds: number, limit: number): Promise<{ rows: number; ms: number }> {
    const t0 = performance.now();
    const start = pushed;
    const deadline = t0 + seconds * 1000;
    while (pushed - start < limit && performance.now() < deadline) {
      if (rate > 0) {
        const due = Math.min(limit, Math.floor(((performance.now() - t0) / 1000) * rate));
        while (pushed - start < due) {
          writer.push(gen());
          pushed++;
        }
        await sleep(1);
      } else {
        // keep at most a few batches in flight: the rate is what the writing thread sustains
        if (writer.pending < 20_000) {
          for (let i = 0; i < 2000 && pushed - start < limit; i++) {
            writer.push(gen());
            pushed++;
          }
        }
        await sleep(writer.pending < 20_000 ? 0 : 5);
      }
    }
    await writer.flush();
    return { rows: pushed - start, ms: performance.now() - t0 };
  }

  // 1. ingest
  let stop = lagMeter();
  const steady = await ingest(RATE, STEADY_S, RATE * STEADY_S);
  const steadyLag = stop();
  stop = lagMeter();
  const fast = await ingest(0, STEADY_S, 10_000_000);
  const fastLag = stop();
  const onDisk = () => db.prepare('SELECT count(*) FROM log').pluck().get() as number;
  const lost = pushed - onDisk();
  console.log('\ningest (rows pushed on this thread, written by the writing thread)');
  console.log(`  steady ${RATE}/s for ${STEADY_S} s: ${fmt((steady.rows / steady.ms) * 1000, 0)} rows/s written; lag p50 ${fmt(steadyLag.p50)} ms, p99 ${fmt(steadyLag.p99)} ms, max ${fmt(steadyLag.max)} ms`);
  console.log(`  as fast as it goes for ${STEADY_S} s: ${fmt((fast.rows / fast.ms) * 1000, 0)} rows/s sustained; lag p50 ${fmt(fastLag.p50)} ms, p99 ${fmt(fastLag.p99)} ms, max ${fmt(fastLag.max)} ms`);
  console.log(`  rows pushed ${pushed}, listeners told ${written}, on disk ${onDisk()}: ${lost === 0 && written === pushed ? 'none lost' : `${lost} LOST`}`);

  // 2. grow to TOTAL rows
  const t0 = performance.now();
  if (pushed < TOTAL) await ingest(0, 600, TOTAL - pushed);
  console.log(`\nlog grown to ${onDisk().toLocaleString('en-US')} rows in ${fmt((performance.now() - t0) / 1000)} s; database ${fmt(statSync(join(dataDir, DB_FILE)).size / 1e6, 0)} MB`);

  // 3. query latency through the reading thread
  const reader = new LogReader({ dataDir, version: 'bench', checkpointMs: 250 });
  const newest = db.prepare('SELECT max(ts) FROM log').pluck().get() as number;
  const cases: Array<[string, LogFilter]> = [
    ['no filter', {}],
    ['one client', { clients: ['192.168.1.30'] }],
    ['one user', { users: ['carol'] }],
    ['one host', { hosts: ['www.site5.net'] }],
    ['status 5xx', { statusClasses: ['5xx'] }],
    ['4xx + 5xx', { statusClasses: ['4xx', '5xx'] }],
    ['denied', { allowed: false }],
    ['socks', { services: ['socks'] }],
    ['last hour', { from: newest - 3_600_000 }],
    ['≥ 400 kB', { minBytes: 400_000 }],
    ['client + 4xx', { clients: ['192.168.1.12'], statusClasses: ['4xx'] }],
    ['text "site12" (rare)', { text: 'site12' }],
    ['text "site1" (10%)', { text: 'site1' }],
    ['text "api v1" + user', { text: 'api v1', users: ['alice'] }],
  ];
  console.log('\nfirst page (200 rows), newest first, through the reading thread: ms');
  console.log(`  ${'filter'.padEnd(24)} ${'first'.padStart(7)} ${'p50'.padStart(7)} ${'p99'.padStart(7)}`);
  const p50s: number[] = [];
  for (const [name, filter] of cases) {
    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      await reader.call('query', LogQueryInputSchema.parse({ filter, limit: 200 }));
      times.push(performance.now() - t);
    }
    p50s.push(pct(times.slice(1), 50));
    console.log(`  ${name.padEnd(24)} ${fmt(times[0]!).padStart(7)} ${fmt(pct(times.slice(1), 50)).padStart(7)} ${fmt(pct(times.slice(1), 99)).padStart(7)}`);
  }
  // deep page: 50 pages in by keyset
  {
    const filter = { statusClasses: ['2xx' as const] };
    let page = await reader.call('query', LogQueryInputSchema.parse({ filter, limit: 200 }));
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const last = page.rows[page.rows.length - 1]!;
      const t = performance.now();
      page = await reader.call('query', LogQueryInputSchema.parse({ filter: { ...filter, maxId: page.maxId }, limit: 200, after: { key: last.ts, id: last.id } }));
      times.push(performance.now() - t);
    }
    console.log(`  ${'2xx, pages 2-51 (keyset)'.padEnd(24)} ${''.padStart(7)} ${fmt(pct(times, 50)).padStart(7)} ${fmt(pct(times, 99)).padStart(7)}`);
    const t = performance.now();
    await reader.call('query', LogQueryInputSchema.parse({ limit: 200, offset: Math.floor(TOTAL / 2) }));
    console.log(`  ${'jump to the middle'.padEnd(24)} ${fmt(performance.now() - t).padStart(7)}`);
  }
  for (const [name, filter] of [
    ['count, no filter', {}],
    ['count, 5xx', { statusClasses: ['5xx'] }],
    ['count, text "site1"', { text: 'site1' }],
  ] as Array<[string, LogFilter]>) {
    const t = performance.now();
    const r = await reader.call('count', { filter });
    console.log(`  ${name.padEnd(24)} ${fmt(performance.now() - t).padStart(7)}   (${r.count.toLocaleString('en-US')} rows)`);
  }

  // an export alone
  {
    const t = performance.now();
    const r = await reader.request('export', { filter: {}, sort: 'time', order: 'desc', format: 'jsonl', path: join(dataDir, 'alone.jsonl') }).done;
    const ms = performance.now() - t;
    console.log(`\nexport of every row to JSON lines, nothing else running: ${r.rows.toLocaleString('en-US')} rows in ${fmt(ms / 1000)} s (${fmt((r.rows / ms) * 1000, 0)} rows/s)`);
  }

  // 4. lag while ingesting with an export and heavy queries running
  stop = lagMeter();
  const exportPath = join(dataDir, 'bench-export.csv');
  const exportT0 = performance.now();
  const exp = reader.request('export', { filter: {}, sort: 'time', order: 'desc', format: 'csv', path: exportPath });
  let heavy = true;
  const heavyLoop = (async () => {
    let n = 0;
    while (heavy && n < 200) {
      await reader.call('count', { filter: { text: 'site1' } });
      await reader.call('query', LogQueryInputSchema.parse({ filter: { minDurationMs: 4000 }, sort: 'bytes', limit: 200 }));
      n++;
    }
    return n;
  })();
  const during = await ingest(RATE, STEADY_S, RATE * STEADY_S);
  const exported = await exp.done;
  const exportMs = performance.now() - exportT0;
  heavy = false;
  const heavyRuns = await heavyLoop;
  const busyLag = stop();
  console.log(`\nwhile exporting ${exported.rows.toLocaleString('en-US')} rows to CSV (${fmt(exported.bytes / 1e6, 0)} MB in ${fmt(exportMs / 1000)} s) and running ${heavyRuns} heavy count+query pairs:`);
  console.log(`  ingest ${fmt((during.rows / during.ms) * 1000, 0)} rows/s; lag p50 ${fmt(busyLag.p50)} ms, p99 ${fmt(busyLag.p99)} ms, max ${fmt(busyLag.max)} ms`);

  const ingestOk = (fast.rows / fast.ms) * 1000 >= 20_000 || (steady.rows / steady.ms) * 1000 >= 19_500;
  console.log(
    `\ntargets: ingest ≥ 20000 rows/s (${ingestOk ? 'met' : 'MISSED'}), lag p99 < 20 ms (${Math.max(steadyLag.p99, busyLag.p99) < 20 ? 'met' : 'MISSED'}), filtered first page p50 < 50 ms (worst ${fmt(Math.max(...p50s.slice(1)))} ms: ${Math.max(...p50s.slice(1)) < 50 ? 'met' : 'MISSED'}), no row lost (${lost === 0 ? 'met' : 'MISSED'})`,
  );
  await reader.close();
  await writer.close();
  db.close();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dataDir, { recursive: true, force: true }));
