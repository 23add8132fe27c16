/**
 * The `gatehouse` command (main/cli.ts) run as a child process, exactly as a
 * user runs it, against a data directory in a temp dir: settings get/set,
 * logs, admin-url, usage errors and their exit codes, and `serve` from its
 * ready line to a clean SIGTERM stop, picking up a `settings set` on the way.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, SETTING_KEYS, formatSetting, type LogRow, type Settings } from '../../main/contract/index.js';
import { openDb } from '../../main/storage/db.js';
import { LogWriter } from '../../main/storage/log-writer.js';
import { SettingsRepo } from '../../main/storage/settings-repo.js';

import { ROOT, runCli } from '../helpers/cli.js';
const tmp = mkdtempSync(join(tmpdir(), 'gh-cli-'));
let n = 0;
const freshDir = () => join(tmp, `d${++n}`);
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const cli = (...args: string[]) => runCli(args, { defaultDataDir: join(tmp, 'default') });

function row(i: number, patch: Partial<LogRow> = {}): Omit<LogRow, 'id'> {
  return {
    ts: Date.UTC(2024, 0, 2, 3, 4, 5) + i * 1000,
    service: 'http',
    clientAddr: '192.168.1.20',
    clientPort: 50000 + i,
    user: '',
    method: 'GET',
    url: `http://example.com/${i}`,
    host: 'example.com',
    port: 80,
    status: 200,
    bytesUp: 100,
    bytesDown: 2048,
    packetsUp: 0,
    packetsDown: 0,
    durationMs: 12,
    allowed: true,
    rule: 'default',
    error: '',
    chain: '',
    mapping: '',
    ...patch,
  };
}

function fillLog(dir: string, rows: Array<Omit<LogRow, 'id'>>): void {
  const db = openDb(dir);
  const w = new LogWriter(db, { delayMs: 60_000 });
  for (const r of rows) w.push(r);
  w.close();
  db.close();
}

describe('settings, logs and usage', { concurrency: 4 }, () => {
  test('`settings get KEY` prints the value alone; after `settings set`, `settings get` lists every key with the new value marked changed', async () => {
    const dir = freshDir();
    const one = await cli('settings', 'get', 'http.connectPorts', '--data-dir', dir);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, '443,563,8443\n');

    const set = await cli('settings', 'set', 'http.connectPorts', '8443-8444,443', '--data-dir', dir);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'http.connectPorts = 443,8443-8444\n');

    const all = await cli('settings', 'get', '--data-dir', dir);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trimEnd().split('\n');
    assert.equal(lines.length, SETTING_KEYS.length);
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const [i, key] of SETTING_KEYS.entries()) {
      const want = key === 'http.connectPorts' ? '443,8443-8444\\s+\\(changed\\)' : esc(formatSetting(DEFAULT_SETTINGS[key]));
      assert.match(lines[i]!, new RegExp(`^${esc(key)}\\s+${want}$`), key);
    }
  });

  test('`settings set` with a reversed range exits 1, names the key and "reversed", and saves nothing', async () => {
    const dir = freshDir();
    const r = await cli('settings', 'set', 'http.connectPorts', '90-80', '--data-dir', dir);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /http\.connectPorts/);
    assert.match(r.stderr, /"90-80" is reversed/);
    const db = openDb(dir);
    try {
      assert.equal(new SettingsRepo(db).load()['http.connectPorts'], '443,563,8443');
    } finally {
      db.close();
    }
  });

  test('an unknown settings key exits 1 and names the key', async () => {
    const r = await cli('settings', 'set', 'http.prot', '1', '--data-dir', freshDir());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown setting "http\.prot"/);
  });

  test('`logs` on an empty data dir says the log is empty', async () => {
    const r = await cli('logs', '--data-dir', freshDir());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'The log is empty.\n');
  });

  test('`logs --json --limit 2` prints the two newest rows as JSON lines, oldest first', async () => {
    const dir = freshDir();
    fillLog(dir, [row(1), row(2), row(3, { method: 'CONNECT', url: 'mail.example:25', status: 403, allowed: false, rule: 'connect-ports' })]);
    const r = await cli('logs', '--json', '--limit', '2', '--data-dir', dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    const rows = lines.map((l) => JSON.parse(l) as LogRow);
    assert.deepEqual(rows.map((x) => x.url), ['http://example.com/2', 'mail.example:25']);
    assert.ok(rows[0]!.id < rows[1]!.id);
    assert.deepEqual(rows[1], { ...row(3, { method: 'CONNECT', url: 'mail.example:25', status: 403, allowed: false, rule: 'connect-ports' }), id: rows[1]!.id });
  });

  test('an unknown command exits 2, names it and points to the usage', async () => {
    const r = await cli('frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
    assert.match(r.stderr, /Run "gatehouse help" for usage/);
  });

  test('`serve --sharing maybe` exits 2 naming the bad value, before starting anything', async () => {
    const r = await cli('serve', '--sharing', 'maybe', '--data-dir', freshDir());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--sharing: "maybe" must be on, off or saved/);
    assert.match(r.stderr, /Run "gatehouse help" for usage/);
    assert.equal(r.stdout, '');
  });
});

describe('serve', () => {
  const dir = freshDir();
  let child: ChildProcess;
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let out = '';
  let ready: { event: string; http: string | null; admin: string | null; adminUrl: string | null; sharing: boolean; pid: number };

  /** Waits (at most 15 s) until stdout holds a JSON line with this event. */
  function waitForEvent(event: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const find = () => {
        // only whole lines: a chunk may end mid-line
        for (const l of out.split('\n').slice(0, -1)) {
          if (!l.startsWith('{')) continue;
          const j = JSON.parse(l);
          if (j.event === event) return j;
        }
        return null;
      };
      const done = (err: Error | null, v?: Record<string, unknown>) => {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve(v!);
      };
      const check = () => {
        const j = find();
        if (j) done(null, j);
      };
      const onExit = () => setImmediate(() => (find() ? check() : done(new Error(`serve exited before "${event}"; stdout: ${out}`))));
      const timer = setTimeout(() => done(new Error(`no "${event}" line within 15 s; stdout: ${out}`)), 15_000);
      child.stdout!.on('data', check);
      child.once('exit', onExit);
      check();
    });
  }

  async function api(method: string, input: unknown): Promise<{ ok: boolean; value?: any; error?: unknown }> {
    const url = new URL(ready.adminUrl!);
    const token = url.searchParams.get('token')!;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: `/api/call/${method}`, method: 'POST', agent: false, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(JSON.parse(body)));
        },
      );
      req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${method} within 5 s`)));
      req.on('error', reject);
      req.end(JSON.stringify(input));
    });
  }

  before(async () => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', 'main/cli.ts', 'serve', '--json', '--data-dir', dir, '--http-port', '0', '--admin-port', '0', '--socks-port', '0', '--listen', '127.0.0.1'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr!.resume(); // diagnostics go to stderr; keep the pipe drained
    ready = (await waitForEvent('ready')) as typeof ready;
  });

  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });

  test('prints a JSON ready line with the HTTP proxy and admin addresses, both accepting connections', async () => {
    assert.equal(ready.sharing, true);
    assert.equal(ready.pid, child.pid);
    assert.match(ready.http ?? '', /^127\.0\.0\.1:\d+$/);
    assert.match(ready.admin ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(ready.adminUrl?.startsWith(`${ready.admin}/?token=`));
    for (const port of [Number(ready.http!.split(':')[1]), Number(new URL(ready.admin!).port)]) {
      const connected = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.setTimeout(3000, () => (s.destroy(), resolve(false)));
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      assert.equal(connected, true, `port ${port}`);
    }
  });

  test('applies a `settings set` run while it is serving', async () => {
    const set = await cli('settings', 'set', 'http.connectPorts', '443,8443-8444', '--data-dir', dir);
    assert.equal(set.code, 0, set.stderr);
    let seen = '';
    for (let i = 0; i < 50 && seen !== '443,8443-8444'; i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      const r = await api('settings.get', {});
      seen = (r.value as Settings)['http.connectPorts'];
    }
    assert.equal(seen, '443,8443-8444');
  });

  test('on SIGTERM prints stopping and stopped lines and exits 0', async () => {
    child.kill('SIGTERM');
    const stopped = await waitForEvent('stopped');
    assert.deepEqual(stopped, { event: 'stopped' });
    const stopping = JSON.parse(out.split('\n').find((l) => l.includes('"stopping"'))!);
    assert.deepEqual(stopping, { event: 'stopping', signal: 'SIGTERM' });
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([exit, new Promise<null>((r) => (timer = setTimeout(() => r(null), 10_000)))]);
    clearTimeout(timer);
    assert.deepEqual(result, { code: 0, signal: null }, 'serve exited within 10 s of stopping');
  });
});

describe('rules add --dest', () => {
  test('takes a comma-separated list of ranges, and repeated --dest flags add to it (never dropped)', async () => {
    const dir = freshDir();
    const a = await cli('rules', 'add', '--data-dir', dir, '--name', 'No loopback', '--action', 'deny', '--dest', '127.0.0.0/8,::1/128', '--dest', '10.0.0.0/8');
    assert.equal(a.code, 0, a.stderr);
    const list = await cli('rules', 'list', '--data-dir', dir, '--json');
    const rules = JSON.parse(list.stdout).rules as Array<{ name: string; destinations: string[] }>;
    assert.deepEqual(rules.find((r) => r.name === 'No loopback')?.destinations, ['127.0.0.0/8', '::1/128', '10.0.0.0/8']);
  });
});
