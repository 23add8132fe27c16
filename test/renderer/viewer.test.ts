/**
 * The log viewer's store slice (renderer/store/viewer.ts) against the real
 * query code on a real SQLite file (through the control service's validation,
 * without the threads): the first page and the count, pages fetched on demand
 * by keyset below and above a loaded page and by offset far from any, far
 * pages dropped, live rows on top only when they match, "new rows" counted
 * otherwise, filters reload, export events followed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Transport } from '../../main/contract/client.js';
import { LogQueryInputSchema, type ExportJob, type Handlers, type LogRow } from '../../main/contract/index.js';
import { Control } from '../../main/control/service.js';
import { openDb, type Db } from '../../main/storage/db.js';
import { LogWriter, recentLog } from '../../main/storage/log-writer.js';
import { countRows, queryPage } from '../../main/storage/log-query.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';
import { MAX_PAGES, PAGE, rowAt, viewLength } from '../../renderer/store/viewer.js';
import { rowGenerator } from '../helpers/log-rows.js';

const tmp = mkdtempSync(join(tmpdir(), 'gh-viewer-'));
let db: Db;
let all: LogRow[];
const calls: Array<{ method: string; input: any }> = [];

before(() => {
  db = openDb(join(tmp, 'd'));
  const w = new LogWriter(db, { delayMs: 60_000 });
  const gen = rowGenerator({ seed: 31 });
  for (let i = 0; i < 2500; i++) w.push(gen());
  w.close();
  all = recentLog(db, 10_000);
});
after(() => {
  db.close();
  rmSync(tmp, { recursive: true, force: true });
});

function store(): AppStore {
  const control = new Control({
    'log.query': (q) => queryPage(db, LogQueryInputSchema.parse(q)),
    'log.count': ({ filter }) => ({ ...countRows(db, filter), tookMs: 0 }),
    'log.export': ({ format }) => ({ id: 'job1', format, state: 'running', rows: 0, total: null, skipped: 0, bytes: 0, file: 'f.csv', path: '/x/f.csv', startedAt: 1, finishedAt: null, error: null }),
  } as Partial<Handlers> as Handlers);
  const transport: Transport = {
    call: (method, input) => {
      calls.push({ method, input });
      return control.call(method, input);
    },
    subscribe: () => () => {},
  };
  return createAppStore({ client: createClient(transport), onStreamState: () => () => {} }, { statusPollMs: 0 });
}

async function settle(s: AppStore): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = s.getState();
    if (Object.keys(st.vLoading).length === 0 && !st.vCounting) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the viewer did not settle');
}

test('loads the first page and the count, then the pages the table scrolls to: by keyset, backwards, or by offset', async () => {
  const s = store();
  await s.getState().reloadLog();
  await settle(s);
  let st = s.getState();
  assert.equal(st.vCount, 2500);
  assert.equal(viewLength(st), 2500);
  assert.deepEqual(st.vPages[0]!.map((r) => r.id), all.slice(0, PAGE).map((r) => r.id));

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
  st = s.getState();
  for (const i of [0, 199, 200, 300, 1800, 1999, 2000, 2010]) assert.equal(rowAt(st, i)?.id, all[i]!.id, `row ${i}`);
  assert.equal(rowAt(st, 1000), undefined, 'not loaded yet');
});

test('keeps at most MAX_PAGES pages, dropping the farthest', async () => {
  const s = store();
  await s.getState().reloadLog();
  await settle(s);
  // pretend a long scroll: many pages of a 100k-row log
  const fake: Record<number, LogRow[]> = {};
  for (let p = 0; p < MAX_PAGES + 30; p++) fake[p] = [all[0]!];
  s.setState({ vPages: fake, vCount: 1_000_000 });
  s.getState().ensureLogRows((MAX_PAGES + 40) * PAGE, (MAX_PAGES + 40) * PAGE + 1);
  await settle(s);
  const pages = Object.keys(s.getState().vPages).map(Number);
  assert.equal(pages.length, MAX_PAGES);
  assert.ok(!pages.includes(0), 'the page farthest away went');
});

test('live rows that match go on top in live mode; otherwise they are counted as new', async () => {
  const s = store();
  s.getState().setLogFilter({ statusClasses: ['5xx'] });
  s.getState().setLiveMode(true);
  await new Promise((r) => setTimeout(r, 20));
  await settle(s);
  const maxId = s.getState().vMaxId!;
  const count = s.getState().vCount!;
  const base = all[0]!;
  const newRow = (id: number, status: number): LogRow => ({ ...base, id, status, ts: base.ts + id });
  s.getState().viewerRows([newRow(maxId + 1, 503), newRow(maxId + 2, 200), newRow(maxId + 3, 500), newRow(maxId - 5, 500)]);
  let st = s.getState();
  assert.deepEqual(st.vLive.map((r) => r.id), [maxId + 3, maxId + 1]);
  assert.equal(viewLength(st), count + 2);
  assert.equal(rowAt(st, 0)!.id, maxId + 3);
  assert.equal(rowAt(st, 2)!.id, st.vPages[0]![0]!.id);
  s.getState().setLiveMode(false);
  await settle(s);
  s.getState().viewerRows([newRow(maxId + 10, 502)]);
  st = s.getState();
  assert.equal(st.vLive.length, 2, 'the rows shown stay; no more are added');
  assert.equal(st.vNew, 1);
});

test('a filter change reloads with the new filter; export events update the job', async () => {
  const s = store();
  s.getState().replaceLogFilter({ users: ['alice'] });
  await new Promise((r) => setTimeout(r, 20));
  await settle(s);
  assert.ok(s.getState().vPages[0]!.every((r) => r.user === 'alice'));
  assert.equal(s.getState().vCount, all.filter((r) => r.user === 'alice').length);
  await s.getState().startExport('csv');
  const sent = calls.filter((c) => c.method === 'log.export').at(-1)!;
  assert.deepEqual(sent.input.filter.users, ['alice']);
  assert.equal(s.getState().vExport?.state, 'running');
  const done: ExportJob = { ...s.getState().vExport!, state: 'done', rows: 10, finishedAt: 2 };
  s.getState().viewerExport(done);
  assert.equal(s.getState().vExport?.state, 'done');
  s.getState().viewerExport({ ...done, id: 'other', state: 'failed' });
  assert.equal(s.getState().vExport?.id, 'job1', 'another export does not replace the one shown');
});
