/**
 * `gatehouse logs` with the viewer's filters as flags, and `--export`, run as
 * a child process against a data directory filled with generated rows: the
 * flags pick the same rows as the query API; --count counts; --export writes
 * CSV that parses, JSON lines and HAR that validates; bad flags are usage
 * errors (exit 2) that say what was wrong. Also the flag parsers themselves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { LogFilter, LogRow } from '../../main/contract/index.js';
import { matchesLogFilter } from '../../main/contract/log-filter.js';
import { openDb } from '../../main/storage/db.js';
import { LogWriter, recentLog } from '../../main/storage/log-writer.js';
import { parseStatus, parseWhen } from '../../main/cli/logs.js';
import { rowGenerator } from '../helpers/log-rows.js';
import { harErrors } from '../helpers/har.js';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'gh-cli-logs-'));
const dir = join(tmp, 'data');
let all: LogRow[] = [];
const NOW = Date.now();

before(() => {
  const db = openDb(dir);
  const w = new LogWriter(db, { delayMs: 60_000 });
  const gen = rowGenerator({ seed: 21, start: NOW - 2 * 3_600_000, gapMs: 2000, hosts: 50, clients: 8 });
  for (let i = 0; i < 1500; i++) w.push(gen());
  w.close();
  all = recentLog(db, 10_000);
  db.close();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'logs', '--data-dir', dir, ...args], { cwd: ROOT, timeout: 20_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const want = (f: LogFilter) => all.filter((r) => matchesLogFilter(r, f));

test('filters by client, user, service, status and text; --json prints the newest N, oldest first', async () => {
  const f: LogFilter = { clients: ['192.168.1.10'], services: ['http'], statusClasses: ['2xx', '4xx'], text: 'site1' };
  const r = await cli('--client', '192.168.1.10', '--service', 'http', '--status', '2xx,4xx', '--text', 'site1', '--limit', '7', '--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as LogRow);
  assert.deepEqual(rows.map((x) => x.id), want(f).slice(0, 7).map((x) => x.id).reverse());
  const users = await cli('--user', 'bob', '--denied', '--json', '--limit', '1000');
  assert.deepEqual(users.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as LogRow).id).reverse(), want({ users: ['bob'], allowed: false }).map((x) => x.id));
});

test('--since and --until take relative times; --count counts', async () => {
  const since = NOW - 30 * 60_000;
  const r = await cli('--since', '30m', '--count');
  assert.equal(r.code, 0, r.stderr);
  // the CLI's "now" is a moment later than ours: allow the rows of that moment
  const n = Number(r.stdout.trim());
  assert.ok(Math.abs(n - want({ from: since }).length) <= 2, `${n} vs ${want({ from: since }).length}`);
  const none = await cli('--until', '3h');
  assert.equal(none.stdout, 'No rows match.\n');
  const text = await cli('--limit', '3');
  assert.equal(text.stdout.trim().split('\n').length, 3);
  assert.match(text.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}/);
});

test('--export csv, jsonl and har write every matching row to the file', async () => {
  const csvPath = join(tmp, 'out.csv');
  const r = await cli('--status', '5xx', '--export', 'csv', '--out', csvPath);
  assert.equal(r.code, 0, r.stderr);
  const expected = want({ statusClasses: ['5xx'] });
  assert.match(r.stderr, new RegExp(`wrote ${expected.length} rows to`));
  const records = parse(readFileSync(csvPath, 'utf8'), { columns: true }) as Array<{ id: string; status: string }>;
  assert.deepEqual(records.map((x) => Number(x.id)), expected.map((x) => x.id));

  const jl = await cli('--user', 'alice', '--export', 'jsonl', '--out', '-');
  assert.deepEqual(jl.stdout.trim().split('\n').map((l) => (JSON.parse(l) as LogRow).id), want({ users: ['alice'] }).map((x) => x.id));

  const harPath = join(tmp, 'out.har');
  const h = await cli('--export', 'har', '--out', harPath, '--sort', 'bytes');
  assert.equal(h.code, 0, h.stderr);
  const doc = JSON.parse(readFileSync(harPath, 'utf8')) as { log: { entries: Array<{ _gatehouse: { bytesUp: number; bytesDown: number } }> } };
  assert.deepEqual(harErrors(doc), []);
  const sizes = doc.log.entries.map((e) => e._gatehouse.bytesUp + e._gatehouse.bytesDown);
  assert.ok(sizes.every((s, i) => i === 0 || s <= sizes[i - 1]!), 'biggest first');
  assert.match(h.stderr, /not HTTP requests left out/);
});

test('bad flags are usage errors that say what was wrong', async () => {
  const cases = [
    [['--status', '7xx'], /--status: "7xx" is not a status code/],
    [['--since', 'yesterday'], /--since: "yesterday" is not a time/],
    [['--export', 'xml', '--out', 'x'], /--export: "xml" must be one of csv, jsonl, har/],
    [['--export', 'csv'], /--export needs --out FILE/],
    [['--denied', '--allowed'], /exclude each other/],
    [['--sort', 'size'], /--sort: "size" must be one of time, duration, bytes/],
    [['--limit', '0'], /--limit: "0"/],
  ] as const;
  // each is a child process: run them side by side
  const runs = await Promise.all(cases.map(([args]) => cli(...args)));
  cases.forEach(([args, msg], i) => {
    assert.equal(runs[i]!.code, 2, `${args.join(' ')}: ${runs[i]!.stderr}`);
    assert.match(runs[i]!.stderr, msg);
  });
});

test('parseWhen and parseStatus', () => {
  const now = Date.UTC(2026, 0, 31, 12);
  assert.equal(parseWhen('since', '15m', now), now - 15 * 60_000);
  assert.equal(parseWhen('since', '2d', now), now - 2 * 86_400_000);
  assert.equal(parseWhen('since', '1767225600000', now), 1767225600000);
  assert.equal(parseWhen('since', '2026-01-31T08:00:00Z', now), Date.UTC(2026, 0, 31, 8));
  assert.equal(parseWhen('since', '2026-01-31', now), new Date(2026, 0, 31).getTime());
  assert.equal(parseWhen('since', '2026-01-31 08:30', now), new Date(2026, 0, 31, 8, 30).getTime());
  assert.throws(() => parseWhen('until', 'soon', now), /--until: "soon"/);
  assert.deepEqual(parseStatus('404, 5xx other'), { statuses: [404], statusClasses: ['5xx', 'other'] });
});
