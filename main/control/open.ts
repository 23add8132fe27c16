/**
 * A data directory opened for the control service: the database, the
 * configuration (settings with this run's overrides, users and groups,
 * rules) and the admin token. The runtime opens it to run a gateway; the CLI
 * opens it to read or change configuration and the log (openControl), with
 * no proxy started.
 */
import { randomBytes } from 'node:crypto';
import type { LogRow, Settings } from '../contract/index.js';
import { GatewayPolicy } from '../policy/policy.js';
import { hashPassword } from '../policy/passwords.js';
import { createResolver } from '../net/resolver.js';
import { openDb, type Db } from '../storage/db.js';
import { acquireDataDirLock, type DataDirLock } from '../storage/lock.js';
import { describeRecovery, openDbRecovering } from '../storage/recover.js';
import { recentLog } from '../storage/log-writer.js';
import { LogStore } from '../storage/log-store.js';
import { RulesRepo } from '../storage/rules-repo.js';
import { SettingsRepo, getMeta, setMeta } from '../storage/settings-repo.js';
import { UsersRepo } from '../storage/users-repo.js';
import { TunnelsRepo } from '../storage/tunnels-repo.js';
import { Router } from '../policy/routes.js';
import { ConfigState } from './config.js';
import type { ControlContext } from './context.js';
import { createControl } from './index.js';
import type { ControlService } from './types.js';

export interface DataDir {
  db: Db;
  /** the gateway's hold on the directory (one gateway per data directory); null for the CLI */
  lock: DataDirLock | null;
  /** what happened when the database was found damaged at start, in one line; null when it was sound */
  recovery: string | null;
  config: ConfigState;
  users: UsersRepo;
  rules: RulesRepo;
  tunnels: TunnelsRepo;
  /** the secret that opens the web admin, created on first use */
  adminToken: string;
  recentLog(limit: number, afterId?: number): LogRow[];
  meta: { get(key: string): string | undefined; set(key: string, value: string): void; remove(key: string): void };
}

/**
 * For a gateway (`gateway: true`): one per directory (a second is refused with E_LOCKED naming
 * the first), and a damaged database is set aside and what can be read is recovered. The CLI
 * takes no lock and refuses a damaged database instead of moving it.
 */
export function openDataDir(dataDir: string, overrides: Partial<Settings> = {}, opts: { gateway?: boolean } = {}): DataDir {
  const lock = opts.gateway ? acquireDataDirLock(dataDir, { pid: process.pid }) : null;
  let db: Db;
  let recovery: string | null = null;
  try {
    if (opts.gateway) {
      const r = openDbRecovering(dataDir);
      db = r.db;
      recovery = r.recovery ? describeRecovery(r.recovery) : null;
    } else db = openDb(dataDir);
  } catch (err) {
    lock?.release();
    throw err;
  }
  try {
    const users = new UsersRepo(db, hashPassword);
    const known = () => ({
      users: new Set(users.list().map((u) => u.name.toLowerCase())),
      groups: new Set(users.listGroups().map((g) => g.name.toLowerCase())),
    });
    const rules = new RulesRepo(db, known);
    const config = new ConfigState(new SettingsRepo(db), overrides);
    const tunnels = new TunnelsRepo(db, {
      known,
      ownPorts: () => ({ http: config.settings['http.port'], socks: config.settings['socks.port'], admin: config.settings['admin.port'] }),
    });
    let token = getMeta(db, 'admin.token');
    if (!token) {
      token = randomBytes(24).toString('base64url');
      setMeta(db, 'admin.token', token);
    }
    return {
      db,
      lock,
      recovery,
      config,
      users,
      rules,
      tunnels,
      adminToken: token,
      recentLog: (limit, afterId) => recentLog(db, limit, afterId),
      meta: {
        get: (key) => getMeta(db, key),
        set: (key, value) => setMeta(db, key, value),
        remove: (key) => void db.prepare('DELETE FROM meta WHERE key = ?').run(key),
      },
    };
  } catch (err) {
    db.close();
    lock?.release();
    throw err;
  }
}

export interface OfflineControl {
  control: ControlService;
  /** the web admin link of this data directory: the running gateway's address when one runs */
  adminLink(): string;
  close(): Promise<void>;
}

/** The control service over a data directory, without a gateway (the CLI). */
export function openControl(dataDir: string, version: string): OfflineControl {
  const dir = openDataDir(dataDir);
  const log = new LogStore({ dataDir, db: dir.db, version, settings: dir.config.settings, write: false });
  const ctx: Omit<ControlContext, 'emit'> = {
    version,
    dataDir,
    config: dir.config,
    users: dir.users,
    rules: dir.rules,
    tunnels: dir.tunnels,
    router: new Router(dir.tunnels.routes(), dir.tunnels.chainsWithSecrets()),
    policy: new GatewayPolicy(dir.config.settings, dir.rules.list()),
    resolver: createResolver(),
    log,
    recentLog: dir.recentLog,
    live: null,
  };
  const { control } = createControl(ctx);
  return {
    control,
    adminLink() {
      const s = dir.config.settings;
      let base: string | null = null;
      // a running gateway wrote where its admin listens (the port may have been picked at start)
      const running = dir.meta.get('admin.running');
      if (running) {
        try {
          const r = JSON.parse(running) as { url: string; pid: number };
          process.kill(r.pid, 0);
          base = r.url;
        } catch {
          base = null; // that process is gone
        }
      }
      if (!base) {
        const host = s['admin.listen'].includes(':') ? `[${s['admin.listen']}]` : s['admin.listen'];
        base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${s['admin.port']}`;
      }
      return `${base}/?token=${dir.adminToken}`;
    },
    async close() {
      await log.stop();
      dir.db.close();
    },
  };
}
