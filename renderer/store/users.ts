/**
 * Users slice: the proxy's users and groups, and changing the sign-in mode
 * of each proxy (settings http.login / socks.login, whose values the settings
 * slice holds). Lists are loaded at start and
 * reloaded on `users` events. Actions that save return the outcome instead of
 * keeping form state here: a dialog keeps what the user typed and shows the
 * server's message beside the form when a save is refused.
 */
import type { Group, Input, Settings, User } from '../../main/contract/index.js';
import { toUiError, type UiError } from './errors.js';
import type { SliceDeps } from './types.js';

export type LoginMode = Settings['http.login'];
export type LoginService = 'http' | 'socks';

/** What a saving action reports back to the form that started it. */
export type Outcome = { ok: true } | { ok: false; error: UiError };

export interface UsersSlice {
  users: User[];
  groups: Group[];
  usersLoaded: boolean;
  usersError: UiError | null;
  /** why the last change made from the list (enable switch) failed */
  usersActionError: UiError | null;
  /** the proxy whose sign-in mode is being changed */
  loginPending: LoginService | null;
  loginError: UiError | null;
  loadUsers(): Promise<void>;
  addUser(input: Input<'users.add'>): Promise<Outcome>;
  updateUser(input: Input<'users.update'>): Promise<Outcome>;
  setUserEnabled(name: string, enabled: boolean): Promise<Outcome>;
  setUserPassword(name: string, password: string): Promise<Outcome>;
  removeUser(name: string): Promise<Outcome>;
  addGroup(input: Input<'groups.add'>): Promise<Outcome>;
  updateGroup(input: Input<'groups.update'>): Promise<Outcome>;
  removeGroup(name: string): Promise<Outcome>;
  /** changes setting http.login or socks.login (the settings slice holds the value) */
  setLoginMode(service: LoginService, mode: LoginMode): Promise<void>;
  dismissLoginError(): void;
  dismissUsersError(): void;
}

export function createUsersSlice({ set, get, call }: SliceDeps): UsersSlice {
  /** runs a change, then reloads both lists (group membership shows on both sides) */
  const change = async (run: () => Promise<unknown>): Promise<Outcome> => {
    try {
      await run();
    } catch (e) {
      return { ok: false, error: toUiError(e) };
    }
    await get().loadUsers();
    return { ok: true };
  };

  return {
    users: [],
    groups: [],
    usersLoaded: false,
    usersError: null,
    usersActionError: null,
    loginPending: null,
    loginError: null,

    async loadUsers() {
      try {
        const [users, groups] = await Promise.all([call('users.list', {}), call('groups.list', {})]);
        set({ users, groups, usersLoaded: true, usersError: null });
      } catch (e) {
        set({ usersLoaded: true, usersError: toUiError(e) });
      }
    },

    addUser: (input) => change(() => call('users.add', input)),
    updateUser: (input) => change(() => call('users.update', input)),
    async setUserEnabled(name, enabled) {
      // flip at once so the switch follows the click; the reload corrects it if refused
      set({ users: get().users.map((u) => (u.name === name ? { ...u, enabled } : u)), usersActionError: null });
      const r = await change(() => call('users.update', { name, enabled }));
      if (!r.ok) {
        set({ usersActionError: r.error });
        await get().loadUsers();
      }
      return r;
    },
    setUserPassword: (name, password) => change(() => call('users.setPassword', { name, password })),
    removeUser: (name) => change(() => call('users.remove', { name })),
    addGroup: (input) => change(() => call('groups.add', input)),
    updateGroup: (input) => change(() => call('groups.update', input)),
    removeGroup: (name) => change(() => call('groups.remove', { name })),

    async setLoginMode(service, mode) {
      if (get().loginPending) return;
      set({ loginPending: service, loginError: null });
      try {
        const settings = await call('settings.update', { changes: { [`${service}.login`]: mode } });
        get().applySettings(settings);
      } catch (e) {
        set({ loginError: toUiError(e) });
      } finally {
        set({ loginPending: null });
      }
    },

    dismissLoginError: () => set({ loginError: null }),
    dismissUsersError: () => set({ usersActionError: null }),
  };
}
