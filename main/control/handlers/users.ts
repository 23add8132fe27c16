/** Users and groups. A user or group that a rule names cannot be removed (the rule would change meaning). */
import { GatehouseError, type Handlers } from '../../contract/index.js';
import { configChanged, type ControlContext } from '../context.js';

type UserMethods = 'users.list' | 'users.add' | 'users.update' | 'users.setPassword' | 'users.remove' | 'groups.list' | 'groups.add' | 'groups.update' | 'groups.remove';

export function usersHandlers(ctx: ControlContext): Pick<Handlers, UserMethods> {
  const { users, rules } = ctx;
  const changed = <T>(value: T): T => {
    configChanged(ctx, 'users');
    return value;
  };
  return {
    'users.list': () => users.list(),
    'users.add': async (input) => changed(await users.add(input)),
    'users.update': ({ name, ...patch }) => changed(users.update(name, patch)),
    'users.setPassword': async ({ name, password }) => changed(await users.setPassword(name, password)),
    'users.remove': ({ name }) => {
      rules.assertNotNamed('user', name);
      assertNoRoute(ctx, 'user', name);
      users.remove(name);
      return changed({ removed: name });
    },
    'groups.list': () => users.listGroups(),
    'groups.add': (input) => changed(users.addGroup(input)),
    'groups.update': ({ name, ...patch }) => changed(users.updateGroup(name, patch)),
    'groups.remove': ({ name }) => {
      rules.assertNotNamed('group', name);
      assertNoRoute(ctx, 'group', name);
      users.removeGroup(name);
      return changed({ removed: name });
    },
  };
}

/** A route that names the user or group would change meaning: it must be changed first. */
function assertNoRoute(ctx: ControlContext, kind: 'user' | 'group', name: string): void {
  const using = ctx.tunnels.naming(kind, name);
  if (using.length) {
    const all = ctx.tunnels.routes().map((r) => r.id);
    const where = using.map((r) => `#${all.indexOf(r.id) + 1}`).join(', ');
    throw new GatehouseError('E_VALIDATION', `${kind} "${name}" is named by the route${using.length === 1 ? '' : 's'} at position ${where}; change or remove ${using.length === 1 ? 'that route' : 'those routes'} first`);
  }
}
