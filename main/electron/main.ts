/**
 * The Electron main process: one Gatehouse per user session, its window and
 * its tray. It starts the same runtime as `gatehouse serve` (data in the
 * user-data folder, sharing as last saved), serves the renderer from
 * app://gatehouse/ with a strict CSP, and wires the control service to the
 * window through ipc.ts. Closing the window hides it: sharing keeps running
 * and the tray stays; quitting (tray, app menu, Cmd+Q, SIGINT/SIGTERM) stops
 * the runtime cleanly before the process exits.
 *
 * Only glue lives here; the decisions (what is trusted, allowed, shown) are in
 * security.ts, ipc.ts and tray-model.ts, which are tested under plain Node.
 */
import { GATEWAY_V8_FLAGS } from '../v8-flags.js';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  powerMonitor,
  protocol,
  session,
  shell,
  Tray,
  type NativeImage,
  type Session,
  type WebContents,
} from 'electron';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Status } from '../contract/index.js';
import { startRuntime, type Runtime } from '../runtime.js';
import { ICONS, type IconName } from './icons.js';
import { registerIpc, windowSenderCheck } from './ipc.js';
import {
  APP_ENTRY_URL,
  APP_SCHEME,
  isAllowedRequest,
  isPermissionAllowed,
  navigationDecision,
  resolveAppFile,
  responseHeaders,
} from './security.js';
import { trayModel } from './tray-model.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // app/dist/main
const RENDERER_DIR = path.join(here, '../renderer');
const PRELOAD = path.join(here, '../preload/index.cjs');
const STOP_TIMEOUT_MS = 10_000;

// Must happen before `ready`: a standard, secure scheme gets a real origin,
// so module scripts, fetch and the CSP's 'self' behave as on https.
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
]);

let win: BrowserWindow | null = null;
let tray: Tray | null = null;
let runtime: Runtime | null = null;
let status: Status | null = null;
/** the sharing value a tray toggle asked for and has not got yet */
let pendingSharing: boolean | null = null;
let quitting = false;
let stopped = false;
let stopping: Promise<void> | null = null;
let toldStillRunning = false;
let disposeIpc: (() => void) | null = null;
let lastTrayMenu = '';

// the gateway's V8 tuning (main/v8-flags.ts), given before the main process's heap grows
app.commandLine.appendSwitch('js-flags', GATEWAY_V8_FLAGS.join(' '));

if (!app.requestSingleInstanceLock()) {
  // The first instance gets 'second-instance' and shows its window.
  console.log('Gatehouse is already running; its window has been brought forward.');
  app.exit(0);
} else {
  void main();
}

async function main(): Promise<void> {
  const startHidden = process.argv.includes('--hidden');
  // Started before `ready` so the database opens while Chromium starts up.
  const runtimeReady = startRuntime({ dataDir: app.getPath('userData'), sharing: 'saved' });
  runtimeReady.catch(() => {}); // handled below; avoid an unhandled-rejection warning meanwhile

  app.on('second-instance', () => showWindow());
  app.on('activate', () => showWindow()); // macOS: dock icon clicked
  // Subscribing disables Electron's default "quit when the last window closes":
  // Gatehouse lives in the tray.
  app.on('window-all-closed', () => {});
  app.on('web-contents-created', (_e, contents) => hardenContents(contents));
  app.on('before-quit', (e) => {
    quitting = true;
    if (stopped) return;
    e.preventDefault(); // quit again once the runtime has stopped
    stopping ??= stopRuntime(runtimeReady).finally(() => {
      stopped = true;
      app.quit();
    });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.quit());
  if (process.platform === 'win32') app.setAppUserModelId('net.gatehouse.app');

  await app.whenReady();
  // Shutting down (Linux, macOS): ask the system to wait while the runtime flushes the log and closes the db.
  // (The event object is documented but missing from the typings.)
  powerMonitor.on('shutdown', (...args: unknown[]) => {
    (args[0] as { preventDefault?(): void } | undefined)?.preventDefault?.();
    app.quit();
  });
  if (process.platform !== 'darwin') Menu.setApplicationMenu(null); // macOS keeps its standard menu (Quit, Edit)
  serveRenderer();
  hardenSession(session.defaultSession);

  try {
    runtime = await runtimeReady;
  } catch (e) {
    stopped = true;
    dialog.showErrorBox(
      'Gatehouse could not start',
      `${(e as Error).message}\n\nIf another Gatehouse (for example "gatehouse serve") uses the data folder ` +
        `${app.getPath('userData')}, stop it and start Gatehouse again.`,
    );
    app.exit(1);
    return;
  }
  if (quitting) return; // quit while starting: before-quit is already stopping the runtime

  const control = runtime.control;
  disposeIpc = registerIpc(ipcMain, control, {
    isTrustedSender: windowSenderCheck(() => win?.webContents),
    eventTarget: () => win?.webContents,
    onRefused: (info) => console.warn('[electron] refused IPC call', info),
  });
  control.subscribe((e) => {
    if (e.type !== 'status') return;
    status = e.status;
    updateTray();
  });

  createTray();
  void refreshStatus();
  createWindow(!startHidden);
}

// ---- renderer: app://gatehouse/ → app/dist/renderer ---------------------------

function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const file = resolveAppFile(RENDERER_DIR, request.url);
    if (!file) return new Response('Not found', { status: 404 });
    try {
      return new Response(await readFile(file), { headers: responseHeaders(file) });
    } catch {
      return new Response('Not found', { status: 404 });
    }
  });
}

// ---- security: session and every webContents ------------------------------------

function hardenSession(ses: Session): void {
  ses.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !isAllowedRequest(details.url) }));
  ses.setPermissionRequestHandler((contents, permission, callback) =>
    callback(isPermissionAllowed(permission, contents.getURL())),
  );
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin) =>
    isPermissionAllowed(permission, requestingOrigin),
  );
}

function hardenContents(contents: WebContents): void {
  const guard = (e: { preventDefault(): void }, url: string) => {
    const decision = navigationDecision(url);
    if (decision === 'allow') return;
    e.preventDefault();
    if (decision === 'external') void shell.openExternal(url);
  };
  contents.on('will-navigate', (e) => guard(e, e.url));
  contents.on('will-redirect', (e) => guard(e, e.url));
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (navigationDecision(url) === 'external') void shell.openExternal(url);
    return { action: 'deny' };
  });
}

// ---- window ----------------------------------------------------------------------------

function createWindow(show: boolean): void {
  const w = new BrowserWindow({
    title: 'Gatehouse',
    width: 1120,
    height: 760,
    minWidth: 760,
    minHeight: 520,
    show: false,
    backgroundColor: '#f6f7f9',
    autoHideMenuBar: true,
    // Linux shows this in the task switcher when run unpackaged; installers use build/icon.png.
    ...(process.platform === 'linux' ? { icon: image('window') } : {}),
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: !app.isPackaged,
    },
  });
  win = w;
  if (show) w.once('ready-to-show', () => w.show());
  w.on('close', (e) => {
    if (quitting) return;
    e.preventDefault();
    w.hide();
    tellStillRunning();
  });
  w.on('session-end', () => {
    quitting = true; // Windows is logging off or shutting down: let the window close
    app.quit();
  });
  w.on('closed', () => {
    if (win === w) win = null;
  });
  w.webContents.on('did-fail-load', (_e, code, description, url) =>
    console.error('[electron] the window could not load', { url, code, description }),
  );
  if (!app.isPackaged) {
    w.webContents.on('before-input-event', (_e, input) => {
      if (input.type === 'keyDown' && input.key === 'F12') w.webContents.toggleDevTools();
    });
  }
  void w.loadURL(APP_ENTRY_URL);
}

function showWindow(): void {
  if (!runtime) return; // still starting; the window opens when the runtime is up
  if (!win) createWindow(true);
  else {
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }
}

/** Once per session, say that closing the window did not stop sharing. macOS users expect it. */
function tellStillRunning(): void {
  if (toldStillRunning || process.platform === 'darwin' || !Notification.isSupported()) return;
  toldStillRunning = true;
  new Notification({
    title: 'Gatehouse is still running',
    body: status?.sharing
      ? 'Sharing continues in the background. Use the tray icon to open Gatehouse or quit.'
      : 'Gatehouse stays in the tray. Use the tray icon to open it or quit.',
    icon: image('window'),
  }).show();
}

// ---- tray ------------------------------------------------------------------------------

function createTray(): void {
  tray = new Tray(trayImage(false));
  // Windows (and some Linux panels) report a left click; macOS opens the menu itself.
  tray.on('click', () => showWindow());
  updateTray();
}

function updateTray(): void {
  if (!tray || tray.isDestroyed()) return;
  const model = trayModel(status, pendingSharing);
  const key = JSON.stringify(model);
  if (key === lastTrayMenu) return; // status events are frequent; rebuild only on change
  lastTrayMenu = key;
  tray.setImage(trayImage(model.active));
  tray.setToolTip(model.tooltip);
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: model.statusLine, enabled: false },
      { type: 'separator' },
      { label: model.toggle.label, enabled: model.toggle.enabled, click: () => void setSharing(model.toggle.enable) },
      { label: 'Open Gatehouse', click: () => showWindow() },
      { type: 'separator' },
      { label: 'Quit Gatehouse', click: () => app.quit() },
    ]),
  );
}

async function refreshStatus(): Promise<void> {
  if (!runtime) return;
  const r = await runtime.control.call('status.get', {});
  if (r.ok) {
    status = r.value as Status;
    updateTray();
  }
}

async function setSharing(enabled: boolean): Promise<void> {
  if (!runtime || pendingSharing !== null) return;
  pendingSharing = enabled;
  updateTray();
  const r = await runtime.control.call('sharing.set', { enabled });
  pendingSharing = null;
  if (r.ok) status = r.value as Status;
  updateTray();
  if (!r.ok) {
    const { response } = await dialog.showMessageBox({
      type: 'error',
      title: 'Gatehouse',
      message: `Gatehouse could not ${enabled ? 'enable' : 'disable'} sharing`,
      detail: `${r.error.message}\n\nOpen Gatehouse to see each service's state and change its settings.`,
      buttons: ['Open Gatehouse', 'Close'],
      defaultId: 0,
      cancelId: 1,
    });
    if (response === 0) showWindow();
  }
}

function trayImage(active: boolean): NativeImage {
  if (process.platform !== 'darwin') return image(active ? 'trayOn' : 'trayOff');
  const img = image('trayTemplate'); // black + alpha; macOS tints it for light and dark menu bars
  img.setTemplateImage(true);
  return img;
}

function image(name: IconName): NativeImage {
  const [x1, x2] = ICONS[name];
  const img = nativeImage.createFromDataURL(x1);
  img.addRepresentation({ scaleFactor: 2, dataURL: x2 });
  return img;
}

// ---- quit ------------------------------------------------------------------------------

async function stopRuntime(ready: Promise<Runtime>): Promise<void> {
  disposeIpc?.();
  disposeIpc = null;
  tray?.destroy();
  tray = null;
  let timer: NodeJS.Timeout | undefined;
  try {
    const rt = await ready; // a quit during start-up still closes the database properly
    await Promise.race([
      rt.stop(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`runtime did not stop within ${STOP_TIMEOUT_MS} ms`)), STOP_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    console.error('[electron] stopping the runtime failed', (e as Error).message);
  } finally {
    clearTimeout(timer);
  }
}
