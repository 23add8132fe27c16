/**
 * scripts/start.mjs (what `npm start` runs) in a scratch copy of the project
 * layout, with a stand-in headless gateway (dist/gatehouse.js) and, where a
 * test needs one, a stand-in Electron binary: real processes and signals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const START = path.resolve('scripts/start.mjs');

/** A headless gateway stand-in: prints its arguments, then stops on a signal or exits with GH_FAKE_EXIT. */
const FAKE_GATEHOUSE = `
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { console.log('stopping on ' + s); process.exit(0); });
console.log('gatehouse ' + process.argv.slice(2).join(' '));
if (process.env.GH_FAKE_EXIT) process.exit(Number(process.env.GH_FAKE_EXIT));
setInterval(() => {}, 1000);
`;

function layout(opts: { electron?: string } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-start-'));
  mkdirSync(path.join(dir, 'scripts'));
  copyFileSync(START, path.join(dir, 'scripts/start.mjs'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'gatehouse', type: 'module' }));
  mkdirSync(path.join(dir, 'dist'));
  writeFileSync(path.join(dir, 'dist/gatehouse.js'), FAKE_GATEHOUSE);
  mkdirSync(path.join(dir, 'app/dist/main'), { recursive: true });
  writeFileSync(path.join(dir, 'app/dist/main/index.js'), '');
  // The electron package as npm installs it: no binary until something downloads one.
  const pkg = path.join(dir, 'node_modules/electron');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'electron', version: '45.5.0', main: 'index.js' }));
  writeFileSync(path.join(pkg, 'index.js'), "throw new Error('the launcher must not require electron (it would download)');");
  if (opts.electron) {
    mkdirSync(path.join(pkg, 'dist'));
    writeFileSync(path.join(pkg, 'path.txt'), 'electron');
    writeFileSync(path.join(pkg, 'dist/electron'), `#!${process.execPath}\n${opts.electron}`);
    chmodSync(path.join(pkg, 'dist/electron'), 0o755);
  }
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(dir: string, env: NodeJS.ProcessEnv, onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const base = { ...process.env };
    delete base.DISPLAY;
    delete base.WAYLAND_DISPLAY;
    delete base.GATEHOUSE_HEADLESS;
    const proc = spawn(process.execPath, [path.join(dir, 'scripts/start.mjs')], { env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.stdout.on('data', (c) => {
      stdout += c;
      onStdout?.(stdout, (s) => proc.kill(s));
    });
    proc.stderr.on('data', (c) => (stderr += c));
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const ONE_LINE = /^Gatehouse: the desktop window cannot open here \((.+)\); running headless with the web admin\.$/;
const linuxOnly = { skip: process.platform !== 'linux' && 'the display check is Linux-only' };
const posixOnly = { skip: process.platform === 'win32' && 'needs POSIX signals and a script as the Electron binary' };

test('without an Electron binary it says so in one line and runs the headless gateway with the saved sharing', async () => {
  const dir = layout();
  try {
    const r = await start(dir, { DISPLAY: ':99', GH_FAKE_EXIT: '0' });
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0]!, ONE_LINE);
    assert.match(lines[0]!, /no Electron binary/);
    assert.equal(lines[1], 'gatehouse serve --sharing saved');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on Linux without a display it goes headless even when Electron is installed', linuxOnly, async () => {
  const dir = layout({ electron: "console.log('electron ran'); process.exit(0);" });
  try {
    const r = await start(dir, { GH_FAKE_EXIT: '0' });
    assert.match(r.stdout.split('\n')[0]!, /\(no display: DISPLAY and WAYLAND_DISPLAY are unset\)/);
    assert.doesNotMatch(r.stdout, /electron ran/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a binary and a display it runs Electron on app/, passing the environment through', posixOnly, async () => {
  const dir = layout({
    electron: `console.log(JSON.stringify({ args: process.argv.slice(2), extra: process.env.GH_EXTRA, runAsNode: process.env.ELECTRON_RUN_AS_NODE ?? null }));`,
  });
  try {
    const r = await start(dir, { DISPLAY: ':99', GH_EXTRA: 'kept', ELECTRON_RUN_AS_NODE: '1' });
    assert.deepEqual(JSON.parse(r.stdout), { args: [path.join(dir, 'app')], extra: 'kept', runAsNode: null });
    assert.equal(r.code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('when Electron dies at start-up it falls back to headless, giving its last error line as the reason', posixOnly, async () => {
  const dir = layout({
    electron: `console.error('[1:2] some warning'); console.error('electron: error while loading shared libraries: libnss3.so: cannot open shared object file'); process.exit(127);`,
  });
  try {
    const r = await start(dir, { DISPLAY: ':99', GH_FAKE_EXIT: '3' });
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0]!, ONE_LINE);
    assert.match(lines[0]!, /\(Electron exited with code 127: electron: error while loading shared libraries: libnss3\.so/);
    assert.equal(lines[1], 'gatehouse serve --sharing saved');
    assert.equal(r.stderr, '', "Electron's start-up errors are summarised, not dumped");
    assert.equal(r.code, 3, "the launcher exits with the headless gateway's code");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to the launcher reaches the headless gateway once, and it stops cleanly`, posixOnly, async () => {
    const dir = layout();
    try {
      let sent = false;
      const r = await start(dir, { GATEHOUSE_HEADLESS: '1' }, (out, kill) => {
        if (!sent && out.includes('gatehouse serve')) {
          sent = true;
          kill(signal);
        }
      });
      assert.match(r.stdout, /\(GATEHOUSE_HEADLESS=1\)/);
      assert.equal(r.stdout.match(/stopping on /g)?.length, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`stopping on ${signal}`));
      assert.equal(r.code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
