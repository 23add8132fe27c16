/**
 * Settings, users and rules saved by another process (the CLI while a
 * gateway runs) reach the running gateway and every open UI within `everyMs`,
 * as a change made here would.
 */
import type { Logger } from '../logger.js';
import { configVersions, dataVersion, type Db } from '../storage/db.js';
import { configChanged, putInForce, tunnelsChanged, type ControlContext } from './context.js';

export function watchOtherProcesses(ctx: ControlContext, db: Db, everyMs: number, logger: Logger): () => void {
  let seenVersion = dataVersion(db);
  let seen = configVersions(db);
  const timer = setInterval(() => {
    try {
      // data_version moves with every commit of another connection, the log's writing thread
      // included; the per-kind versions tell whether settings, users or rules are what changed
      const v = dataVersion(db);
      if (v === seenVersion) return;
      seenVersion = v;
      const now = configVersions(db);
      const changed = { settings: now.settings !== seen.settings, users: now.users !== seen.users, rules: now.rules !== seen.rules, tunnels: now.tunnels !== seen.tunnels };
      seen = now;
      if (changed.users) configChanged(ctx, 'users');
      else if (changed.rules) configChanged(ctx, 'rules');
      if (changed.users && changed.rules) ctx.emit({ type: 'rules' });
      if (changed.tunnels) tunnelsChanged(ctx).catch((err) => logger.error('could not apply changed port mappings', { err: String(err.message ?? err) }));
      if (changed.settings) {
        const prev = ctx.config.settings;
        if (ctx.config.reload()) {
          putInForce(ctx, prev, ctx.config.settings).catch((err) => logger.error('could not apply changed settings', { err: String(err.message ?? err) }));
        }
      }
    } catch (err) {
      logger.error('settings watch failed', { err: String(err) });
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
