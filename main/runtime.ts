/**
 * Starts a whole Gatehouse in this process: the data directory, the log's
 * threads, the gateway, the control service and (optionally) the web admin.
 * The headless CLI (`gatehouse serve`) and the Electron main process both
 * start through here, so they run the same gateway. Wiring only: what each
 * part does lives in its module (main/live.ts, main/control/, main/storage/).
 */
import type { Settings, Status } from './contract/index.js';
import { createControl } from './control/index.js';
import { openDataDir } from './control/open.js';
import type { ControlService } from './control/types.js';
import { watchOtherProcesses } from './control/watch.js';
import { WebAdmin, findRendererDir } from './control/web-admin.js';
import { createLive } from './live.js';
import { createLogger, type Logger } from './logger.js';
import { createRecorder } from './recorder.js';
import { LogStore } from './storage/log-store.js';
import { VERSION } from './contract/version.js';

export { VERSION } from './contract/version.js';

export interface RuntimeOptions {
  dataDir: string;
  /** "on"/"off": sharing for this run only, never saved (pressing the switch saves); "saved": as stored */
  sharing?: 'on' | 'off' | 'saved';
  /** settings for this run only (CLI flags such as --http-port), never saved; saving the same key replaces one */
  overrides?: Partial<Settings>;
  /** run the web admin (default true) */
  admin?: boolean;
  /** a service that cannot start fails the whole start (serve); else its error shows in the status (the window) */
  failFast?: boolean;
  /** directory of the built renderer; found next to the bundle when omitted */
  rendererDir?: string | null;
  logger?: Logger;
  /** how often to look for settings changed by another process (ms) */
  watchMs?: number;
  /** log writer batching (ms) */
  logDelayMs?: number;
  /** rows waiting for the log's writer before the proxies take new work more slowly (default 50,000) */
  logBacklogMax?: number;
}

export interface Runtime {
  control: ControlService;
  /** web admin base URL (no token), or null */
  adminUrl: string | null;
  /** the secret that opens the web admin: `${adminUrl}/?token=${adminToken}` signs a browser in */
  adminToken: string;
  status(): Status;
  /** stop accepting, let in-flight requests finish briefly, flush the log, close the db */
  stop(graceMs?: number): Promise<void>;
}

export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const logger = opts.logger ?? createLogger();
  const overrides: Partial<Settings> = { ...opts.overrides };
  if (opts.sharing === 'on' || opts.sharing === 'off') overrides['sharing.enabled'] = opts.sharing === 'on';
  const dir = openDataDir(opts.dataDir, overrides, { gateway: true });
  if (dir.recovery) logger.warn(dir.recovery);
  const logLog = logger.child('log');
  const log = new LogStore({
    dataDir: opts.dataDir,
    db: dir.db,
    version: VERSION,
    settings: dir.config.settings,
    write: true,
    delayMs: opts.logDelayMs,
    logger: logLog,
    onWriteError: (err) => logLog.error('log write failed; will retry', { err: String((err as Error)?.message ?? err) }),
    onReadError: (err) => logLog.error('log reader failed', { err: String((err as Error)?.message ?? err) }),
  });
  const writer = log.writer!;
  const backlogMax = opts.logBacklogMax ?? 50_000;
  const recorder = createRecorder((row) => writer.pushTuple(row), Date.now, () => writer.pending > backlogMax);
  let admin: WebAdmin | null = null;
  let adminPort = -1;
  const startedAt = Date.now();
  const live = createLive({
    settings: dir.config.settings,
    rules: dir.rules.list(),
    tunnels: { mappings: dir.tunnels.mappings(), routes: dir.tunnels.routes(), chains: dir.tunnels.chainsWithSecrets() },
    accounts: () => dir.users.listStored(),
    recorder,
    logger,
    adminPort: () => adminPort,
    statusBase: () => ({ version: VERSION, dataDir: opts.dataDir, admin: { url: admin?.url ?? null }, startedAt, logPaused: writer.paused, recovery: dir.recovery }),
  });
  const { control, ctx } = createControl(
    { version: VERSION, dataDir: opts.dataDir, config: dir.config, users: dir.users, rules: dir.rules, tunnels: dir.tunnels, router: live.router, policy: live.policy, resolver: live.resolver, log, recentLog: dir.recentLog, live },
    (file, err) => logLog.error('log export failed', { file, err }),
  );
  writer.onRows((rows) => control.emit({ type: 'log', rows }), () => control.watched);
  writer.onPausedChange(() => control.emit({ type: 'status', status: live.status() }));
  const unwatch = watchOtherProcesses(ctx, dir.db, opts.watchMs ?? 300, logger);
  // counters change with traffic: status goes out now and then while anything happens
  let lastTotals = '';
  const ticker = setInterval(() => {
    const t = `${recorder.active}/${recorder.total}`;
    if (t === lastTotals) return;
    lastTotals = t;
    control.emit({ type: 'status', status: live.status() });
  }, 1000);
  ticker.unref();

  let stopping: Promise<void> | null = null;
  const stop = (graceMs: number) =>
    (stopping ??= (async () => {
      unwatch();
      clearInterval(ticker);
      await admin?.stop();
      if (admin) dir.meta.remove('admin.running');
      await live.stop(graceMs);
      const { lost } = await log.stop(graceMs);
      if (lost) logger.error(`${lost} log rows could not be written (${writer.paused?.reason ?? 'the log stopped'})`);
      dir.db.close();
      dir.lock?.release();
    })());

  try {
    await live.apply(dir.config.settings).catch((err: Error) => {
      // all or nothing: a service that cannot listen leaves none running, and says so once
      if (opts.failFast) throw err;
      logger.error(err.message);
    });
    if (opts.admin !== false) {
      admin = new WebAdmin({ control, token: dir.adminToken, rendererDir: opts.rendererDir === undefined ? findRendererDir() : opts.rendererDir, logger: logger.child('admin'), exportsDir: log.exportsDir });
      await admin.start(dir.config.settings['admin.listen'], dir.config.settings['admin.port']);
      adminPort = admin.url ? Number(new URL(admin.url).port) : -1;
      // `gatehouse admin-url` reads this to print the address of the running admin
      dir.meta.set('admin.running', JSON.stringify({ url: admin.url, pid: process.pid }));
      dir.lock?.update({ adminUrl: admin.url });
    }
  } catch (err) {
    await stop(0);
    throw err;
  }

  return {
    control,
    get adminUrl() {
      return admin?.url ?? null;
    },
    adminToken: dir.adminToken,
    status: () => live.status(),
    stop: (graceMs = 3000) => stop(graceMs),
  };
}
