/** Status and the sharing switch. */
import type { Handlers, Status } from '../../contract/index.js';
import { commit, type ControlContext } from '../context.js';

/** What status a data directory has when no gateway runs in this process (the CLI). */
function offlineStatus(ctx: ControlContext): Status {
  const s = ctx.config.settings;
  return {
    version: ctx.version,
    sharing: s['sharing.enabled'],
    services: [],
    lanAddresses: [],
    admin: { url: null },
    dataDir: ctx.dataDir,
    startedAt: 0,
    activeConnections: 0,
    totalRequests: 0,
  };
}

export function statusHandlers(ctx: ControlContext): Pick<Handlers, 'status.get' | 'sharing.set'> {
  const status = () => ctx.live?.status() ?? offlineStatus(ctx);
  return {
    'status.get': () => status(),
    'sharing.set': async ({ enabled }) => {
      try {
        await commit(ctx, { 'sharing.enabled': enabled });
      } catch (err) {
        // could not start: leave the switch off so the next start does not fail the same way
        if (enabled) await commit(ctx, { 'sharing.enabled': false }).catch(() => {});
        throw err;
      }
      return status();
    },
  };
}
