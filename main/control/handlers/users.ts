/** Users and groups. A user or group that a rule names cannot be removed (the rule would change meaning). */
import type { Handlers } from '../../contract/index.js';
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
      users.remove(name);
      return changed({ removed: name });
    },
    'groups.list': () => users.listGroups(),
    'groups.add': (input) => changed(users.addGroup(input)),
    'groups.update': ({ name, ...patch }) => changed(users.updateGroup(name, patch)),
    'groups.remove': ({ name }) => {
      rules.assertNotNamed('group', name);
      users.removeGroup(name);
      return changed({ removed: name });
    },
  };
}
