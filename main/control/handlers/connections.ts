/** Live connections: the list, and "disconnect now". Only a gateway running in this process has any. */
import { GatehouseError, type Handlers } from '../../contract/index.js';
import type { ControlContext } from '../context.js';

export function connectionsHandlers(ctx: ControlContext): Pick<Handlers, 'connections.list' | 'connections.kill'> {
  return {
    'connections.list': () =>
      (ctx.live?.recorder.live() ?? []).map((c) => ({
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
      const recorder = ctx.live?.recorder;
      if (!recorder) throw new GatehouseError('E_UNAVAILABLE', 'the gateway does not run in this process; end connections from the admin page');
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
  };
}
