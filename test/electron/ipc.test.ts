/**
 * The IPC transport end to end, minus Electron: the page's bridge
 * (bridge.ts, what the preload exposes) talks through a fake ipcRenderer /
 * ipcMain pair to registerIpc (ipc.ts) and a small fake control service.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatehouseEvent, Result, Status } from '../../main/contract/index.js';
import type { ControlService } from '../../main/control/types.js';
import { createBridge } from '../../main/electron/bridge.js';
import { CALL_CHANNEL, EVENT_CHANNEL } from '../../main/electron/channels.js';
import { registerIpc, windowSenderCheck } from '../../main/electron/ipc.js';
import { APP_ENTRY_URL } from '../../main/electron/security.js';
import { FakeFrame, FakeIpcMain, FakeWebContents, settle } from './fake-electron.js';

const STATUS: Status = {
  version: '0.1.0',
  sharing: true,
  services: [{ name: 'http', label: 'HTTP proxy', state: 'running', addresses: ['0.0.0.0:8080'], port: 8080, error: null }],
  lanAddresses: ['192.168.1.20'],
  admin: { url: 'http://127.0.0.1:8088' },
  dataDir: '/tmp/gatehouse',
  startedAt: 1_700_000_000_000,
  activeConnections: 0,
  totalRequests: 0,
};

/** A control service that answers status.get and sharing.set and records calls. */
function fakeControl() {
  const calls: Array<{ method: string; input: unknown }> = [];
  const subscribers = new Set<(e: GatehouseEvent) => void>();
  let status = STATUS;
  const control: ControlService & { throwOn?: string } = {
    async call(method, input): Promise<Result<unknown>> {
      calls.push({ method, input });
      if (method === control.throwOn) throw new Error('database is locked');
      if (method === 'status.get') return { ok: true, value: status };
      if (method === 'sharing.set') {
        const enabled = (input as { enabled?: unknown } | null)?.enabled;
        if (typeof enabled !== 'boolean') {
          return { ok: false, error: { code: 'E_VALIDATION', message: `enabled must be true or false, got ${JSON.stringify(enabled)}` } };
        }
        status = { ...status, sharing: enabled };
        return { ok: true, value: status };
      }
      return { ok: false, error: { code: 'E_UNKNOWN_METHOD', message: `unknown method "${method}"` } };
    },
    subscribe(cb) {
      subscribers.add(cb);
      return () => subscribers.delete(cb);
    },
  };
  return { control, calls, subscribers, emit: (e: GatehouseEvent) => subscribers.forEach((cb) => cb(e)) };
}

/** Our window showing the renderer, IPC registered as main.ts does it. */
function setup() {
  const ipcMain = new FakeIpcMain();
  const ours = new FakeWebContents(ipcMain, APP_ENTRY_URL);
  let window: FakeWebContents | null = ours;
  const svc = fakeControl();
  const refused: Array<{ method: string; url: string | null }> = [];
  const dispose = registerIpc(ipcMain, svc.control, {
    isTrustedSender: windowSenderCheck(() => window),
    eventTarget: () => window,
    onRefused: ({ method, url }) => refused.push({ method, url }),
  });
  return {
    ipcMain,
    ours,
    svc,
    refused,
    dispose,
    bridge: createBridge(ours.ipcRenderer),
    closeWindow: () => (window = null),
  };
}

const statusEvent: GatehouseEvent = { type: 'status', status: STATUS };

test('a call from the Gatehouse window reaches the control service and its result comes back', async () => {
  const { bridge, svc } = setup();
  const r = await bridge.call('sharing.set', { enabled: false });
  assert.deepEqual(r, { ok: true, value: { ...STATUS, sharing: false } });
  assert.deepEqual(svc.calls, [{ method: 'sharing.set', input: { enabled: false } }]);
});

test("the control service's errors come back to the page as data", async () => {
  const { bridge } = setup();
  assert.deepEqual(await bridge.call('sharing.set', { enabled: 'yes' }), {
    ok: false,
    error: { code: 'E_VALIDATION', message: 'enabled must be true or false, got "yes"' },
  });
  const unknown = await bridge.call('nope.nothing', {});
  assert.equal(unknown.ok, false);
  assert.equal(!unknown.ok && unknown.error.code, 'E_UNKNOWN_METHOD');
});

test('a control service that throws still answers the page with E_INTERNAL data', async () => {
  const { bridge, svc } = setup();
  svc.control.throwOn = 'status.get';
  assert.deepEqual(await bridge.call('status.get', {}), {
    ok: false,
    error: { code: 'E_INTERNAL', message: 'database is locked' },
  });
});

test('refuses with E_FORBIDDEN a call from another window and never reaches the control service', async () => {
  const { ipcMain, svc, refused } = setup();
  const other = new FakeWebContents(ipcMain, APP_ENTRY_URL); // same page, but not our window
  const r = await createBridge(other.ipcRenderer).call('sharing.set', { enabled: false });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'E_FORBIDDEN');
  assert.match(!r.ok ? r.error.message : '', /"sharing\.set" refused/);
  assert.deepEqual(svc.calls, []);
  assert.deepEqual(refused, [{ method: 'sharing.set', url: APP_ENTRY_URL }]);
});

test('refuses a call from our window once it shows a page that is not the renderer', async () => {
  const { ours, svc } = setup();
  ours.mainFrame.url = 'https://evil.example/'; // e.g. a navigation that slipped through
  const r = await createBridge(ours.ipcRenderer).call('status.get', {});
  assert.deepEqual(r.ok ? null : r.error.code, 'E_FORBIDDEN');
  assert.match(!r.ok ? r.error.message : '', /"https:\/\/evil\.example\/"/);
  assert.deepEqual(svc.calls, []);
});

test('refuses a call from a frame inside our window, even one showing our own origin', async () => {
  const { ours, svc } = setup();
  const iframe = new FakeFrame(APP_ENTRY_URL, ours.mainFrame);
  const r = await createBridge(ours.rendererIn(iframe)).call('status.get', {});
  assert.equal(!r.ok && r.error.code, 'E_FORBIDDEN');
  assert.deepEqual(svc.calls, []);
});

test('refuses a call whose frame is gone, and any call once the window is closed', async () => {
  const { ours, svc, closeWindow } = setup();
  const gone = await createBridge(ours.rendererIn(null)).call('status.get', {});
  assert.equal(!gone.ok && gone.error.code, 'E_FORBIDDEN');
  assert.match(!gone.ok ? gone.error.message : '', /a frame that is gone/);
  closeWindow();
  const late = await createBridge(ours.ipcRenderer).call('status.get', {});
  assert.equal(!late.ok && late.error.code, 'E_FORBIDDEN');
  assert.deepEqual(svc.calls, []);
});

test('refuses a raw invoke whose method is not a string, and a trusted one gets E_VALIDATION', async () => {
  const { ipcMain, ours, svc } = setup();
  const stranger = new FakeWebContents(ipcMain, 'https://evil.example/');
  const forbidden = await stranger.ipcRenderer.invoke(CALL_CHANNEL, 42, {});
  assert.equal((forbidden as Result<unknown>).ok, false);
  assert.equal((forbidden as { error: { code: string } }).error.code, 'E_FORBIDDEN');
  const invalid = await ours.ipcRenderer.invoke(CALL_CHANNEL, { method: 'status.get' }, {});
  assert.deepEqual(invalid, { ok: false, error: { code: 'E_VALIDATION', message: 'method must be a string, got object' } });
  assert.deepEqual(svc.calls, []);
});

test('control events reach the page callback with the event alone, not the IPC event', async () => {
  const { bridge, svc } = setup();
  const received: unknown[][] = [];
  bridge.onEvent((...args) => received.push(args));
  svc.emit(statusEvent);
  await settle();
  assert.deepEqual(received, [[statusEvent]]);
});

test('unsubscribing stops events for that callback while other callbacks keep receiving them', async () => {
  const { bridge, svc, ours } = setup();
  const first: GatehouseEvent[] = [];
  const second: GatehouseEvent[] = [];
  const stopFirst = bridge.onEvent((e) => first.push(e));
  bridge.onEvent((e) => second.push(e));
  svc.emit(statusEvent);
  await settle();
  stopFirst();
  stopFirst(); // a second call is harmless
  const logEvent: GatehouseEvent = { type: 'log', rows: [] };
  svc.emit(logEvent);
  await settle();
  assert.deepEqual(first, [statusEvent]);
  assert.deepEqual(second, [statusEvent, logEvent]);
  assert.equal(ours.listenerCount(EVENT_CHANNEL), 1);
});

test('events go to our window only: not to other windows, not to a foreign page, not after it is destroyed', async () => {
  const { ipcMain, ours, svc, bridge } = setup();
  const other = new FakeWebContents(ipcMain, APP_ENTRY_URL);
  const elsewhere: GatehouseEvent[] = [];
  createBridge(other.ipcRenderer).onEvent((e) => elsewhere.push(e));
  const mine: GatehouseEvent[] = [];
  bridge.onEvent((e) => mine.push(e));

  svc.emit(statusEvent);
  await settle();
  ours.mainFrame.url = 'https://evil.example/';
  svc.emit(statusEvent); // log rows and status must not reach a foreign page
  await settle();
  ours.mainFrame.url = APP_ENTRY_URL;
  ours.destroyed = true;
  svc.emit(statusEvent); // sending to a destroyed webContents would throw in Electron
  await settle();

  assert.deepEqual(mine, [statusEvent]);
  assert.deepEqual(elsewhere, []);
});

test('disposing the IPC wiring removes the handler and the control subscription', async () => {
  const { ipcMain, svc, dispose, bridge } = setup();
  assert.equal(svc.subscribers.size, 1);
  dispose();
  assert.equal(ipcMain.handlers.has(CALL_CHANNEL), false);
  assert.equal(svc.subscribers.size, 0);
  // A page calling after that gets data (E_INTERNAL from the rejected invoke), not an exception.
  const r = await bridge.call('status.get', {});
  assert.equal(!r.ok && r.error.code, 'E_INTERNAL');
  assert.match(!r.ok ? r.error.message : '', /No handler registered/);
});

test('the bridge exposes only call and onEvent, frozen, and nothing that leads to ipcRenderer', () => {
  const ipcRenderer = new FakeWebContents(new FakeIpcMain(), APP_ENTRY_URL).ipcRenderer;
  const bridge = createBridge(ipcRenderer);
  assert.deepEqual(Reflect.ownKeys(bridge).sort(), ['call', 'onEvent']);
  assert.equal(Object.isFrozen(bridge), true);
  assert.equal(typeof bridge.call, 'function');
  assert.equal(typeof bridge.onEvent, 'function');
  for (const key of Reflect.ownKeys(bridge)) assert.notEqual((bridge as never)[key], ipcRenderer);
  assert.throws(() => {
    (bridge as unknown as Record<string, unknown>).invoke = ipcRenderer.invoke;
  }, TypeError);
});

test('bridge.call with a method that is not a string resolves to E_VALIDATION without reaching main', async () => {
  const { bridge, svc } = setup();
  const r = await bridge.call(undefined as unknown as string, {});
  assert.deepEqual(r, { ok: false, error: { code: 'E_VALIDATION', message: 'method must be a non-empty string, got undefined' } });
  const empty = await bridge.call('', {});
  assert.equal(!empty.ok && empty.error.code, 'E_VALIDATION');
  assert.deepEqual(svc.calls, []);
});

test('bridge.call with input that cannot cross IPC resolves to E_INTERNAL data', async () => {
  const { bridge, svc } = setup();
  const r = await bridge.call('sharing.set', { enabled: true, callback: () => {} });
  assert.equal(!r.ok && r.error.code, 'E_INTERNAL');
  assert.deepEqual(svc.calls, []);
});

test('bridge.onEvent refuses something that is not a function', () => {
  const { bridge } = setup();
  assert.throws(() => bridge.onEvent('nope' as never), /onEvent needs a function, got "nope"/);
});
