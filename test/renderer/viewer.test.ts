/**
 * The log viewer's store slice (renderer/store/viewer.ts) against a real
 * Gatehouse started in this process, reached through the renderer's web
 * transport signed in with the admin cookie (test/helpers/web-gateway.ts):
 * the service's own validation, its log-reading thread and its exports. The
 * data directory starts with 2,500 rows of an earlier run (written with the
 * log writer before the gateway opens it: that many requests through the
 * proxy would take most of a minute on a busy machine); rows that arrive
 * while the page is open are real requests through the HTTP proxy.
 * Covered: the first page and the count, pages fetched on demand by keyset
 * below and above a loaded page and by offset far from any, far pages
 * dropped, live rows on top only when they match, "new rows" counted
 * otherwise, filters reload, export events followed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ExportJob, GatehouseEvent, LogRow } from '../../main/contract/index.js';
import { openDb } from '../../main/storage/db.js';
import { LogWriter } from '../../main/storage/log-writer.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';
import { MAX_PAGES, PAGE, rowAt, viewLength } from '../../renderer/store/viewer.js';
import { rowGenerator } from '../helpers/log-rows.js';
import { ok, sleep, startWebGateway, until, type Session, type WebGateway } from '../helpers/web-gateway.js';

const EARLIER = 2500;

let gw: WebGateway;
/** every row, in the viewer's default order (time, newest first; id breaks ties) */
let all: LogRow[];
const stores: AppStore[] = [];

before(async () => {
  gw = await startWebGateway({
    sharing: 'on',
    prepare(dataDir) {
      const db = openDb(dataDir);
      const w = new LogWriter(db, { delayMs: 60_000 });
      const gen = rowGenerator({ seed: 31, start: Date.now() - 2 * 3_600_000 });
      for (let i = 0; i < EARLIER; i++) w.push(gen());
      w.close();
      db.close();
    },
  });
  all = (await gw.log(5000)).sort((a, b) => b.ts - a.ts || b.id - a.id);
  assert.equal(all.length, EARLIER);
});
after(async () => {
  for (const s of stores) s.getState().stop();
  await gw?.close();
});

async function store(opts: { start?: boolean } = {}): Promise<{ session: Session; s: AppStore }> {
  const session = await gw.session();
  const s = createAppStore(session.api, { statusPollMs: 0 });
  stores.push(s);
  if (opts.start) {
    await s.getState().start();
    await until('the event stream is up', () => s.getState().stream === 'connected');
  }
  return { session, s };
}

async function settle(s: AppStore): Promise<void> {
  await until('the viewer settles', () => {
    const st = s.getState();
    return Object.keys(st.vLoading).length === 0 && !st.vCounting;
  });
}

/** Requests through the proxy, one after another; returns their rows once the store has them as events. */
async function requests(s: AppStore, paths: string[]): Promise<LogRow[]> {
  const newest = (await gw.log(1))[0]!.id;
  for (const p of paths) await gw.get(p);
  const rows = await until('the rows are written', async () => {
    const r = (await gw.log(100)).filter((x) => x.id > newest);
    return r.length === paths.length && r.reverse();
  });
  await until('the rows arrived as events', () => rows.every((r) => s.getState().rows.some((x) => x.id === r.id)));
  return rows;
}

test('loads the first page and the count, then the pages the table scrolls to: by keyset, backwards, or by offset', async () => {
  const { session, s } = await store();
  await s.getState().reloadLog();
  await settle(s);
  let st = s.getState();
  assert.equal(st.vCount, EARLIER);
  assert.equal(viewLength(st), EARLIER);
  assert.deepEqual(
    st.vPages[0]!.map((r) => r.id),
    all.slice(0, PAGE).map((r) => r.id),
  );

  const { calls } = session;
  calls.length = 0;
  st.ensureLogRows(PAGE + 5, PAGE + 20); // the page below the first: a cursor
  await settle(s);
  assert.ok(calls.some((c) => c.method === 'log.query' && c.input.after), 'next page by keyset');
  st.ensureLogRows(2000, 2010); // far away: an offset
  await settle(s);
  assert.ok(calls.some((c) => c.input?.offset === 2000 - (2000 % PAGE)), 'far page by offset');
  calls.length = 0;
  st.ensureLogRows(2000 - PAGE, 2000 - PAGE + 3); // just above a loaded page: "before"
  await settle(s);
  assert.ok(calls.some((c) => c.input?.before), 'page above by "before"');
  assert.ok(calls.every((c) => c.result?.ok), 'every page answered');
  st = s.getState();
  for (const i of [0, 199, 200, 300, 1800, 1999, 2000, 2010]) assert.equal(rowAt(st, i)?.id, all[i]!.id, `row ${i}`);
  assert.equal(rowAt(st, 1000), undefined, 'not loaded yet');
});

test('keeps at most MAX_PAGES pages, dropping the farthest', async () => {
  const { s } = await store();
  await s.getState().reloadLog();
  await settle(s);
  // pretend a long scroll: many pages of a 100k-row log are loaded (the service answers the next one)
  const loaded: Record<number, LogRow[]> = {};
  for (let p = 0; p < MAX_PAGES + 30; p++) loaded[p] = [all[0]!];
  s.setState({ vPages: loaded, vCount: 1_000_000 });
  s.getState().ensureLogRows((MAX_PAGES + 40) * PAGE, (MAX_PAGES + 40) * PAGE + 1);
  await settle(s);
  const pages = Object.keys(s.getState().vPages).map(Number);
  assert.equal(pages.length, MAX_PAGES);
  assert.ok(!pages.includes(0), 'the page farthest away went');
  assert.ok(pages.includes(MAX_PAGES + 40), 'the page asked for is in');
});

test('live rows that match go on top in live mode; otherwise they are counted as new', async () => {
  const { s } = await store({ start: true });
  s.getState().setLogFilter({ statusClasses: ['5xx'] });
  s.getState().setLiveMode(true);
  await sleep(20);
  await settle(s);
  const count = s.getState().vCount!;
  assert.equal(count, all.filter((r) => r.status >= 500 && r.status <= 599).length);
  const [r503, , r500] = await requests(s, ['/status/503', '/hello', '/status/500']);
  let st = s.getState();
  assert.deepEqual(
    st.vLive.map((r) => r.id),
    [r500!.id, r503!.id],
  );
  assert.equal(viewLength(st), count + 2);
  assert.equal(rowAt(st, 0)!.id, r500!.id);
  assert.equal(rowAt(st, 2)!.id, st.vPages[0]![0]!.id);
  s.getState().setLiveMode(false);
  await settle(s);
  await requests(s, ['/status/502']);
  st = s.getState();
  assert.equal(st.vLive.length, 2, 'the rows shown stay; no more are added');
  assert.equal(st.vNew, 1);
});

test('a filter change reloads with the new filter; export events update the job', async () => {
  const { session, s } = await store({ start: true });
  const alice = all.filter((r) => r.user === 'alice').length;
  s.getState().replaceLogFilter({ users: ['alice'] });
  await sleep(20);
  await settle(s);
  assert.ok(s.getState().vPages[0]!.every((r) => r.user === 'alice'));
  assert.equal(s.getState().vCount, alice);
  await s.getState().startExport('csv');
  const sent = session.callsOf('log.export').at(-1)!;
  assert.deepEqual(sent.input.filter.users, ['alice']);
  const job = (sent.result as { ok: true; value: ExportJob }).value;
  assert.equal(job.state, 'running', 'the job as the call answered it');
  assert.equal(s.getState().vExport?.id, job.id);
  await until('the export finished', () => s.getState().vExport?.state === 'done');
  assert.equal(s.getState().vExport?.rows, alice);

  // an export started elsewhere (another admin page) does not replace the one shown
  const seen = session.recordEvents();
  try {
    const other = await ok<ExportJob>(gw.rt.control.call('log.export', { filter: {}, sort: 'time', order: 'desc', format: 'csv' }));
    const isOtherDone = (e: GatehouseEvent) => e.type === 'export' && e.job.id === other.id && e.job.state === 'done';
    await until('the other export finished', () => seen.events.some(isOtherDone));
    assert.equal(s.getState().vExport?.id, job.id);
    assert.equal(s.getState().vExport?.state, 'done');
  } finally {
    seen.stop();
  }
});
