#!/usr/bin/env node
// What `npm start` runs after the build: the desktop app when Electron can
// open a window here, otherwise the same gateway headless with its web admin
// (`node dist/gatehouse.js serve --sharing saved`, which prints the admin URL).
//
// Electron 45 fetches its ~100 MB binary lazily on the first require('electron');
// this launcher never does: it looks for the binary the way electron/index.js
// does (ELECTRON_OVERRIDE_DIST_PATH, path.txt, dist/) and, when it is missing,
// says so in one line and goes headless at once. `npx install-electron` fetches
// the binary on a networked machine. GATEHOUSE_HEADLESS=1 skips Electron.
//
// If Electron starts but dies within its first seconds (missing system
// libraries, no usable GPU or sandbox), that also falls back to headless, with
// Electron's last error line as the reason. SIGINT, SIGTERM and SIGHUP are
// forwarded to whichever child runs; the launcher exits with the child's code.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STARTUP_WINDOW_MS = 8000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
// Own process group on POSIX: a Ctrl+C in the terminal then reaches the child
// once, through the launcher, instead of twice (directly and forwarded).
const DETACHED = process.platform !== 'win32';

/** @type {import('node:child_process').ChildProcess | null} */
let child = null;
/** @type {NodeJS.Signals | null} */
let forwardedSignal = null;

for (const signal of SIGNALS) {
  process.on(signal, () => {
    forwardedSignal = signal;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    else process.exit(128 + (constants.signals[signal] ?? 1));
  });
}
process.on('exit', () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});

const electron = findElectron();
if ('reason' in electron) fallBack(electron.reason);
else launchElectron(electron.exe);

/** @returns {{ exe: string } | { reason: string }} */
function findElectron() {
  if (process.env.GATEHOUSE_HEADLESS === '1') return { reason: 'GATEHOUSE_HEADLESS=1' };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return { reason: 'no display: DISPLAY and WAYLAND_DISPLAY are unset' };
  }
  let pkgDir;
  try {
    pkgDir = path.dirname(createRequire(path.join(root, 'package.json')).resolve('electron/package.json'));
  } catch {
    return { reason: 'the electron package is not installed' };
  }
  const pathFile = path.join(pkgDir, 'path.txt');
  const defaultName = { win32: 'electron.exe', darwin: 'Electron.app/Contents/MacOS/Electron' }[process.platform] ?? 'electron';
  const name = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : defaultName;
  const exe = process.env.ELECTRON_OVERRIDE_DIST_PATH
    ? path.join(process.env.ELECTRON_OVERRIDE_DIST_PATH, name)
    : path.join(pkgDir, 'dist', name);
  if (!existsSync(exe)) return { reason: 'no Electron binary; `npx install-electron` fetches it' };
  if (!existsSync(path.join(root, 'app/dist/main/index.js'))) return { reason: 'app/dist is not built; run npm run build' };
  return { exe };
}

/** @param {string} exe */
function launchElectron(exe) {
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE; // would make the binary a plain Node
  const startedAt = Date.now();
  const proc = spawn(exe, [path.join(root, 'app')], { stdio: ['inherit', 'inherit', 'pipe'], env, detached: DETACHED });
  child = proc;

  // Hold back Electron's stderr during start-up: on a failure it becomes the
  // one-line reason; once Electron is up it flows through unchanged.
  let held = '';
  let holding = true;
  const release = setTimeout(() => {
    holding = false;
    process.stderr.write(held);
    held = '';
  }, STARTUP_WINDOW_MS);
  proc.stderr?.on('data', (chunk) => {
    if (holding) held += chunk;
    else process.stderr.write(chunk);
  });

  let failed = false;
  proc.on('error', (err) => {
    failed = true;
    clearTimeout(release);
    child = null;
    fallBack(`cannot run ${exe}: ${/** @type {NodeJS.ErrnoException} */ (err).code ?? err.message}`);
  });
  proc.on('close', (code, signal) => {
    if (failed) return;
    clearTimeout(release);
    child = null;
    const early = Date.now() - startedAt < STARTUP_WINDOW_MS;
    if (early && !forwardedSignal && (code !== 0 || signal)) {
      const last = held.trim().split('\n').filter(Boolean).pop();
      fallBack(`Electron ${signal ? `died of ${signal}` : `exited with code ${code}`}${last ? `: ${last.trim()}` : ''}`);
      return;
    }
    if (holding) process.stderr.write(held);
    exitLike(code, signal);
  });
}

/** @param {string} reason */
function fallBack(reason) {
  console.log(`Gatehouse: the desktop window cannot open here (${reason}); running headless with the web admin.`);
  const entry = path.join(root, 'dist/gatehouse.js');
  if (!existsSync(entry)) {
    console.error('Gatehouse: dist/gatehouse.js is missing; run npm run build first.');
    process.exit(1);
  }
  // the same V8 flags as the CLI's shebang line (see main/v8-flags.ts)
  const proc = spawn(process.execPath, ['--max-semi-space-size=4', entry, 'serve', '--sharing', 'saved'], {
    stdio: 'inherit',
    env: process.env,
    detached: DETACHED,
  });
  child = proc;
  proc.on('error', (err) => {
    console.error(`Gatehouse: cannot run ${entry}: ${err.message}`);
    process.exit(1);
  });
  proc.on('close', (code, signal) => {
    child = null;
    exitLike(code, signal);
  });
}

/** @param {number | null} code @param {NodeJS.Signals | null} signal */
function exitLike(code, signal) {
  process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1));
}
