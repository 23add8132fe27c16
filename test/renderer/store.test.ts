/**
 * The renderer store (connection, status, settings and log slices), driven
 * through getState() against a real Gatehouse started in this process: the
 * store reaches its web admin through the renderer's web transport, signed in
 * with the admin cookie (test/helpers/web-gateway.ts). Log rows and counters
 * come from real requests through the HTTP proxy; refusals are the service's
 * own; "unreachable" and "the event stream dropped" are the admin's address
 * taken down for real. Each test sets up the state it needs through the
 * control API, so none depends on another's leftovers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { LogRow, Settings, Status } from '../../main/contract/index.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';
import { LOG_CAP, mergeRows } from '../../renderer/store/log.js';
import { closedPort } from '../helpers/origin.js';
import { ok, startWebGateway, until, type Session, type WebGateway } from '../helpers/web-gateway.js';

let gw: WebGateway;
const stores: AppStore[] = [];

before(async () => {
  gw = await startWebGateway({ sharing: 'on' });
});
after(async () => {
  for (const s of stores) s.getState().stop();
  await gw?.close();
});

function store(session: Session): AppStore {
  const s = createAppStore(session.api, { statusPollMs: 0, statusAfterLogMs: 5 });
  stores.push(s);
  return s;
}

async function started(session?: Session): Promise<{ session: Session; store: AppStore }> {
  const se = session ?? (await gw.session());
  const s = store(se);
  await s.getState().start();
  return { session: se, store: s };
}

const setSharing = (enabled: boolean) => ok<Status>(gw.rt.control.call('sharing.set', { enabled }));
const updateSettings = (changes: Partial<Settings>) => ok<Settings>(gw.rt.control.call('settings.update', { changes }));
const ids = (rows: LogRow[]) => rows.map((r) => r.id);
const httpService = (s: Status | null) => s?.services.find((x) => x.name === 'http');

/** Sends n requests through the proxy, one after another on one connection, and waits until the log has them. */
async function traffic(n: number): Promise<LogRow[]> {
  const before = (await gw.log(1))[0]?.id ?? 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < n; i++) assert.equal(await gw.get(`/hello?n=${i}`, { agent }), 200);
  } finally {
    agent.destroy();
  }
  return until(`${n} rows written`, async () => {
    const rows = (await gw.log()).filter((r) => r.id > before);
    return rows.length >= n && rows;
  });
}

test('start loads status, settings and the recent log, then is ready', async () => {
  await setSharing(true);
  await traffic(3);
  await setSharing(false);
  const { session, store } = await started();
  const s = store.getState();
  assert.equal(s.phase, 'ready');
  assert.equal(s.status?.sharing, false);
  assert.deepEqual(ids(s.rows), [3, 2, 1], 'the three requests, newest first');
  // this run listens on a port picked at start (the override 0); the default shows as such
  assert.equal(s.settings.find((f) => f.key === 'http.port')?.text, '0');
  assert.equal(s.settings.find((f) => f.key === 'http.port')?.defaultText, '8080');
  assert.equal(s.settings.find((f) => f.key === 'listen')?.defaultText, '*');
  assert.equal(session.sources.live.size, 1, 'subscribed to events');
  s.stop();
  assert.equal(session.sources.live.size, 0, 'stop unsubscribes');
});

test('a 401 at start shows the sign-in screen and subscribes to nothing', async () => {
  const { session, store } = await started(await gw.session({ signedIn: false }));
  assert.equal(store.getState().phase, 'unauthorized');
  assert.equal(store.getState().phaseError?.code, 'E_UNAUTHORIZED');
  assert.equal(session.sources.created, 0);
});

test('an unreachable gateway at start can be retried', async () => {
  const session = await gw.session();
  await gw.relay.down();
  try {
    const s = store(session);
    await s.getState().start();
    assert.equal(s.getState().phase, 'unreachable');
    assert.equal(s.getState().phaseError?.code, 'E_UNAVAILABLE');
    assert.match(s.getState().phaseError!.message, /Cannot reach Gatehouse/);
    assert.match(s.getState().phaseError!.hint, /still running/);
    await gw.relay.up();
    await s.getState().retry();
    assert.equal(s.getState().phase, 'ready');
    s.getState().stop();
  } finally {
    await gw.relay.up();
  }
});

test('the sharing switch is pending while sharing.set runs, then shows the new status', async () => {
  await setSharing(false);
  const { session, store } = await started();
  assert.equal(httpService(store.getState().status)?.state, 'stopped');
  const release = session.hold('sharing.set');
  const done = store.getState().setSharing(true);
  assert.equal(store.getState().sharingPending, true);
  // a second click while pending does not send a second call
  await store.getState().setSharing(false);
  release();
  await done;
  const s = store.getState();
  assert.equal(s.sharingPending, null);
  assert.equal(s.status?.sharing, true);
  assert.equal(httpService(s.status)?.state, 'running');
  assert.equal(httpService(s.status)?.port, gw.proxyPort());
  assert.equal(session.callsOf('sharing.set').length, 1);
  assert.deepEqual(session.callsOf('sharing.set')[0]?.input, { enabled: true });
  s.stop();
});

test('port in use when enabling sharing: error says to change http.port in Settings', async () => {
  await setSharing(false);
  // another program holds the port the proxy is to listen on
  const other = net.createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as net.AddressInfo).port;
  try {
    await updateSettings({ 'http.port': port });
    const { store } = await started();
    await store.getState().setSharing(true);
    const s = store.getState();
    assert.equal(s.sharingPending, null);
    assert.equal(s.sharingError?.code, 'E_PORT_IN_USE');
    assert.match(s.sharingError!.message, new RegExp(`port ${port} is already in use`));
    assert.match(s.sharingError!.hint, /http\.port in Settings/);
    assert.deepEqual(s.sharingError?.action, { label: 'Change the port in Settings', view: 'settings', focusKey: 'http.port' });
    assert.equal(s.status?.sharing, false, 'the status shown after the failure is what the gateway does');
    s.setView(s.sharingError!.action!.view, s.sharingError!.action!.focusKey);
    assert.equal(store.getState().view, 'settings');
    assert.equal(store.getState().focusKey, 'http.port');
    store.getState().dismissSharingError();
    assert.equal(store.getState().sharingError, null);
    s.stop();
  } finally {
    await updateSettings({ 'http.port': 0 });
    await new Promise<void>((r) => other.close(() => r()));
  }
});

test('log events add rows newest first, without duplicates, capped at LOG_CAP', async () => {
  await setSharing(true);
  const session = await gw.session();
  // the first load of the log waits until rows have come as events too: the same rows arrive both ways
  const release = session.hold('log.recent');
  const s = store(session);
  const starting = s.getState().start();
  await until('the event stream is up', () => s.getState().stream === 'connected');
  const fresh = await traffic(2);
  await until('the rows came as events', () => fresh.every((r) => s.getState().rows.some((x) => x.id === r.id)));
  release();
  await starting;
  let server = await gw.log(LOG_CAP);
  assert.deepEqual(ids(s.getState().rows), ids(server), 'each row once, newest first');

  const many = await traffic(LOG_CAP + 50);
  const newest = Math.max(...ids(many));
  await until('the last rows arrived', () => s.getState().rows[0]?.id === newest);
  const rows = s.getState().rows;
  assert.equal(rows.length, LOG_CAP);
  server = await gw.log(LOG_CAP);
  assert.deepEqual(ids(rows), ids(server));
  assert.ok(rows.every((r, i) => i === 0 || rows[i - 1]!.id > r.id));
  s.getState().stop();
});

test('log rows refresh the counters shortly after they arrive', async () => {
  await setSharing(true);
  const { session, store } = await started();
  assert.equal(session.callsOf('status.get').length, 1);
  const [row] = await traffic(1);
  await until('the row arrived', () => store.getState().rows[0]?.id === row!.id);
  await until('the counters were asked for', () => session.callsOf('status.get').length >= 2, 2000);
  await until('the counters show the request', () => store.getState().status?.totalRequests === gw.rt.status().totalRequests);
  assert.ok(store.getState().status!.totalRequests >= 1);
  store.getState().stop();
});

test('status and settings events update the store', async () => {
  await setSharing(true);
  const { session, store } = await started();
  assert.equal(store.getState().status?.activeConnections, 0);
  // a request the origin never answers stays open: the gateway publishes its counters
  const open = gw.hold();
  try {
    await until('the open connection shows', () => store.getState().status?.activeConnections === 1, 3000);
    assert.equal(session.callsOf('status.get').length, 1, 'from the event, not asked for');
  } finally {
    await gw.endConnections();
    open.end();
    await open.done;
  }
  // a setting changed elsewhere (another admin page, the CLI)
  await updateSettings({ 'log.retentionDays': 45 });
  await until('the setting shows', () => store.getState().settings.find((f) => f.key === 'log.retentionDays')?.text === '45');
  assert.equal(session.callsOf('settings.describe').length, 1, 'from the event, not reloaded');
  store.getState().stop();
});

test('after the event stream was down, the store catches up on missed rows with afterId', async () => {
  await setSharing(true);
  await traffic(2);
  const { session, store } = await started();
  await until('the event stream is up', () => store.getState().stream === 'connected');
  const newestBefore = store.getState().rows[0]!.id;
  try {
    await gw.relay.down();
    await until('the store sees the stream down', () => store.getState().stream === 'reconnecting');
    // rows written meanwhile reach no page
    const missed = await traffic(2);
    assert.equal(store.getState().rows[0]!.id, newestBefore);
    await gw.relay.up();
    await until('reconnected and caught up', () => store.getState().stream === 'connected' && store.getState().rows[0]?.id === Math.max(...ids(missed)), 8000);
  } finally {
    await gw.relay.up();
  }
  assert.deepEqual(ids(store.getState().rows), ids(await gw.log(LOG_CAP)));
  const catchUp = session.callsOf('log.recent').at(-1);
  assert.deepEqual(catchUp?.input, { limit: LOG_CAP, afterId: newestBefore });
  store.getState().stop();
});

test('a rejected setting keeps the typed text and shows the server message; a good one saves', async () => {
  await setSharing(false);
  const free = await closedPort();
  try {
    const { session, store } = await started();
    const saved = store.getState().settings.find((f) => f.key === 'http.port')?.text;
    const s = store.getState();
    s.editSetting('http.port', '70000');
    assert.equal(store.getState().drafts['http.port'], '70000');
    const refused = await store.getState().saveSetting('http.port');
    assert.equal(refused, false);
    let st = store.getState();
    assert.equal(st.drafts['http.port'], '70000', 'the typed value is not lost');
    assert.match(st.fieldErrors['http.port']!, /setting http\.port: 70000 is not valid/);
    assert.equal(st.settings.find((f) => f.key === 'http.port')?.text, saved);

    st.editSetting('http.port', String(free));
    assert.equal(store.getState().fieldErrors['http.port'], undefined, 'editing clears the error');
    assert.equal(await store.getState().saveSetting('http.port'), true);
    st = store.getState();
    assert.equal(st.drafts['http.port'], undefined);
    assert.equal(st.settings.find((f) => f.key === 'http.port')?.text, String(free));
    assert.ok(st.savedAt['http.port']);
    assert.deepEqual(session.callsOf('settings.setText').at(-1)?.input, { key: 'http.port', value: String(free) });
    const onServer = await ok<Settings>(gw.rt.control.call('settings.get', {}));
    assert.equal(onServer['http.port'], free);
    store.getState().stop();
  } finally {
    await updateSettings({ 'http.port': 0 });
  }
});

test('typing the saved value back drops the draft; revert drops draft and error', async () => {
  const { store } = await started();
  const s = store.getState();
  // this run listens on loopback only (its override of "listen")
  assert.equal(s.settings.find((f) => f.key === 'listen')?.text, '127.0.0.1');
  s.editSetting('listen', '*');
  s.editSetting('listen', '127.0.0.1');
  assert.equal(store.getState().drafts.listen, undefined);
  s.editSetting('listen', 'not-an-ip');
  await store.getState().saveSetting('listen');
  assert.match(store.getState().fieldErrors.listen!, /"not-an-ip" is not an IP address/);
  store.getState().revertSetting('listen');
  assert.equal(store.getState().drafts.listen, undefined);
  assert.equal(store.getState().fieldErrors.listen, undefined);
  store.getState().stop();
});

test('a 401 during use switches to the sign-in screen and stops listening', async () => {
  const { session, store } = await started();
  assert.equal(session.sources.live.size, 1);
  session.signOut();
  await store.getState().setSharing(true);
  assert.equal(store.getState().phase, 'unauthorized');
  assert.equal(session.sources.live.size, 0);
  assert.equal(session.callsOf('sharing.set')[0]?.result?.ok, false);
});

test('mergeRows keeps the newer copy of a row with the same id', () => {
  const row = (id: number, status: number): LogRow => ({
    id,
    ts: 1_700_000_000_000,
    service: 'http',
    clientAddr: '127.0.0.1',
    clientPort: 50000,
    user: '',
    method: 'GET',
    url: 'http://example.com/',
    host: 'example.com',
    port: 80,
    status,
    bytesUp: 100,
    bytesDown: 2000,
    packetsUp: 0,
    packetsDown: 0,
    durationMs: 12,
    allowed: true,
    rule: '',
    error: '',
    chain: '',
    mapping: '',
  });
  const merged = mergeRows([row(1, 0)], [row(1, 204)]);
  assert.equal(merged.length, 1);
  assert.equal(merged[0]?.status, 204);
});
