/**
 * The renderer store, driven through getState() over a transport of our own
 * (the Transport interface the real IPC and HTTP transports implement), with
 * handlers standing in for the control service.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Transport } from '../../main/contract/client.js';
import {
  DEFAULT_SETTINGS,
  GatehouseError,
  SETTING_INFO,
  SETTING_KEYS,
  formatSetting,
  parseSettingText,
  type GatehouseEvent,
  type LogRow,
  type MethodName,
  type Settings,
  type Status,
} from '../../main/contract/index.js';
import type { StreamState } from '../../renderer/api/transport.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';
import { LOG_CAP, mergeRows } from '../../renderer/store/log.js';

type Handler = (input: any) => unknown;

function status(over: Partial<Status> = {}): Status {
  return {
    version: '0.1.0',
    sharing: false,
    services: [{ name: 'http', label: 'HTTP proxy', state: 'stopped', addresses: [], port: null, error: null }],
    lanAddresses: ['192.168.1.10'],
    admin: { url: 'http://127.0.0.1:8088' },
    dataDir: '/tmp/gh',
    startedAt: 1_700_000_000_000,
    activeConnections: 0,
    totalRequests: 0,
    ...over,
  };
}

function row(id: number, over: Partial<LogRow> = {}): LogRow {
  return {
    id,
    ts: 1_700_000_000_000 + id * 1000,
    service: 'http',
    clientAddr: '127.0.0.1',
    clientPort: 50000 + id,
    user: '',
    method: 'GET',
    url: `http://example.com/${id}`,
    host: 'example.com',
    port: 80,
    status: 200,
    bytesUp: 100,
    bytesDown: 2000,
    packetsUp: 0,
    packetsDown: 0,
    durationMs: 12,
    allowed: true,
    rule: '',
    error: '',
    ...over,
  };
}

/** A gateway in memory: settings, status and log, answering like the control service. */
function fakeGateway() {
  let settings: Settings = { ...DEFAULT_SETTINGS };
  const state = { status: status(), log: [] as LogRow[] };
  const handlers: Partial<Record<MethodName, Handler>> = {
    'status.get': () => state.status,
    'sharing.set': ({ enabled }: { enabled: boolean }) => {
      state.status = status({
        sharing: enabled,
        services: [
          {
            name: 'http',
            label: 'HTTP proxy',
            state: enabled ? 'running' : 'stopped',
            addresses: enabled ? ['0.0.0.0:8080'] : [],
            port: enabled ? 8080 : null,
            error: null,
          },
        ],
      });
      return state.status;
    },
    'settings.describe': () =>
      SETTING_KEYS.map((key) => ({
        key,
        value: settings[key],
        text: formatSetting(settings[key]),
        default: DEFAULT_SETTINGS[key],
        description: SETTING_INFO[key].description,
        example: SETTING_INFO[key].example,
      })),
    'settings.setText': ({ key, value }: { key: string; value: string }) => {
      settings = { ...settings, [key]: parseSettingText(key as keyof Settings, value) };
      return settings;
    },
    'log.recent': ({ limit, afterId }: { limit?: number; afterId?: number }) =>
      state.log
        .filter((r) => afterId === undefined || r.id > afterId)
        .sort((a, b) => b.id - a.id)
        .slice(0, limit ?? 100),
  };

  const listeners = new Set<(e: GatehouseEvent) => void>();
  const streamListeners = new Set<(s: StreamState) => void>();
  let stream: StreamState = 'connecting';
  const calls: Array<{ method: string; input: unknown }> = [];
  const gates = new Map<string, Promise<void>>();

  const transport: Transport = {
    async call(method, input) {
      calls.push({ method, input });
      await gates.get(method);
      const h = handlers[method as MethodName];
      if (!h) return { ok: false, error: { code: 'E_UNKNOWN_METHOD', message: `unknown method ${method}` } };
      try {
        return { ok: true, value: await h(input) };
      } catch (e) {
        return { ok: false, error: GatehouseError.from(e).toData() };
      }
    },
    subscribe(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
  };

  const api = {
    client: createClient(transport),
    onStreamState(cb: (s: StreamState) => void) {
      streamListeners.add(cb);
      cb(stream);
      return () => streamListeners.delete(cb);
    },
  };

  return {
    api,
    state,
    handlers,
    calls,
    listeners,
    emit: (e: GatehouseEvent) => listeners.forEach((l) => l(e)),
    setStream(s: StreamState) {
      stream = s;
      streamListeners.forEach((l) => l(s));
    },
    /** holds calls of `method` until the returned function is called */
    hold(method: string): () => void {
      let release!: () => void;
      gates.set(method, new Promise<void>((r) => (release = r)));
      return () => {
        gates.delete(method);
        release();
      };
    },
  };
}

async function started(gw = fakeGateway()): Promise<{ gw: ReturnType<typeof fakeGateway>; store: AppStore }> {
  const store = createAppStore(gw.api, { statusPollMs: 0, statusAfterLogMs: 5 });
  await store.getState().start();
  return { gw, store };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test('start loads status, settings and the recent log, then is ready', async () => {
  const gw = fakeGateway();
  gw.state.log = [row(1), row(2), row(3)];
  const { store } = await started(gw);
  const s = store.getState();
  assert.equal(s.phase, 'ready');
  assert.equal(s.status?.sharing, false);
  assert.deepEqual(
    s.rows.map((r) => r.id),
    [3, 2, 1],
  );
  assert.equal(s.settings.find((f) => f.key === 'http.port')?.text, '8080');
  assert.equal(s.settings.find((f) => f.key === 'listen')?.defaultText, '*');
  assert.equal(gw.listeners.size, 1, 'subscribed to events');
  s.stop();
  assert.equal(gw.listeners.size, 0, 'stop unsubscribes');
});

test('a 401 at start shows the sign-in screen and subscribes to nothing', async () => {
  const gw = fakeGateway();
  gw.handlers['status.get'] = () => {
    throw new GatehouseError('E_UNAUTHORIZED', 'not signed in');
  };
  const { store } = await started(gw);
  assert.equal(store.getState().phase, 'unauthorized');
  assert.equal(gw.listeners.size, 0);
});

test('an unreachable gateway at start can be retried', async () => {
  const gw = fakeGateway();
  const real = gw.handlers['status.get']!;
  gw.handlers['status.get'] = () => {
    throw new GatehouseError('E_UNAVAILABLE', 'Cannot reach Gatehouse (fetch failed).');
  };
  const { store } = await started(gw);
  assert.equal(store.getState().phase, 'unreachable');
  assert.match(store.getState().phaseError!.hint, /still running/);
  gw.handlers['status.get'] = real;
  await store.getState().retry();
  assert.equal(store.getState().phase, 'ready');
});

test('the sharing switch is pending while sharing.set runs, then shows the new status', async () => {
  const { gw, store } = await started();
  const release = gw.hold('sharing.set');
  const done = store.getState().setSharing(true);
  assert.equal(store.getState().sharingPending, true);
  // a second click while pending does not send a second call
  await store.getState().setSharing(false);
  release();
  await done;
  const s = store.getState();
  assert.equal(s.sharingPending, null);
  assert.equal(s.status?.sharing, true);
  assert.equal(s.status?.services[0]?.state, 'running');
  assert.equal(gw.calls.filter((c) => c.method === 'sharing.set').length, 1);
  assert.deepEqual(gw.calls.find((c) => c.method === 'sharing.set')?.input, { enabled: true });
});

test('port in use when enabling sharing: error says to change http.port in Settings', async () => {
  const { gw, store } = await started();
  gw.handlers['sharing.set'] = () => {
    throw new GatehouseError('E_PORT_IN_USE', 'listen EADDRINUSE: address already in use 0.0.0.0:8080');
  };
  await store.getState().setSharing(true);
  const s = store.getState();
  assert.equal(s.sharingPending, null);
  assert.equal(s.sharingError?.code, 'E_PORT_IN_USE');
  assert.match(s.sharingError!.message, /EADDRINUSE/);
  assert.match(s.sharingError!.hint, /http\.port in Settings/);
  assert.deepEqual(s.sharingError?.action, { label: 'Change the port in Settings', view: 'settings', focusKey: 'http.port' });
  s.setView(s.sharingError!.action!.view, s.sharingError!.action!.focusKey);
  assert.equal(store.getState().view, 'settings');
  assert.equal(store.getState().focusKey, 'http.port');
  store.getState().dismissSharingError();
  assert.equal(store.getState().sharingError, null);
});

test('log events add rows newest first, without duplicates, capped at LOG_CAP', async () => {
  const gw = fakeGateway();
  gw.state.log = [row(1), row(2)];
  const { store } = await started(gw);
  gw.emit({ type: 'log', rows: [row(2), row(3)] });
  assert.deepEqual(
    store.getState().rows.map((r) => r.id),
    [3, 2, 1],
  );
  const many = Array.from({ length: LOG_CAP + 50 }, (_, i) => row(10 + i));
  gw.emit({ type: 'log', rows: many });
  const rows = store.getState().rows;
  assert.equal(rows.length, LOG_CAP);
  assert.equal(rows[0]?.id, 10 + LOG_CAP + 49);
  assert.ok(rows.every((r, i) => i === 0 || rows[i - 1]!.id > r.id));
  store.getState().stop();
});

test('log rows refresh the counters shortly after they arrive', async () => {
  const { gw, store } = await started();
  gw.state.status = status({ totalRequests: 7, activeConnections: 1 });
  gw.emit({ type: 'log', rows: [row(1)] });
  await tick(30);
  assert.equal(store.getState().status?.totalRequests, 7);
  store.getState().stop();
});

test('status and settings events update the store', async () => {
  const { gw, store } = await started();
  gw.emit({ type: 'status', status: status({ sharing: true, activeConnections: 3 }) });
  assert.equal(store.getState().status?.activeConnections, 3);
  gw.emit({ type: 'settings', settings: { ...DEFAULT_SETTINGS, 'http.port': 9090 } });
  assert.equal(store.getState().settings.find((f) => f.key === 'http.port')?.text, '9090');
  store.getState().stop();
});

test('after the event stream was down, the store catches up on missed rows with afterId', async () => {
  const gw = fakeGateway();
  gw.state.log = [row(1), row(2)];
  const { store } = await started(gw);
  gw.setStream('connected');
  gw.setStream('reconnecting');
  assert.equal(store.getState().stream, 'reconnecting');
  gw.state.log.push(row(3), row(4));
  gw.setStream('connected');
  await tick(10);
  assert.deepEqual(
    store.getState().rows.map((r) => r.id),
    [4, 3, 2, 1],
  );
  const catchUp = gw.calls.filter((c) => c.method === 'log.recent').at(-1);
  assert.deepEqual(catchUp?.input, { limit: LOG_CAP, afterId: 2 });
  store.getState().stop();
});

test('a rejected setting keeps the typed text and shows the server message; a good one saves', async () => {
  const { gw, store } = await started();
  const s = store.getState();
  s.editSetting('http.port', '70000');
  assert.equal(store.getState().drafts['http.port'], '70000');
  const ok = await store.getState().saveSetting('http.port');
  assert.equal(ok, false);
  let st = store.getState();
  assert.equal(st.drafts['http.port'], '70000', 'the typed value is not lost');
  assert.match(st.fieldErrors['http.port']!, /setting http\.port: 70000 is not valid/);
  assert.equal(st.settings.find((f) => f.key === 'http.port')?.text, '8080');

  st.editSetting('http.port', '9090');
  assert.equal(store.getState().fieldErrors['http.port'], undefined, 'editing clears the error');
  assert.equal(await store.getState().saveSetting('http.port'), true);
  st = store.getState();
  assert.equal(st.drafts['http.port'], undefined);
  assert.equal(st.settings.find((f) => f.key === 'http.port')?.text, '9090');
  assert.ok(st.savedAt['http.port']);
  assert.deepEqual(gw.calls.filter((c) => c.method === 'settings.setText').at(-1)?.input, {
    key: 'http.port',
    value: '9090',
  });
  store.getState().stop();
});

test('typing the saved value back drops the draft; revert drops draft and error', async () => {
  const { store } = await started();
  const s = store.getState();
  s.editSetting('listen', '127.0.0.1');
  s.editSetting('listen', '*');
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
  const { gw, store } = await started();
  gw.handlers['sharing.set'] = () => {
    throw new GatehouseError('E_UNAUTHORIZED', 'session expired');
  };
  await store.getState().setSharing(true);
  assert.equal(store.getState().phase, 'unauthorized');
  assert.equal(gw.listeners.size, 0);
});

test('mergeRows keeps the newer copy of a row with the same id', () => {
  const merged = mergeRows([row(1, { status: 0 })], [row(1, { status: 204 })]);
  assert.equal(merged.length, 1);
  assert.equal(merged[0]?.status, 204);
});
