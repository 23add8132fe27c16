/**
 * Starts a whole Gatehouse in this process: storage, gateway, control service
 * and (optionally) the web admin. The headless CLI (`gatehouse serve`) and the
 * Electron main process both start through here, so they run the same gateway.
 * Settings changed by another process (the CLI) are noticed through SQLite's
 * data_version and applied within a second, without a restart.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_SETTINGS,
  SETTING_INFO,
  SETTING_KEYS,
  formatSetting,
  parseSettingText,
  validateSetting,
  isSettingKey,
  type SettingKey,
  GatehouseError,
  type Settings,
  type Status,
} from './contract/index.js';
import { Control } from './control/service.js';
import type { ControlService } from './control/types.js';
import { WebAdmin } from './control/web-admin.js';
import { Gateway } from './gateway.js';
import { createLogger, type Logger } from './logger.js';
import { lanAddresses, watchOwnAddresses } from './net/addresses.js';
import { createResolver } from './net/resolver.js';
import { Admission } from './engines/admission.js';
import { GatewayPolicy } from './policy/policy.js';
import { Limiter } from './policy/limits.js';
import { RulesRepo } from './storage/rules-repo.js';
import { createRecorder } from './recorder.js';
import { configVersions, dataVersion, openDb } from './storage/db.js';
import { recentLog } from './storage/log-writer.js';
import { createLogHandlers } from './control/log-handlers.js';
import { SettingsRepo, getMeta, setMeta } from './storage/settings-repo.js';
import { UsersRepo } from './storage/users-repo.js';
import { Authenticator } from './policy/auth.js';

export const VERSION = '0.1.0';

export interface RuntimeOptions {
  dataDir: string;
  /**
   * "on"/"off" run with sharing on or off without saving it (a run-only override that holds
   * until the switch is pressed, which saves); "saved" runs with the stored switch
   */
  sharing?: 'on' | 'off' | 'saved';
  /**
   * settings for this run only (CLI flags such as --http-port): layered over the saved
   * ones and never written; a later change of the same key (UI, CLI) replaces the override
   */
  overrides?: Partial<Settings>;
  /** run the web admin (default true) */
  admin?: boolean;
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

/** The admin token of a data directory, created on first use. */
export function adminToken(db: ReturnType<typeof openDb>): string {
  let token = getMeta(db, 'admin.token');
  if (!token) {
    token = randomBytes(24).toString('base64url');
    setMeta(db, 'admin.token', token);
  }
  return token;
}

function findRendererDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const c of [join(here, '../app/dist/renderer'), join(here, '../renderer'), join(here, '../../app/dist/renderer')]) {
    if (existsSync(join(c, 'index.html'))) return c;
  }
  return null;
}

/** rows waiting for the log's writer before the proxies take new work more slowly (see Recorder.congested) */
const LOG_BACKLOG_MAX = 50_000;

export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const logger = opts.logger ?? createLogger();
  const db = openDb(opts.dataDir);
  const repo = new SettingsRepo(db);
  const overrides: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts.overrides ?? {})) overrides[k] = validateSetting(k as SettingKey, v);
  // --sharing on/off is a flag like the others: for this run only, never saved (README: "Flags
  // apply to that run only"). It holds through changes of other keys until the switch is pressed.
  if (opts.sharing === 'on' || opts.sharing === 'off') overrides['sharing.enabled'] = opts.sharing === 'on';
  /** the saved settings as last read or written here, to tell which keys another process changed */
  let stored = repo.load();
  const effective = (saved: Settings): Settings => ({ ...saved, ...overrides }) as Settings;
  /** saves changes; a saved key no longer follows its run-only override */
  const save = (changes: Record<string, unknown>): Settings => {
    stored = repo.update(changes);
    for (const k of Object.keys(changes)) delete overrides[k];
    return effective(stored);
  };
  let settings = effective(stored);
  const token = adminToken(db);

  // the log's writing and reading threads, its query/export/statistics methods and retention
  const log = createLogHandlers({ db, dataDir: opts.dataDir, version: VERSION, settings: () => settings, emit: (e) => control.emit(e), logger: logger.child('log'), delayMs: opts.logDelayMs });
  const writer = log.writer;
  const backlogMax = opts.logBacklogMax ?? LOG_BACKLOG_MAX;
  const recorder = createRecorder((row) => writer.pushTuple(row), Date.now, () => writer.pending > backlogMax);
  const users = new UsersRepo(db);
  const rulesRepo = new RulesRepo(db, () => ({
    users: new Set(users.list().map((u) => u.name.toLowerCase())),
    groups: new Set(users.listGroups().map((g) => g.name.toLowerCase())),
  }));
  // this PC, as the policy must know it: its addresses (refused to LAN clients as destinations)
  // and the ports of its own services (refused to everyone)
  const own = watchOwnAddresses(() => policy.addressesChanged());
  const self = { isOwnAddress: (a: string): boolean => own.has(a), isOwnPort: (p: number): boolean => gateway.isOwnPort(p) || p === adminPort() };
  const policy: GatewayPolicy = new GatewayPolicy(settings, rulesRepo.list(), Date.now, self);
  const limiter = new Limiter();
  const authLog = logger.child('auth');
  const auth = new Authenticator(() => users.listStored(), {
    freeFailures: settings['auth.maxFailures'],
    forgetMs: settings['auth.lockoutSeconds'] * 1000,
    maxDelayMs: settings['auth.maxDelaySeconds'] * 1000,
    onEvent: (e) =>
      e.type === 'throttle'
        ? authLog.warn('sign-ins slowed down after failures', { client: e.clientAddr, user: e.user, failures: e.failures, retryAfterMs: e.retryAfterMs })
        : authLog.info('failed sign-in', { client: e.clientAddr, user: e.user, failures: e.failures }),
  });
  const resolver = createResolver();
  const admission = new Admission({ policy, auth, limiter, resolver, recorder });
  const gateway: Gateway = new Gateway({ admission, recorder, logger: logger.child('gateway') });
  const startedAt = Date.now();
  let admin: WebAdmin | null = null;
  let adminPortNow = -1;
  const adminPort = () => adminPortNow;

  const status = (): Status => ({
    version: VERSION,
    sharing: settings['sharing.enabled'],
    services: gateway.status(),
    lanAddresses: lanAddresses(),
    admin: { url: admin?.url ?? null },
    dataDir: opts.dataDir,
    startedAt,
    activeConnections: recorder.active,
    totalRequests: recorder.total,
    throttles: auth.throttles().slice(0, 20),
  });

  // assigned below, once the handlers that use these helpers exist
  let control: Control;
  const emitStatus = () => control.emit({ type: 'status', status: status() });

  /** Saves a change (already validated) and applies it to the running services. */
  const applySettings = async (next: Settings): Promise<void> => {
    const prev = settings;
    settings = next;
    policy.apply(next);
    auth.configure({ freeFailures: next['auth.maxFailures'], forgetMs: next['auth.lockoutSeconds'] * 1000, maxDelayMs: next['auth.maxDelaySeconds'] * 1000 });
    try {
      await gateway.apply(next);
    } finally {
      if (JSON.stringify(prev) !== JSON.stringify(next)) control.emit({ type: 'settings', settings: next });
      emitStatus();
    }
  };

  control = new Control({
    'status.get': () => status(),
    'sharing.set': async ({ enabled }) => {
      const next = save({ 'sharing.enabled': enabled });
      try {
        await applySettings(next);
      } catch (err) {
        if (enabled) {
          // could not start: leave the switch off so the next start does not fail the same way
          await applySettings(save({ 'sharing.enabled': false })).catch(() => {});
        }
        throw err;
      }
      return status();
    },
    'settings.get': () => settings,
    'settings.describe': () =>
      SETTING_KEYS.map((key) => ({
        key,
        value: settings[key],
        text: formatSetting(settings[key]),
        default: DEFAULT_SETTINGS[key],
        ...SETTING_INFO[key],
      })),
    'settings.update': async ({ changes }) => {
      const next = save(changes);
      await applySettings(next);
      return settings;
    },
    'settings.setText': async ({ key, value }) => {
      if (!isSettingKey(key)) throw new GatehouseError('E_VALIDATION', `unknown setting "${key}" (known: ${SETTING_KEYS.join(', ')})`);
      const next = save({ [key]: parseSettingText(key, value) });
      await applySettings(next);
      return settings;
    },
    'log.recent': ({ limit, afterId }) => recentLog(db, limit, afterId),
    ...log.handlers,
    'users.list': () => users.list(),
    'users.add': async (input) => usersChanged(await users.add(input)),
    'users.update': ({ name, ...patch }) => usersChanged(users.update(name, patch)),
    'users.setPassword': async ({ name, password }) => usersChanged(await users.setPassword(name, password)),
    'users.remove': ({ name }) => {
      rulesRepo.assertNotNamed('user', name);
      users.remove(name);
      return usersChanged({ removed: name });
    },
    'rules.list': () => ({ rules: rulesRepo.list(), defaultAction: settings['access.defaultAction'] }),
    'rules.add': ({ rule, position }) => rulesChanged(rulesRepo.add(rule, position)),
    'rules.update': ({ id, rule }) => rulesChanged(rulesRepo.update(id, rule)),
    'rules.remove': ({ id }) => {
      rulesRepo.remove(id);
      return rulesChanged({ removed: id });
    },
    'rules.move': ({ id, position }) => rulesChanged(rulesRepo.move(id, position)),
    'rules.setDefault': async ({ action }) => {
      await applySettings(save({ 'access.defaultAction': action }));
      rulesChanged(null);
      return { defaultAction: settings['access.defaultAction'] };
    },
    'rules.test': ({ service, clientAddr, user, host, port, time, method }) => {
      let groups: string[] = [];
      const login = service === 'http' ? settings['http.login'] : settings['socks.login'];
      if (user) {
        const wanted = user.toLowerCase();
        const u = users.list().find((x) => x.name.toLowerCase() === wanted);
        if (!u) throw new GatehouseError('E_VALIDATION', `unknown user "${user}"`);
        if (!u.enabled) return { allow: false, rule: 'login', ruleId: null, reason: `user "${u.name}" is disabled and cannot sign in` };
        if (login === 'off') {
          // with sign-in off nobody is identified: the rules see an anonymous client
          user = undefined;
        } else groups = u.groups;
      } else if (login === 'required') {
        return { allow: false, rule: 'login', ruleId: null, reason: `the ${service === 'http' ? 'HTTP' : 'SOCKS'} proxy requires sign-in (${service}.login is "required")` };
      }
      // an HTTPS site through the HTTP proxy is a CONNECT tunnel
      const m = method ?? (service === 'http' ? (port === 443 ? 'CONNECT' : 'GET') : 'CONNECT');
      const input = { service, clientAddr, user, groups, host, port, method: m, time };
      const d = policy.decide(input);
      if (!d.pending) return { allow: d.allow, rule: d.rule, ruleId: d.ruleId, reason: d.reason };
      // a name the rules cannot decide alone: resolved as the proxies would, then decided on its addresses
      return new Promise((resolve) =>
        resolver.resolve(host, (err, addresses) => {
          if (err) return resolve({ allow: false, rule: 'dns', ruleId: null, reason: `the name ${host} could not be resolved from this PC (${err.code ?? err.message}), so the proxies would answer that it was not found` });
          const a = policy.decide({ ...input, addresses });
          resolve({ allow: a.allow, rule: a.rule, ruleId: a.ruleId, reason: a.reason });
        }),
      );
    },
    'connections.list': () =>
      recorder.live().map((c) => ({
        id: c.id,
        start: c.start,
        service: c.fields.service,
        clientAddr: c.fields.clientAddr,
        user: c.fields.user,
        method: c.fields.method,
        url: c.fields.url,
        rule: c.fields.rule,
      })),
    'connections.kill': async ({ id, user }) => {
      if (id === undefined && !user) throw new GatehouseError('E_VALIDATION', 'connections.kill needs an id or a user');
      const u = user?.toLowerCase();
      const ids = new Set<number>();
      const killed = recorder.kill((c) => {
        const hit = id !== undefined ? c.id === id : c.fields.user.toLowerCase() === u;
        if (hit) ids.add(c.id);
        return hit;
      });
      // answer once they are gone, so a list right after no longer shows them (bounded wait)
      for (let i = 0; i < 100 && recorder.live().some((c) => ids.has(c.id)); i++) await new Promise((r) => setTimeout(r, 20));
      return { killed };
    },
    'groups.list': () => users.listGroups(),
    'groups.add': (input) => usersChanged(users.addGroup(input)),
    'groups.update': ({ name, ...patch }) => usersChanged(users.updateGroup(name, patch)),
    'groups.remove': ({ name }) => {
      rulesRepo.assertNotNamed('group', name);
      users.removeGroup(name);
      return usersChanged({ removed: name });
    },
  });

  /** Rules changed: new connections follow them at once (live ones keep running). */
  function rulesChanged<T>(value: T): T {
    policy.setRules(rulesRepo.list());
    control.emit({ type: 'rules' });
    return value;
  }

  /** Users changed here: sign-ins see it at once, and the UI hears of it. */
  function usersChanged<T>(value: T): T {
    auth.reload();
    policy.setRules(rulesRepo.list());
    control.emit({ type: 'users' });
    return value;
  }

  writer.onRows(
    (rows) => control.emit({ type: 'log', rows }),
    () => control.watched,
  );

  // settings, users and rules written by another process (the CLI) reach us within watchMs
  let seenVersion = dataVersion(db);
  let seen = configVersions(db);
  const watch = setInterval(() => {
    try {
      // data_version moves with every commit of another connection, the log's writing thread
      // included; the per-kind versions tell whether settings, users or rules are what changed
      const v = dataVersion(db);
      if (v === seenVersion) return;
      seenVersion = v;
      const now = configVersions(db);
      const changed = { settings: now.settings !== seen.settings, users: now.users !== seen.users, rules: now.rules !== seen.rules };
      seen = now;
      if (changed.users) {
        auth.reload();
        control.emit({ type: 'users' });
      }
      if (changed.users || changed.rules) policy.setRules(rulesRepo.list());
      if (changed.rules) control.emit({ type: 'rules' });
      if (changed.settings) {
        const now = repo.load();
        // a key saved by another process (the CLI) replaces its run-only override, as a change here does
        for (const k of SETTING_KEYS) if (k in overrides && JSON.stringify(now[k]) !== JSON.stringify(stored[k])) delete overrides[k];
        stored = now;
        const loaded = effective(now);
        if (JSON.stringify(loaded) !== JSON.stringify(settings)) {
          applySettings(loaded).catch((err) => logger.error('could not apply changed settings', { err: String(err.message ?? err) }));
        }
      }
    } catch (err) {
      logger.error('settings watch failed', { err: String(err) });
    }
  }, opts.watchMs ?? 300);
  watch.unref();

  // counters change with traffic; push status now and then while anything happens
  let lastTotals = '';
  const ticker = setInterval(() => {
    const t = `${recorder.active}/${recorder.total}`;
    if (t !== lastTotals) {
      lastTotals = t;
      emitStatus();
    }
  }, 1000);
  ticker.unref();

  try {
    await gateway.apply(settings);
  } catch (err) {
    logger.error((err as Error).message);
    if (opts.sharing === 'on') {
      clearInterval(watch);
      clearInterval(ticker);
      await log.stop();
      db.close();
      throw err;
    }
  }

  if (opts.admin !== false) {
    admin = new WebAdmin({
      control,
      token,
      rendererDir: opts.rendererDir === undefined ? findRendererDir() : opts.rendererDir,
      logger: logger.child('admin'),
      exportsDir: log.exportsDir,
    });
    try {
      await admin.start(settings['admin.listen'], settings['admin.port']);
      adminPortNow = admin.url ? Number(new URL(admin.url).port) : -1;
      // `gatehouse admin-url` reads this to print the address of the running admin
      setMeta(db, 'admin.running', JSON.stringify({ url: admin.url, pid: process.pid }));
    } catch (err) {
      await gateway.stop(0);
      clearInterval(watch);
      clearInterval(ticker);
      await log.stop();
      db.close();
      throw err;
    }
  }

  let stopping: Promise<void> | null = null;
  return {
    control,
    get adminUrl() {
      return admin?.url ?? null;
    },
    adminToken: token,
    status,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        clearInterval(watch);
        clearInterval(ticker);
        await admin?.stop();
        own.stop();
        if (admin) db.prepare("DELETE FROM meta WHERE key = 'admin.running'").run();
        await gateway.stop(graceMs);
        await log.stop();
        db.close();
      })();
      return stopping;
    },
  };
}
