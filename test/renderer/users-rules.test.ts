/**
 * The users, rules and connections slices of the renderer store, driven
 * through getState() over a Transport of our own whose handlers keep users,
 * groups, rules and connections in memory and refuse bad input the way the
 * control service does (E_VALIDATION with a message naming the value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Transport } from '../../main/contract/client.js';
import {
  DEFAULT_SETTINGS,
  EMPTY_RULE,
  GatehouseError,
  SETTING_INFO,
  SETTING_KEYS,
  formatSetting,
  validateSetting,
  type Connection,
  type GatehouseEvent,
  type Group,
  type MethodName,
  type Rule,
  type RuleInput,
  type SettingKey,
  type Settings,
  type User,
} from '../../main/contract/index.js';
import { validateRule } from '../../main/policy/rules.js';
import type { StreamState } from '../../renderer/api/transport.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';

type Handler = (input: any) => unknown;

const user = (name: string, over: Partial<User> = {}): User => ({ name, enabled: true, note: '', groups: [], created: 1, updated: 1, ...over });
const rule = (id: number, over: Partial<RuleInput> = {}): Rule => ({ ...EMPTY_RULE, name: `rule ${id}`, ...over, id });
const conn = (id: number, u: string): Connection => ({
  id,
  start: 1_700_000_000_000,
  service: 'socks',
  clientAddr: '192.168.1.20',
  user: u,
  method: 'CONNECT',
  url: 'example.com:443',
  rule: 'Local network',
});

function fakeGateway() {
  let settings: Settings = { ...DEFAULT_SETTINGS };
  const db = {
    users: [user('alice', { groups: ['staff'] }), user('bob')] as User[],
    groups: [{ name: 'staff', note: '', members: ['alice'] }] as Group[],
    rules: [rule(1, { name: 'Local network', sources: ['local'] })] as Rule[],
    connections: [conn(1, 'alice'), conn(2, 'alice'), conn(3, 'bob')] as Connection[],
    nextId: 2,
  };
  const known = () => ({
    users: new Set(db.users.map((u) => u.name.toLowerCase())),
    groups: new Set(db.groups.map((g) => g.name.toLowerCase())),
  });
  const findUser = (name: string) => {
    const u = db.users.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!u) throw new GatehouseError('E_NOT_FOUND', `no user named "${name}"`);
    return u;
  };
  const handlers: Partial<Record<MethodName, Handler>> = {
    'status.get': () => ({
      version: '0.1.0',
      sharing: true,
      services: [],
      lanAddresses: [],
      admin: { url: null },
      dataDir: '/tmp/gh',
      startedAt: 0,
      activeConnections: 0,
      totalRequests: 0,
    }),
    'settings.describe': () =>
      SETTING_KEYS.map((key) => ({
        key,
        value: settings[key],
        text: formatSetting(settings[key]),
        default: DEFAULT_SETTINGS[key],
        ...SETTING_INFO[key],
      })),
    'settings.update': ({ changes }: { changes: Record<string, unknown> }) => {
      const next = { ...settings };
      for (const [k, v] of Object.entries(changes)) (next as Record<string, unknown>)[k] = validateSetting(k as SettingKey, v);
      settings = next;
      return settings;
    },
    'log.recent': () => [],
    'users.list': () => db.users,
    'groups.list': () => db.groups,
    'users.add': (input: { name: string; password: string; groups?: string[]; note?: string; enabled?: boolean }) => {
      if (db.users.some((u) => u.name.toLowerCase() === input.name.toLowerCase())) {
        throw new GatehouseError('E_VALIDATION', `a user named "${input.name}" already exists`);
      }
      for (const g of input.groups ?? []) if (!known().groups.has(g.toLowerCase())) throw new GatehouseError('E_VALIDATION', `unknown group "${g}" (create it first)`);
      const u = user(input.name, { groups: input.groups ?? [], note: input.note ?? '', enabled: input.enabled ?? true });
      db.users = [...db.users, u];
      return u;
    },
    'users.update': ({ name, ...patch }: { name: string; enabled?: boolean; note?: string; groups?: string[] }) => {
      const u = { ...findUser(name), ...patch };
      db.users = db.users.map((x) => (x.name === u.name ? u : x));
      return u;
    },
    'users.setPassword': ({ name }: { name: string }) => findUser(name),
    'users.remove': ({ name }: { name: string }) => {
      findUser(name);
      db.users = db.users.filter((u) => u.name !== name);
      return { removed: name };
    },
    'groups.add': ({ name, members }: { name: string; members?: string[] }) => {
      const g = { name, note: '', members: members ?? [] };
      db.groups = [...db.groups, g];
      return g;
    },
    'groups.remove': ({ name }: { name: string }) => {
      db.groups = db.groups.filter((g) => g.name !== name);
      return { removed: name };
    },
    'rules.list': () => ({ rules: db.rules, defaultAction: settings['access.defaultAction'] }),
    'rules.add': ({ rule: input, position }: { rule: RuleInput; position?: number }) => {
      const r = { ...validateRule(input, known()), id: db.nextId++ };
      const rules = [...db.rules];
      rules.splice(position ?? rules.length, 0, r);
      db.rules = rules;
      return r;
    },
    'rules.update': ({ id, rule: patch }: { id: number; rule: Partial<RuleInput> }) => {
      const i = db.rules.findIndex((r) => r.id === id);
      if (i < 0) throw new GatehouseError('E_NOT_FOUND', `no rule with id ${id}`);
      const { id: _id, ...cur } = db.rules[i]!;
      const r = { ...validateRule({ ...cur, ...patch }, known(), i), id };
      db.rules = db.rules.map((x) => (x.id === id ? r : x));
      return r;
    },
    'rules.remove': ({ id }: { id: number }) => {
      db.rules = db.rules.filter((r) => r.id !== id);
      return { removed: id };
    },
    'rules.move': ({ id, position }: { id: number; position: number }) => {
      const rules = db.rules.filter((r) => r.id !== id);
      rules.splice(position, 0, db.rules.find((r) => r.id === id)!);
      db.rules = rules;
      return db.rules;
    },
    'rules.setDefault': ({ action }: { action: 'allow' | 'deny' }) => {
      settings = { ...settings, 'access.defaultAction': action };
      return { defaultAction: action };
    },
    'rules.test': ({ user: u }: { user?: string }) => {
      if (u && !known().users.has(u.toLowerCase())) throw new GatehouseError('E_VALIDATION', `unknown user "${u}"`);
      const first = db.rules[0];
      return first
        ? { allow: first.action === 'allow', rule: first.name, ruleId: first.id, reason: `allowed by rule "${first.name}"` }
        : { allow: false, rule: 'default', ruleId: null, reason: 'no rule allows this, and the default action is deny' };
    },
    'connections.list': () => db.connections,
    'connections.kill': ({ id, user: u }: { id?: number; user?: string }) => {
      const gone = db.connections.filter((c) => (id !== undefined ? c.id === id : c.user.toLowerCase() === u?.toLowerCase()));
      db.connections = db.connections.filter((c) => !gone.includes(c));
      return { killed: gone.length };
    },
  };

  const listeners = new Set<(e: GatehouseEvent) => void>();
  const calls: Array<{ method: string; input: any }> = [];
  const gates = new Map<string, Promise<void>>();
  const transport: Transport = {
    async call(method, input) {
      calls.push({ method, input });
      await gates.get(method);
      const h = handlers[method as MethodName];
      if (!h) return { ok: false, error: { code: 'E_UNKNOWN_METHOD', message: `unknown method ${method}` } };
      try {
        return { ok: true, value: structuredClone(await h(input)) };
      } catch (e) {
        return { ok: false, error: GatehouseError.from(e).toData() };
      }
    },
    subscribe(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
  };
  const api = {
    client: createClient(transport),
    onStreamState(cb: (s: StreamState) => void) {
      cb('connected');
      return () => {};
    },
  };
  return {
    api,
    db,
    handlers,
    calls,
    callsOf: (m: string) => calls.filter((c) => c.method === m),
    settings: () => settings,
    emit: (e: GatehouseEvent) => listeners.forEach((l) => l(e)),
    /** holds calls of `method` until the returned function is called */
    hold(method: string): () => void {
      let release!: () => void;
      gates.set(method, new Promise<void>((r) => (release = r)));
      return () => {
        gates.delete(method);
        release();
      };
    },
  };
}

async function started(gw = fakeGateway(), connectionsPollMs = 0): Promise<{ gw: ReturnType<typeof fakeGateway>; store: AppStore }> {
  const store = createAppStore(gw.api, { statusPollMs: 0, statusAfterLogMs: 5, connectionsPollMs });
  await store.getState().start();
  return { gw, store };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const names = (store: AppStore) => store.getState().rules.map((r) => r.name);

test('start loads users, groups, rules and the default action', async () => {
  const { store } = await started();
  const s = store.getState();
  assert.deepEqual(
    s.users.map((u) => u.name),
    ['alice', 'bob'],
  );
  assert.deepEqual(s.groups[0]?.members, ['alice']);
  assert.equal(s.usersLoaded, true);
  assert.deepEqual(names(store), ['Local network']);
  assert.equal(s.defaultAction, 'deny');
  assert.equal(s.rulesLoaded, true);
  s.stop();
});

test('users and rules events reload the lists (changes made elsewhere show up)', async () => {
  const { gw, store } = await started();
  gw.db.users = [...gw.db.users, user('carol')];
  gw.emit({ type: 'users' });
  await tick(5);
  assert.deepEqual(
    store.getState().users.map((u) => u.name),
    ['alice', 'bob', 'carol'],
  );
  gw.db.rules = [rule(9, { name: 'From the CLI' }), ...gw.db.rules];
  gw.emit({ type: 'rules' });
  await tick(5);
  assert.deepEqual(names(store), ['From the CLI', 'Local network']);
  store.getState().stop();
});

test('adding a user saves it and reloads users and groups; a refusal returns the server message', async () => {
  const { gw, store } = await started();
  const ok = await store.getState().addUser({ name: 'dave', password: 'pw', groups: ['staff'], note: 'laptop' });
  assert.deepEqual(ok, { ok: true });
  assert.deepEqual(gw.callsOf('users.add').at(-1)?.input, { name: 'dave', password: 'pw', groups: ['staff'], note: 'laptop' });
  assert.ok(store.getState().users.some((u) => u.name === 'dave' && u.groups[0] === 'staff'));

  const dup = await store.getState().addUser({ name: 'Alice', password: 'pw' });
  assert.equal(dup.ok, false);
  assert.equal(!dup.ok && dup.error.code, 'E_VALIDATION');
  assert.match(!dup.ok ? dup.error.message : '', /a user named "Alice" already exists/);
  const bad = await store.getState().addUser({ name: 'erin', password: 'pw', groups: ['nope'] });
  assert.match(!bad.ok ? bad.error.message : '', /unknown group "nope"/);
  assert.equal(store.getState().users.length, 3, 'nothing half-saved');
  store.getState().stop();
});

test('the enable switch flips at once and goes back when the server refuses', async () => {
  const { gw, store } = await started();
  const release = gw.hold('users.update');
  const done = store.getState().setUserEnabled('bob', false);
  assert.equal(store.getState().users.find((u) => u.name === 'bob')?.enabled, false, 'flipped before the answer');
  release();
  assert.deepEqual(await done, { ok: true });
  assert.equal(gw.db.users.find((u) => u.name === 'bob')?.enabled, false);

  gw.handlers['users.update'] = () => {
    throw new GatehouseError('E_INTERNAL', 'disk full');
  };
  const r = await store.getState().setUserEnabled('alice', false);
  assert.equal(r.ok, false);
  assert.equal(store.getState().users.find((u) => u.name === 'alice')?.enabled, true, 'back to the saved value');
  assert.equal(store.getState().usersActionError?.message, 'disk full');
  store.getState().dismissUsersError();
  assert.equal(store.getState().usersActionError, null);
  store.getState().stop();
});

test('password reset, delete and groups go through the API and reload the lists', async () => {
  const { gw, store } = await started();
  assert.deepEqual(await store.getState().setUserPassword('alice', 's3cret'), { ok: true });
  assert.deepEqual(gw.callsOf('users.setPassword').at(-1)?.input, { name: 'alice', password: 's3cret' });
  assert.deepEqual(await store.getState().addGroup({ name: 'kids', members: ['bob'] }), { ok: true });
  assert.ok(store.getState().groups.some((g) => g.name === 'kids'));
  assert.deepEqual(await store.getState().removeUser('bob'), { ok: true });
  assert.deepEqual(
    store.getState().users.map((u) => u.name),
    ['alice'],
  );
  const gone = await store.getState().removeUser('bob');
  assert.equal(!gone.ok && gone.error.code, 'E_NOT_FOUND');
  assert.deepEqual(await store.getState().removeGroup('kids'), { ok: true });
  assert.ok(!store.getState().groups.some((g) => g.name === 'kids'));
  store.getState().stop();
});

test('changing socks.login saves it through settings.update and the settings show it; a failure is kept to show', async () => {
  const { gw, store } = await started();
  const loginText = () => store.getState().settings.find((f) => f.key === 'socks.login')?.text;
  assert.equal(loginText(), 'off');
  const release = gw.hold('settings.update');
  const done = store.getState().setLoginMode('socks', 'required');
  assert.equal(store.getState().loginPending, 'socks');
  await store.getState().setLoginMode('http', 'required'); // ignored while one is saving
  release();
  await done;
  assert.equal(store.getState().loginPending, null);
  assert.equal(loginText(), 'required');
  assert.deepEqual(gw.callsOf('settings.update').map((c) => c.input), [{ changes: { 'socks.login': 'required' } }]);

  gw.handlers['settings.update'] = () => {
    throw new GatehouseError('E_UNAVAILABLE', 'Cannot reach Gatehouse');
  };
  await store.getState().setLoginMode('http', 'optional');
  assert.equal(store.getState().loginError?.code, 'E_UNAVAILABLE');
  assert.match(store.getState().loginError!.hint, /still running/);
  store.getState().dismissLoginError();
  assert.equal(store.getState().loginError, null);
  store.getState().stop();
});

test('a rule is added at the chosen position; a refused rule returns the message that names the field', async () => {
  const { gw, store } = await started();
  const block: RuleInput = { ...EMPTY_RULE, name: 'Block mail', action: 'deny', ports: '25,465,587', destinations: ['*.example.com'] };
  assert.deepEqual(await store.getState().addRule(block, 0), { ok: true });
  assert.equal(gw.callsOf('rules.add').at(-1)?.input.position, 0);
  assert.deepEqual(names(store), ['Block mail', 'Local network']);

  const reversed = await store.getState().addRule({ ...block, ports: '90-80' }, 0);
  assert.equal(reversed.ok, false);
  assert.equal(!reversed.ok && reversed.error.code, 'E_VALIDATION');
  assert.equal(!reversed.ok && reversed.error.message, 'rule "Block mail": port range "90-80" is reversed');
  const group = await store.getState().updateRule(store.getState().rules[0]!.id, { groups: ['nobody'] });
  assert.equal(!group.ok && group.error.message, 'rule "Block mail": unknown group "nobody"');
  assert.deepEqual(names(store), ['Block mail', 'Local network'], 'nothing half-saved');
  assert.deepEqual(store.getState().rules[0]?.groups, []);
  store.getState().stop();
});

test('moving a rule shows the new order at once and keeps the order the server returns', async () => {
  const gw = fakeGateway();
  gw.db.rules = [rule(1, { name: 'a' }), rule(2, { name: 'b' }), rule(3, { name: 'c' })];
  const { store } = await started(gw);
  const release = gw.hold('rules.move');
  const done = store.getState().moveRule(3, 0);
  assert.deepEqual(names(store), ['c', 'a', 'b'], 'moved before the answer');
  assert.equal(store.getState().rulesBusy, true);
  await store.getState().moveRule(1, 2); // ignored while busy
  release();
  await done;
  assert.equal(store.getState().rulesBusy, false);
  assert.deepEqual(names(store), ['c', 'a', 'b']);
  assert.deepEqual(gw.callsOf('rules.move').map((c) => c.input), [{ id: 3, position: 0 }]);
  // out of range: nothing sent
  await store.getState().moveRule(3, -1);
  await store.getState().moveRule(2, 3);
  assert.equal(gw.callsOf('rules.move').length, 1);
  store.getState().stop();
});

test('a failed list change is reported and the list shows what the server has', async () => {
  const gw = fakeGateway();
  gw.db.rules = [rule(1, { name: 'a' }), rule(2, { name: 'b' })];
  const { store } = await started(gw);
  gw.handlers['rules.move'] = () => {
    throw new GatehouseError('E_NOT_FOUND', 'no rule with id 2');
  };
  await store.getState().moveRule(2, 0);
  assert.equal(store.getState().rulesActionError?.code, 'E_NOT_FOUND');
  assert.match(store.getState().rulesActionError!.hint, /reload/);
  assert.deepEqual(names(store), ['a', 'b'], 'the optimistic order is undone');

  await store.getState().setRuleEnabled(1, false);
  assert.equal(store.getState().rulesActionError, null, 'a later success clears it');
  assert.equal(gw.db.rules[0]?.enabled, false);
  assert.equal(store.getState().rules[0]?.enabled, false);
  assert.deepEqual(await store.getState().removeRule(2), { ok: true });
  assert.deepEqual(names(store), ['a']);
  store.getState().stop();
});

test('the default action is saved, and goes back when refused', async () => {
  const { gw, store } = await started();
  await store.getState().setDefaultAction('allow');
  assert.equal(store.getState().defaultAction, 'allow');
  assert.equal(gw.settings()['access.defaultAction'], 'allow');
  gw.handlers['rules.setDefault'] = () => {
    throw new GatehouseError('E_INTERNAL', 'disk full');
  };
  await store.getState().setDefaultAction('deny');
  assert.equal(store.getState().defaultAction, 'allow');
  assert.equal(store.getState().rulesActionError?.message, 'disk full');
  store.getState().stop();
});

test('the tester keeps the answer and the rule that decided; a rules change marks it stale', async () => {
  const { gw, store } = await started();
  const input = { service: 'socks' as const, clientAddr: '192.168.1.20', user: 'alice', host: 'www.facebook.com', port: 443 };
  const release = gw.hold('rules.test');
  const done = store.getState().testRule(input);
  assert.equal(store.getState().ruleTest.pending, true);
  release();
  await done;
  let t = store.getState().ruleTest;
  assert.equal(t.pending, false);
  assert.deepEqual(t.input, input);
  assert.deepEqual(t.result, { allow: true, rule: 'Local network', ruleId: 1, reason: 'allowed by rule "Local network"' });
  assert.equal(t.stale, false);

  await store.getState().loadRules();
  assert.equal(store.getState().ruleTest.stale, false, 'reloading the same rules keeps it fresh');
  await store.getState().addRule({ ...EMPTY_RULE, name: 'New', action: 'deny' }, 1);
  t = store.getState().ruleTest;
  assert.equal(t.stale, true);
  assert.equal(t.result?.ruleId, 1, 'the old answer stays, marked stale');
  // a move is shown before the server answers, and still makes the answer stale
  await store.getState().moveRule(t.result!.ruleId!, 1);
  assert.equal(store.getState().ruleTest.stale, true);
  await store.getState().testRule(input);
  assert.equal(store.getState().ruleTest.stale, false);
  await store.getState().moveRule(store.getState().rules[0]!.id, 1);
  assert.equal(store.getState().ruleTest.stale, true, 'moved: stale');

  await store.getState().testRule({ ...input, user: 'mallory' });
  t = store.getState().ruleTest;
  assert.equal(t.result, null);
  assert.equal(t.error?.message, 'unknown user "mallory"');
  store.getState().clearRuleTest();
  assert.equal(store.getState().ruleTest.input, null);
  store.getState().stop();
});

test('open connections are polled only while watched; disconnect ends a user’s connections and says how many', async () => {
  const { gw, store } = await started(fakeGateway(), 20);
  assert.equal(gw.callsOf('connections.list').length, 0, 'not loaded until a page watches');
  const unwatchA = store.getState().watchConnections();
  const unwatchB = store.getState().watchConnections();
  await tick(70);
  assert.equal(store.getState().connections.length, 3);
  const polled = gw.callsOf('connections.list').length;
  assert.ok(polled >= 2, `polled ${polled} times`);
  unwatchA();
  unwatchA(); // twice is harmless
  await tick(50);
  assert.ok(gw.callsOf('connections.list').length > polled, 'still polling for the other watcher');
  unwatchB();
  const after = gw.callsOf('connections.list').length;
  await tick(60);
  assert.equal(gw.callsOf('connections.list').length, after, 'stopped with the last watcher');

  await store.getState().disconnectUser('Alice');
  assert.deepEqual(gw.callsOf('connections.kill').at(-1)?.input, { user: 'Alice' });
  assert.deepEqual(store.getState().disconnectNote, { key: 'alice', text: 'Ended 2 connections of Alice.', error: false });
  assert.deepEqual(
    store.getState().connections.map((c) => c.id),
    [3],
    'reloaded after the disconnect',
  );
  assert.deepEqual(store.getState().disconnecting, {});
  await store.getState().disconnectUser('alice');
  assert.equal(store.getState().disconnectNote?.text, 'alice had no open connections.');
  await store.getState().disconnectConnection(3);
  assert.deepEqual(gw.callsOf('connections.kill').at(-1)?.input, { id: 3 });
  assert.equal(store.getState().disconnectNote?.text, 'Ended the connection.');

  // the gateway answers before the sockets have closed: the list may still show them for a moment
  gw.db.connections = [conn(4, 'carol'), conn(5, 'carol'), conn(6, 'dave')];
  await store.getState().loadConnections();
  gw.handlers['connections.kill'] = ({ user: u }: { user: string }) => ({ killed: gw.db.connections.filter((c) => c.user === u).length });
  await store.getState().disconnectUser('carol');
  assert.equal(store.getState().disconnectNote?.text, 'Ended 2 connections of carol.');
  assert.deepEqual(
    store.getState().connections.map((c) => c.id),
    [6],
    'ended connections are not shown again while they close',
  );

  gw.handlers['connections.kill'] = () => {
    throw new GatehouseError('E_UNAVAILABLE', 'Cannot reach Gatehouse');
  };
  await store.getState().disconnectUser('bob');
  assert.equal(store.getState().disconnectNote?.error, true);
  assert.match(store.getState().disconnectNote!.text, /Could not disconnect bob: Cannot reach Gatehouse/);
  store.getState().stop();
});
