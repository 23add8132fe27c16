/**
 * Control calls end to end through a whole runtime (main/runtime.ts) started
 * in this process on loopback, with a real SQLite file in a temp dir: the
 * sharing switch opening and closing the proxy socket, validation that
 * changes nothing, settings written by another connection (as the CLI does)
 * being applied while running, and a clean stop leaving everything on disk.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTING_KEYS, type GatehouseEvent, type LogRow, type Result, type Settings, type Status } from '../../main/contract/index.js';
import { startRuntime, type Runtime } from '../../main/runtime.js';
import { silentLogger } from '../../main/logger.js';
import { openDb } from '../../main/storage/db.js';
import { SettingsRepo, getMeta } from '../../main/storage/settings-repo.js';
import { recentLog } from '../../main/storage/log-writer.js';

const dirs: string[] = [];
const running: Runtime[] = [];
after(async () => {
  for (const rt of running) await rt.stop(200);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir = mkdtempSync(join(tmpdir(), 'gh-runtime-'))): Promise<{ rt: Runtime; dataDir: string }> {
  if (!dirs.includes(dataDir)) dirs.push(dataDir);
  const overrides: Record<string, unknown> = { listen: ['127.0.0.1'], 'http.port': 0, 'admin.port': 0 };
  // a service added later (SOCKS) must not take its fixed default port either
  for (const key of SETTING_KEYS) if (/^[a-z]+\.port$/.test(key) && !(key in overrides)) overrides[key] = 0;
  const rt = await startRuntime({
    dataDir,
    sharing: 'off',
    overrides: overrides as Partial<Settings>,
    rendererDir: null,
    logger: silentLogger,
    logDelayMs: 20,
  });
  running.push(rt);
  return { rt, dataDir };
}

async function ok<T>(p: Promise<Result<unknown>>): Promise<T> {
  const r = await p;
  assert.equal(r.ok, true, `expected ok, got ${JSON.stringify(r)}`);
  return (r as { value: T }).value;
}

const http = (s: Status) => s.services.find((x) => x.name === 'http')!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until check() returns a value (at most 50 × 100 ms). */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 50; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`${what} did not happen within 5 s`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(3000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

test('starts with sharing off: no proxy socket, the web admin on loopback, the overrides saved', async () => {
  const { rt } = await start();
  const st = await ok<Status>(rt.control.call('status.get', {}));
  assert.equal(st.sharing, false);
  assert.equal(http(st).state, 'stopped');
  assert.deepEqual(http(st).addresses, []);
  assert.match(st.admin.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(rt.adminUrl, st.admin.url);
  const s = await ok<Settings>(rt.control.call('settings.get', {}));
  assert.deepEqual(s.listen, ['127.0.0.1']);
  assert.equal(s['http.port'], 0);
});

test('sharing.set on starts the HTTP proxy on a loopback address it reports; off closes the socket', async () => {
  const { rt } = await start();
  const on = await ok<Status>(rt.control.call('sharing.set', { enabled: true }));
  assert.equal(on.sharing, true);
  const svc = http(on);
  assert.equal(svc.state, 'running');
  assert.ok(svc.port && svc.port > 0);
  assert.deepEqual(svc.addresses, [`127.0.0.1:${svc.port}`]);
  assert.equal(await canConnect(svc.port!), true);

  const off = await ok<Status>(rt.control.call('sharing.set', { enabled: false }));
  assert.equal(off.sharing, false);
  assert.equal(http(off).state, 'stopped');
  assert.deepEqual(http(off).addresses, []);
  assert.equal(await canConnect(svc.port!), false);
});

test('sharing.set on with the port taken answers E_PORT_IN_USE and leaves the switch off', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  try {
    const taken = (blocker.address() as net.AddressInfo).port;
    const { rt } = await start();
    await ok(rt.control.call('settings.update', { changes: { 'http.port': taken } }));
    const r = await rt.control.call('sharing.set', { enabled: true });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'E_PORT_IN_USE');
    assert.match(!r.ok ? r.error.message : '', new RegExp(`port ${taken} is already in use`));
    const s = await ok<Settings>(rt.control.call('settings.get', {}));
    assert.equal(s['sharing.enabled'], false);
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});

test('settings.setText with a bad value answers E_VALIDATION naming the key, and changes nothing in memory or on disk', async () => {
  const { rt, dataDir } = await start();
  const before = await ok<Settings>(rt.control.call('settings.get', {}));
  const readDisk = () => {
    const db = openDb(dataDir);
    try {
      return new SettingsRepo(db).load();
    } finally {
      db.close();
    }
  };
  const diskBefore = readDisk();
  const r = await rt.control.call('settings.setText', { key: 'http.connectPorts', value: '443,90-80' });
  assert.deepEqual(r, { ok: false, error: { code: 'E_VALIDATION', message: 'setting http.connectPorts: port range "90-80" is reversed' } });
  const unknown = await rt.control.call('settings.setText', { key: 'http.prot', value: '1' });
  assert.equal(!unknown.ok && unknown.error.code, 'E_VALIDATION');
  assert.match(!unknown.ok ? unknown.error.message : '', /unknown setting "http\.prot"/);
  assert.deepEqual(await ok<Settings>(rt.control.call('settings.get', {})), before);
  assert.deepEqual(readDisk(), diskBefore);
});

test('run-only overrides (CLI flags) are not saved, and a later change of that key replaces them', async () => {
  const { rt, dataDir } = await start();
  const live = await ok<Settings>(rt.control.call('settings.get', {}));
  assert.equal(live['http.port'], 0);
  const db = openDb(dataDir);
  try {
    assert.equal(new SettingsRepo(db).load()['http.port'], 8080);
  } finally {
    db.close();
  }
  const after = await ok<Settings>(rt.control.call('settings.update', { changes: { 'log.retentionDays': 9 } }));
  assert.equal(after['http.port'], 0, 'an unrelated change keeps the override');
});

test('settings.update with one bad value in the batch changes none of them', async () => {
  const { rt } = await start();
  const before = await ok<Settings>(rt.control.call('settings.get', {}));
  const r = await rt.control.call('settings.update', { changes: { 'http.idleTimeout': 30, 'log.retentionDays': 0 } });
  assert.equal(!r.ok && r.error.code, 'E_VALIDATION');
  assert.match(!r.ok ? r.error.message : '', /^setting log\.retentionDays: /);
  assert.deepEqual(await ok<Settings>(rt.control.call('settings.get', {})), before);
});

test('settings.setText saves a good value in canonical form and pushes a settings event', async () => {
  const { rt } = await start();
  const events: GatehouseEvent[] = [];
  const off = rt.control.subscribe((e) => events.push(e));
  const s = await ok<Settings>(rt.control.call('settings.setText', { key: 'http.connectPorts', value: '8443-8444 443' }));
  off();
  assert.equal(s['http.connectPorts'], '443,8443-8444');
  const ev = events.find((e) => e.type === 'settings');
  assert.ok(ev && ev.type === 'settings');
  assert.equal(ev.settings['http.connectPorts'], '443,8443-8444');
  const described = await ok<Array<{ key: string; text: string }>>(rt.control.call('settings.describe', {}));
  assert.equal(described.find((d) => d.key === 'http.connectPorts')?.text, '443,8443-8444');
});

test('applies settings written by another connection to the same file (as the CLI does) while running', async () => {
  const { rt, dataDir } = await start();
  const db = openDb(dataDir);
  try {
    new SettingsRepo(db).update({ 'http.connectPorts': '443,8443-8444' });
    const s = await eventually('the new connectPorts reaching the runtime', async () => {
      const v = await ok<Settings>(rt.control.call('settings.get', {}));
      return v['http.connectPorts'] === '443,8443-8444' ? v : undefined;
    });
    assert.equal(s['http.connectPorts'], '443,8443-8444');

    // the sharing switch too: the proxy starts without a call to the runtime
    new SettingsRepo(db).update({ 'sharing.enabled': true });
    const st = await eventually('the proxy starting', async () => {
      const v = await ok<Status>(rt.control.call('status.get', {}));
      return http(v).state === 'running' ? v : undefined;
    });
    assert.equal(st.sharing, true);
    assert.equal(await canConnect(http(st).port!), true);
  } finally {
    db.close();
  }
});

test('a refused CONNECT is logged, pushed as a log event, and read back by log.recent', async () => {
  const { rt } = await start();
  const st = await ok<Status>(rt.control.call('sharing.set', { enabled: true }));
  const events: GatehouseEvent[] = [];
  const off = rt.control.subscribe((e) => events.push(e));
  const port = http(st).port!;
  // port 25 is not in the default http.connectPorts (443,563,8443)
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n\r\n'));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (text += c));
    s.on('end', () => resolve(text));
    s.on('close', () => resolve(text));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('no answer to CONNECT within 5 s')));
  });
  assert.match(reply, /^HTTP\/1\.1 4\d\d /);
  const rows = await eventually('the log row', async () => {
    const v = await ok<LogRow[]>(rt.control.call('log.recent', { limit: 10 }));
    return v.length ? v : undefined;
  });
  off();
  assert.equal(rows[0]!.method, 'CONNECT');
  assert.equal(rows[0]!.port, 25);
  assert.equal(rows[0]!.allowed, false);
  assert.equal(rows[0]!.clientAddr, '127.0.0.1');
  const logged = events.filter((e) => e.type === 'log').flatMap((e) => (e.type === 'log' ? e.rows : []));
  assert.deepEqual(logged.map((r) => r.id), [rows[0]!.id]);
  assert.deepEqual(await ok<LogRow[]>(rt.control.call('log.recent', { limit: 10, afterId: rows[0]!.id })), []);
});

test('stop() closes everything, and reopening the data dir shows the settings, the log and the admin token intact', async () => {
  const { rt, dataDir } = await start();
  await ok(rt.control.call('settings.setText', { key: 'log.retentionDays', value: '7' }));
  const st = await ok<Status>(rt.control.call('sharing.set', { enabled: true }));
  const port = http(st).port!;
  await new Promise<void>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end('CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n\r\n'));
    s.resume();
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  await eventually('the log row', async () => {
    const v = await ok<LogRow[]>(rt.control.call('log.recent', { limit: 10 }));
    return v.length ? v : undefined;
  });
  const token = rt.adminToken;
  await rt.stop(200);
  await rt.stop(200); // a second stop is harmless
  assert.equal(await canConnect(port), false);

  const db = openDb(dataDir);
  try {
    const s = new SettingsRepo(db).load();
    assert.equal(s['log.retentionDays'], 7);
    assert.equal(s['sharing.enabled'], true);
    const log = recentLog(db, 10);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.method, 'CONNECT');
    assert.equal(getMeta(db, 'admin.token'), token);
  } finally {
    db.close();
  }

  // a new runtime on the same directory keeps the token and the saved settings
  const again = await start(dataDir);
  assert.equal(again.rt.adminToken, token);
  const s2 = await ok<Settings>(again.rt.control.call('settings.get', {}));
  assert.equal(s2['log.retentionDays'], 7);
});
