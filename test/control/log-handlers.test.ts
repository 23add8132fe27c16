/**
 * The log viewer's control API on a running gateway (startRuntime in this
 * process, real proxy, real loopback origin): requests made through the proxy
 * are found with filters and text search, counted, exported with `export`
 * events (and downloaded from the web admin with the admin token only),
 * summed up by the statistics; log.info tells the database size and limits,
 * and a retention change reaches the writing thread; a clean stop loses no row.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { ExportJob, GatehouseEvent, LogPage, LogRow } from '../../main/contract/index.js';
import { startGateway, readLog, type TestGateway } from '../helpers/gateway.js';
import { startHttpOrigin, type Origin } from '../helpers/origin.js';
import { harErrors } from '../helpers/har.js';

let gw: TestGateway;
let origin: Origin;

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'GET', path: `${origin.url}${path}`, agent: false });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await gw.rt.control.call(method, input);
  if (!r.ok) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
  return r.value as T;
}

before(async () => {
  origin = await startHttpOrigin();
  gw = await startGateway({}, { admin: true });
  for (let i = 0; i < 12; i++) await get(`/hello?n=${i}`);
  for (let i = 0; i < 3; i++) await get(`/status/503?q=${i}`);
  await get('/status/404');
  await gw.logRows(16);
});
after(async () => {
  await gw?.close();
  await origin?.close();
});

test('log.query finds the proxied requests by status class, text and host, newest first, with a snapshot', async () => {
  const all = await call<LogPage>('log.query', { limit: 100 });
  assert.equal(all.rows.length, 16);
  assert.ok(all.rows.every((r, i) => i === 0 || r.ts <= all.rows[i - 1]!.ts));
  const errors = await call<LogPage>('log.query', { filter: { statusClasses: ['5xx'] } });
  assert.deepEqual(errors.rows.map((r) => r.status), [503, 503, 503]);
  const text = await call<LogPage>('log.query', { filter: { text: 'hello' } });
  assert.equal(text.rows.length, 12);
  const host = all.rows[0]!.host;
  const byHost = await call<LogPage>('log.query', { filter: { hosts: [host], statuses: [404] } });
  assert.equal(byHost.rows.length, 1);
  const page1 = await call<LogPage>('log.query', { limit: 5 });
  const last = page1.rows[4]!;
  const page2 = await call<LogPage>('log.query', { limit: 5, filter: { maxId: page1.maxId }, after: { key: last.ts, id: last.id } });
  assert.deepEqual([...page1.rows, ...page2.rows].map((r) => r.id), all.rows.slice(0, 10).map((r) => r.id));
  const bad = await gw.rt.control.call('log.query', { filter: { statusClasses: ['6xx'] } });
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.error.code, 'E_VALIDATION');
});

test('log.count counts what the filter matches', async () => {
  const r = await call<{ count: number }>('log.count', { filter: { text: 'status' } });
  assert.equal(r.count, 4);
});

test('log.export writes the filtered rows with progress events; the web admin serves the file to the admin only', async () => {
  const events: ExportJob[] = [];
  const off = gw.rt.control.subscribe((e: GatehouseEvent) => {
    if (e.type === 'export') events.push(e.job);
  });
  try {
    const job = await call<ExportJob>('log.export', { format: 'har', filter: { statusClasses: ['2xx'] } });
    assert.equal(job.state, 'running');
    for (let i = 0; i < 200 && events.at(-1)?.state !== 'done'; i++) await new Promise((r) => setTimeout(r, 25));
    const done = events.at(-1)!;
    assert.equal(done.state, 'done', JSON.stringify(events));
    assert.equal(done.rows, 12);
    assert.equal(done.total, 12);
    const har = JSON.parse(readFileSync(done.path, 'utf8')) as { log: { entries: Array<{ request: { url: string } }> } };
    assert.deepEqual(harErrors(har), []);
    assert.equal(har.log.entries.length, 12);
    assert.ok(har.log.entries.every((e) => e.request.url.includes('/hello')));
    const list = await call<ExportJob[]>('log.exports', {});
    assert.equal(list[0]!.id, job.id);

    const url = `${gw.rt.adminUrl}/api/exports/${done.file}`;
    const denied = await fetch(url);
    assert.equal(denied.status, 401);
    const ok = await fetch(url, { headers: { Authorization: `Bearer ${gw.rt.adminToken}` } });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-disposition') ?? '', /attachment; filename="gatehouse-log-.*\.har"/);
    assert.equal(await ok.text(), readFileSync(done.path, 'utf8'));
    const escape = await fetch(`${gw.rt.adminUrl}/api/exports/..%2Fgatehouse.db`, { headers: { Authorization: `Bearer ${gw.rt.adminToken}` } });
    assert.equal(escape.status, 404);
    const missing = await gw.rt.control.call('log.exportCancel', { id: 'nope' });
    assert.equal(!missing.ok && missing.error.code, 'E_NOT_FOUND');
  } finally {
    off();
  }
});

test('statistics sum the requests of the period; log.info tells the size and the limits in force', async () => {
  const now = Date.now();
  const t = await call<{ totals: { requests: number; errors: number } }>('stats.traffic', { from: now - 3_600_000, to: now + 60_000 });
  assert.equal(t.totals.requests, 16);
  const top = await call<{ items: Array<{ key: string; requests: number }> }>('stats.top', { from: now - 3_600_000, to: now + 60_000, dim: 'client', by: 'requests' });
  assert.deepEqual(top.items.map((i) => [i.key, i.requests]), [['127.0.0.1', 16]]);
  const info = await call<{ rows: number; dbBytes: number; retentionDays: number; maxSizeMB: number; maxRows: number }>('log.info', {});
  assert.equal(info.rows, 16);
  assert.ok(info.dbBytes > 0);
  assert.equal(info.retentionDays, 30);
  assert.equal(info.maxSizeMB, 2048);
  await call('settings.update', { changes: { 'log.maxRows': 10 } });
  // the writing thread prunes to the new limit on its own (bounded wait)
  let left = 16;
  for (let i = 0; i < 150 && left > 10; i++) {
    await new Promise((r) => setTimeout(r, 40));
    left = (await call<LogPage>('log.query', { limit: 100 })).rows.length;
  }
  assert.equal(left, 10);
  await call('settings.update', { changes: { 'log.maxRows': 0 } });
});

test('a clean stop writes every row it was handed', async () => {
  const g = await startGateway();
  try {
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: g.port, method: 'GET', path: `${origin.url}/hello?stop=${i}`, agent: false });
        req.on('response', (res) => res.resume().on('end', () => resolve()));
        req.on('error', reject);
        req.end();
      });
    }
  } finally {
    const dir = g.dataDir;
    await g.rt.stop(500);
    const rows: LogRow[] = readLog(dir);
    assert.equal(rows.filter((r) => r.url.includes('stop=')).length, 5);
    await g.close();
  }
});
