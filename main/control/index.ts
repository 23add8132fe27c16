/**
 * The control service, assembled: one handler module per resource, each with
 * its own validation, all behind the one contract (main/contract/). The
 * runtime builds it over a live gateway, the CLI over the data directory
 * alone (openControl in offline.ts); the web admin, the Electron IPC bridge
 * and the CLI only carry calls to it.
 */
import { Control } from './service.js';
import type { ControlContext } from './context.js';
import { statusHandlers } from './handlers/status.js';
import { settingsHandlers } from './handlers/settings.js';
import { usersHandlers } from './handlers/users.js';
import { rulesHandlers } from './handlers/rules.js';
import { connectionsHandlers } from './handlers/connections.js';
import { logHandlers } from './handlers/log.js';
import { tunnelsHandlers } from './handlers/tunnels.js';

/** The control service over `ctx`, and the context its handlers see (events go to the service's subscribers). */
export function createControl(ctx: Omit<ControlContext, 'emit'>, onExportError?: (file: string, err: string) => void): { control: Control; ctx: ControlContext } {
  let control: Control | null = null;
  const full: ControlContext = { ...ctx, emit: (e) => control?.emit(e) };
  control = new Control({
    ...statusHandlers(full),
    ...settingsHandlers(full),
    ...usersHandlers(full),
    ...rulesHandlers(full),
    ...connectionsHandlers(full),
    ...logHandlers(full, onExportError),
    ...tunnelsHandlers(full),
  });
  return { control, ctx: full };
}
