/**
 * `gatehouse serve --sharing on|off` is for that run only (README: "Flags apply
 * to that run only; they are not saved"). Pins the bug where serve saved the
 * flag as `sharing.enabled`, so a plain `serve` (whose --sharing defaults to on)
 * left sharing on for the desktop app's next start. The switch itself still
 * saves: pressing it is the owner's choice. Once as the CLI runs it (a child
 * process), and in this process through startRuntime on a temp data dir.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTING_KEYS, type Result, type Settings, type Status } from '../../main/contract/index.js';
import { startRuntime, type Runtime } from '../../main/runtime.js';
import { silentLogger } from '../../main/logger.js';
import { openDb } from '../../main/storage/db.js';
import { SettingsRepo } from '../../main/storage/settings-repo.js';

import { ROOT, runCli } from '../helpers/cli.js';
const tmp = mkdtempSync(join(tmpdir(), 'gh-serve-sharing-'));
let n = 0;
const freshDir = () => join(tmp, `d${++n}`);
const running: Runtime[] = [];
after(async () => {
  for (const rt of running) await rt.stop(200);
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cli = (...args: string[]) => runCli(args, { defaultDataDir: join(tmp, 'default') });

/** The saved settings of a data dir, read on a connection of its own (as the CLI does). */
function saved(dataDir: string): Settings {
  const db = openDb(dataDir);
  try {
    return new SettingsRepo(db).load();
  } finally {
    db.close();
  }
}

function save(dataDir: string, changes: Partial<Settings>): void {
  const db = openDb(dataDir);
  try {
    new SettingsRepo(db).update(changes);
  } finally {
    db.close();
  }
}

async function start(dataDir: string, sharing: 'on' | 'off' | 'saved'): Promise<Runtime> {
  const overrides: Record<string, unknown> = { listen: ['127.0.0.1'] };
  for (const key of SETTING_KEYS) if (/^[a-z]+\.port$/.test(key)) overrides[key] = 0;
  const rt = await startRuntime({ dataDir, sharing, overrides: overrides as Partial<Settings>, admin: false, logger: silentLogger, logDelayMs: 20, watchMs: 50 });
  running.push(rt);
  return rt;
}

async function ok<T>(p: Promise<Result<unknown>>): Promise<T> {
  const r = await p;
  assert.equal(r.ok, true, `expected ok, got ${JSON.stringify(r)}`);
  return (r as { value: T }).value;
}

const httpState = (s: Status) => s.services.find((x) => x.name === 'http')!.state;

/** Polls until check() is true (at most 5 s). */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`${what} did not happen within 5 s`);
}

test('`serve --sharing on` shares for that run, and `settings get sharing.enabled` prints false after it stops', async () => {
  const dir = freshDir();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'main/cli.ts', 'serve', '--json', '--sharing', 'on', '--data-dir', dir, '--http-port', '0', '--admin-port', '0', '--socks-port', '0', '--listen', '127.0.0.1'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr!.resume();
    const line = (event: string) => out.split('\n').find((l) => l.startsWith('{') && JSON.parse(l).event === event);
    for (let i = 0; i < 300 && !line('ready') && child.exitCode === null; i++) await sleep(50);
    assert.ok(line('ready'), `no ready line within 15 s; stdout: ${out}`);
    assert.equal(JSON.parse(line('ready')!).sharing, true);
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 10_000)))]);
    clearTimeout(timer);
    assert.equal(code, 0, 'serve exited 0 within 10 s of SIGTERM');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  const r = await cli('settings', 'get', 'sharing.enabled', '--data-dir', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'false');
});

test('sharing "on" runs the proxy without saving it; another change keeps it on; the switch saves off and then on', async () => {
  const dir = freshDir();
  const rt = await start(dir, 'on');
  assert.equal(rt.status().sharing, true);
  assert.equal(httpState(rt.status()), 'running');
  assert.equal(saved(dir)['sharing.enabled'], false);

  // the owner changes another setting, here and from the CLI: the run-only switch holds
  const s = await ok<Settings>(rt.control.call('settings.update', { changes: { 'log.retentionDays': 9 } }));
  assert.equal(s['sharing.enabled'], true);
  save(dir, { 'http.connectPorts': '443,8443' });
  await until(
    'the CLI change reaching the runtime',
    async () => (await ok<Settings>(rt.control.call('settings.get', {})))['http.connectPorts'] === '443,8443',
  );
  const live = await ok<Settings>(rt.control.call('settings.get', {}));
  assert.equal(live['sharing.enabled'], true);
  assert.equal(rt.status().sharing, true);
  assert.equal(saved(dir)['sharing.enabled'], false);

  // pressing the switch is the owner's choice: saved, and the run-only value is gone for good
  const off = await ok<Status>(rt.control.call('sharing.set', { enabled: false }));
  assert.equal(off.sharing, false);
  assert.equal(httpState(off), 'stopped');
  const later = await ok<Settings>(rt.control.call('settings.update', { changes: { 'log.retentionDays': 10 } }));
  assert.equal(later['sharing.enabled'], false, 'the override did not come back');
  const on = await ok<Status>(rt.control.call('sharing.set', { enabled: true }));
  assert.equal(on.sharing, true);
  assert.equal(saved(dir)['sharing.enabled'], true);
});

test('sharing "off" over a saved "on" stops the proxy for that run only; the switch saves off', async () => {
  const dir = freshDir();
  save(dir, { 'sharing.enabled': true });
  const rt = await start(dir, 'off');
  assert.equal(rt.status().sharing, false);
  assert.equal(httpState(rt.status()), 'stopped');
  assert.equal(saved(dir)['sharing.enabled'], true);
  await rt.stop(200);

  // "saved" uses the stored switch
  const again = await start(dir, 'saved');
  assert.equal(again.status().sharing, true);
  const off = await ok<Status>(again.control.call('sharing.set', { enabled: false }));
  assert.equal(off.sharing, false);
  assert.equal(saved(dir)['sharing.enabled'], false);
});

test('a `settings set sharing.enabled` from another process replaces the run-only switch', async () => {
  const dir = freshDir();
  const rt = await start(dir, 'off');
  save(dir, { 'sharing.enabled': true });
  await until('the proxy starting', () => httpState(rt.status()) === 'running');
  assert.equal(rt.status().sharing, true);
});
