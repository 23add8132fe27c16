/**
 * The CLI as a transport of the control service, and a `serve` that fails
 * safe (issue 13), on real processes, ports and files: a taken port ends the
 * start with one line and a non-zero exit and leaves no service running; a
 * closed standard output does not kill the gateway; the CLI and the web admin
 * reject a bad value through the same handler with the same message; `rules
 * add` puts a new rule first, as the UI does, and warns when a rule above
 * catches its requests.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRuntime } from '../../main/runtime.js';
import { silentLogger } from '../../main/logger.js';

import { ROOT, runCli } from '../helpers/cli.js';
const tmp = mkdtempSync(join(tmpdir(), 'gh-failsafe-'));
let n = 0;
const freshDir = () => join(tmp, `d${++n}`);
after(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[], input?: string) => runCli(args, { input });

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => resolve(null), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

test('a taken port ends serve within seconds with one line naming the port, exit 1, and no service left running', async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as net.AddressInfo).port;
  // the SOCKS port it would have started first: a free one, known in advance
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const socksPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  try {
    const args = ['serve', '--json', '--data-dir', freshDir(), '--listen', '127.0.0.1', '--http-port', String(port), '--socks-port', String(socksPort), '--admin-port', '0'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await exited(child, 15_000);
    if (code === null) child.kill('SIGKILL');
    assert.equal(code, 1, `serve exits non-zero (stderr: ${stderr})`);
    const last = stderr.trim().split('\n').at(-1)!;
    assert.match(last, new RegExp(`^gatehouse: .*port ${port} is already in use.*http\\.port`));
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    assert.ok(await refuses(socksPort), 'the SOCKS proxy did not stay up');
  } finally {
    taken.close();
  }
});

test('serve --json keeps running when its standard output is closed (serve --json | head -1), and stops cleanly', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'serve', '--json', '--data-dir', freshDir(), '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const first = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error('no ready line')), 15_000);
      child.stdout!.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) {
          clearTimeout(timer);
          resolve(buf.slice(0, buf.indexOf('\n')));
        }
      });
    });
    const ready = JSON.parse(first) as { event: string; http: string };
    assert.equal(ready.event, 'ready');
    child.stdout!.destroy(); // the reader goes away, as head -1 does
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(child.exitCode, null, 'still running');
    const port = Number(ready.http.split(':').at(-1));
    assert.equal(await refuses(port), false, 'still serving');
    child.kill('SIGTERM'); // writes {"event":"stopping"} to the closed pipe
    assert.equal(await exited(child, 10_000), 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('the CLI and the web admin reject a bad value through one handler, with the same message', async () => {
  const dataDir = freshDir();
  const viaCli = await cli(['settings', 'set', 'http.connectPorts', '90-80', '--data-dir', dataDir]);
  assert.equal(viaCli.code, 1);
  const rt = await startRuntime({ dataDir, sharing: 'off', overrides: { 'admin.port': 0 }, logger: silentLogger });
  try {
    const res = await fetch(`${rt.adminUrl}/api/call/settings.setText`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${rt.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ key: 'http.connectPorts', value: '90-80' }),
    });
    const body = (await res.json()) as { ok: false; error: { code: string; message: string } };
    assert.equal(body.error.code, 'E_VALIDATION');
    assert.equal(viaCli.stderr, `gatehouse: ${body.error.message}\n`);
    assert.match(body.error.message, /http\.connectPorts.*"90-80" is reversed/);
  } finally {
    await rt.stop(0);
  }
});

test('rules add puts a new rule first, as the rule editor does; placed below the allow-all rule it warns that it is never reached', async () => {
  const dataDir = freshDir();
  const first = await cli(['rules', 'add', '--name', 'No mail', '--action', 'deny', '--port', '465', '--data-dir', dataDir]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^added {0,1}1\. \[\d+\] DENY "No mail"/);
  assert.equal(first.stderr, '', 'nothing above catches it');
  const late = await cli(['rules', 'add', '--name', 'Too late', '--action', 'deny', '--dest', '*.example.com', '--position', '3', '--data-dir', dataDir]);
  assert.equal(late.code, 0, late.stderr);
  assert.match(late.stderr, /rule 2 "Local network" above catches every request from local/);
  const list = await cli(['rules', 'list', '--data-dir', dataDir]);
  assert.deepEqual(
    [...list.stdout.matchAll(/"([^"]+)"/g)].map((m) => m[1]),
    ['No mail', 'Local network', 'Too late'],
  );
});

/** Starts `serve --json` on a data directory; resolves with the ready event (or the exit code and stderr when it ends first). */
function startServe(dataDir: string): Promise<{ child: ChildProcess; ready: { adminUrl: string; pid: number } | null; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'serve', '--json', '--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve({ child, ready: null, code: null, stderr }), 15_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, ready: JSON.parse(line), code: null, stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ child, ready: null, code, stderr });
    });
  });
}

test('a second gateway on the same data directory is refused with one line naming the first (PID and admin address)', async () => {
  const dataDir = freshDir();
  const first = await startServe(dataDir);
  try {
    assert.ok(first.ready, first.stderr);
    const second = await startServe(dataDir);
    assert.equal(second.ready, null, 'the second did not start');
    assert.equal(second.code, 1);
    const admin = new URL(first.ready!.adminUrl).origin;
    assert.match(second.stderr.trim(), new RegExp(`^gatehouse: another Gatehouse is already running on .* \\(PID ${first.ready!.pid}, admin ${admin.replace(/[.]/g, '\\.')}\\)`));
    assert.equal(second.stderr.trim().split('\n').length, 1, 'one line');
  } finally {
    first.child.kill('SIGTERM');
    await exited(first.child, 10_000);
  }
});

test('a data directory that cannot be used is one line naming the path, exit 1, no stack', async () => {
  const blocker = join(freshDir() + '-file');
  await cli(['settings', 'get', '--data-dir', tmp]); // makes sure tmp exists
  const { writeFileSync } = await import('node:fs');
  writeFileSync(blocker, 'not a folder');
  const r = await startServe(join(blocker, 'data'));
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), new RegExp(`^gatehouse: cannot use the data directory ${join(blocker, 'data').replace(/[.]/g, '\\.')}.*--data-dir`));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a database with a damaged header is set aside and recovered at start: one line, and the dashboard status says so', async () => {
  const dataDir = freshDir();
  assert.equal((await cli(['users', 'add', 'alice', '--password-stdin', '--data-dir', dataDir], 'pw')).code, 0);
  const { openSync, writeSync, closeSync, readdirSync } = await import('node:fs');
  const fd = openSync(join(dataDir, 'gatehouse.db'), 'r+');
  writeSync(fd, Buffer.alloc(16, 0x41), 0, 16, 0); // the "SQLite format 3" marker, overwritten
  closeSync(fd);
  const r = await startServe(dataDir);
  try {
    assert.ok(r.ready, r.stderr);
    assert.match(r.stderr, /the database was damaged .* kept as .*gatehouse\.db\.damaged-/);
    assert.ok(readdirSync(dataDir).some((f) => f.startsWith('gatehouse.db.damaged-')), 'the damaged file is kept');
    const token = new URL(r.ready!.adminUrl).searchParams.get('token');
    const res = await fetch(`${new URL(r.ready!.adminUrl).origin}/api/call/status.get`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{}' });
    const status = ((await res.json()) as { value: { recovery: string | null } }).value;
    assert.match(status.recovery ?? '', /kept as/);
    const users = await fetch(`${new URL(r.ready!.adminUrl).origin}/api/call/users.list`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: '{}' });
    assert.deepEqual(((await users.json()) as { value: Array<{ name: string }> }).value.map((u) => u.name), ['alice'], 'the user survived');
  } finally {
    r.child.kill('SIGTERM');
    await exited(r.child, 10_000);
  }
});
