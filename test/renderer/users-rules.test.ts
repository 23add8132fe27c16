/**
 * The users, rules and connections slices of the renderer store, driven
 * through getState() against a real Gatehouse started in this process,
 * reached through the renderer's web transport signed in with the admin
 * cookie (test/helpers/web-gateway.ts). Refusals are the service's own
 * (E_VALIDATION naming the value, E_NOT_FOUND for what went meanwhile);
 * "Cannot reach Gatehouse" is the admin's address taken down for real; open
 * connections are real requests held open through the HTTP proxy. Each test
 * starts from the same configuration, put back through the control API:
 * users alice (group staff) and bob, the rule "Local network", default deny.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_RULE, type Group, type Rule, type RuleInput, type Settings, type User } from '../../main/contract/index.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';
import { ok, sleep, startWebGateway, until, type Session, type WebGateway } from '../helpers/web-gateway.js';

const PASSWORD = 'correct horse';

let gw: WebGateway;
const stores: AppStore[] = [];

before(async () => {
  gw = await startWebGateway({ sharing: 'on' });
});
after(async () => {
  for (const s of stores) s.getState().stop();
  await gw?.close();
});

const call = <T>(method: string, input: unknown) => ok<T>(gw.rt.control.call(method, input));
const serverRules = async () => (await call<{ rules: Rule[] }>('rules.list', {})).rules;
const serverUsers = () => call<User[]>('users.list', {});

/** Puts the configuration back to the one every test starts from; returns the rules it made, in order. */
async function baseline(ruleNames: string[] = []): Promise<Rule[]> {
  // rules first: a user or group a rule names cannot be removed
  for (const r of await serverRules()) await call('rules.remove', { id: r.id });
  for (const u of await serverUsers()) await call('users.remove', { name: u.name });
  for (const g of await call<Group[]>('groups.list', {})) await call('groups.remove', { name: g.name });
  await call('groups.add', { name: 'staff' });
  await call('users.add', { name: 'alice', password: PASSWORD, groups: ['staff'] });
  await call('users.add', { name: 'bob', password: PASSWORD });
  const names = ruleNames.length ? ruleNames : ['Local network'];
  for (const name of names) await call('rules.add', { rule: { ...EMPTY_RULE, name, sources: ['local'] } });
  await call<Settings>('settings.update', { changes: { 'access.defaultAction': 'deny', 'http.login': 'off', 'socks.login': 'off' } });
  return serverRules();
}

async function started(connectionsPollMs = 0): Promise<{ session: Session; store: AppStore }> {
  const session = await gw.session();
  const store = createAppStore(session.api, { statusPollMs: 0, statusAfterLogMs: 5, connectionsPollMs });
  stores.push(store);
  await store.getState().start();
  return { session, store };
}

/** Runs `fn` with the web admin unreachable (its address refuses connections), then brings it back. */
async function unreachable<T>(fn: () => Promise<T>): Promise<T> {
  await gw.relay.down();
  try {
    return await fn();
  } finally {
    await gw.relay.up();
  }
}

const names = (store: AppStore) => store.getState().rules.map((r) => r.name);

test('start loads users, groups, rules and the default action', async () => {
  await baseline();
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
  await baseline();
  const { store } = await started();
  await until('the event stream is up', () => store.getState().stream === 'connected');
  await call('users.add', { name: 'carol', password: PASSWORD });
  await until('carol shows', () => store.getState().users.some((u) => u.name === 'carol'));
  assert.deepEqual(
    store.getState().users.map((u) => u.name),
    ['alice', 'bob', 'carol'],
  );
  await call('rules.add', { rule: { ...EMPTY_RULE, name: 'From the CLI', action: 'deny' }, position: 0 });
  await until('the new rule shows', () => names(store).length === 2);
  assert.deepEqual(names(store), ['From the CLI', 'Local network']);
  store.getState().stop();
});

test('adding a user saves it and reloads users and groups; a refusal returns the server message', async () => {
  await baseline();
  const { session, store } = await started();
  const added = await store.getState().addUser({ name: 'dave', password: 'pw', groups: ['staff'], note: 'laptop' });
  assert.deepEqual(added, { ok: true });
  assert.deepEqual(session.callsOf('users.add').at(-1)?.input, { name: 'dave', password: 'pw', groups: ['staff'], note: 'laptop' });
  assert.ok(store.getState().users.some((u) => u.name === 'dave' && u.groups[0] === 'staff'));
  assert.deepEqual(store.getState().groups.find((g) => g.name === 'staff')?.members, ['alice', 'dave'], 'groups reloaded too');

  const dup = await store.getState().addUser({ name: 'Alice', password: 'pw' });
  assert.equal(dup.ok, false);
  assert.equal(!dup.ok && dup.error.code, 'E_VALIDATION');
  assert.equal(!dup.ok && dup.error.message, 'a user named "Alice" already exists');
  const bad = await store.getState().addUser({ name: 'erin', password: 'pw', groups: ['nope'] });
  assert.equal(!bad.ok && bad.error.message, 'unknown group "nope" (create it first)');
  assert.equal(store.getState().users.length, 3, 'nothing half-saved');
  assert.equal((await serverUsers()).length, 3);
  store.getState().stop();
});

test('the enable switch flips at once; refused, the list shows what the server has', async () => {
  await baseline();
  const { session, store } = await started();
  const release = session.hold('users.update');
  const done = store.getState().setUserEnabled('bob', false);
  assert.equal(store.getState().users.find((u) => u.name === 'bob')?.enabled, false, 'flipped before the answer');
  release();
  assert.deepEqual(await done, { ok: true });
  assert.equal((await serverUsers()).find((u) => u.name === 'bob')?.enabled, false);

  // alice is deleted elsewhere while this page still lists her (her "users" event not read yet)
  await call('users.remove', { name: 'alice' });
  assert.ok(store.getState().users.some((u) => u.name === 'alice'));
  const r = await store.getState().setUserEnabled('alice', false);
  assert.equal(r.ok, false);
  assert.equal(store.getState().usersActionError?.code, 'E_NOT_FOUND');
  assert.equal(store.getState().usersActionError?.message, 'no user named "alice"');
  assert.deepEqual(
    store.getState().users.map((u) => [u.name, u.enabled]),
    [['bob', false]],
    'the flipped row is not kept',
  );
  store.getState().dismissUsersError();
  assert.equal(store.getState().usersActionError, null);
  store.getState().stop();
});

test('password reset, delete and groups go through the API and reload the lists', async () => {
  await baseline();
  const { session, store } = await started();
  assert.deepEqual(await store.getState().setUserPassword('alice', 's3cret'), { ok: true });
  assert.deepEqual(session.callsOf('users.setPassword').at(-1)?.input, { name: 'alice', password: 's3cret' });
  assert.deepEqual(await store.getState().addGroup({ name: 'kids', members: ['bob'] }), { ok: true });
  assert.deepEqual(store.getState().groups.find((g) => g.name === 'kids')?.members, ['bob']);
  assert.deepEqual(store.getState().users.find((u) => u.name === 'bob')?.groups, ['kids'], 'membership shows on both sides');
  assert.deepEqual(await store.getState().removeUser('bob'), { ok: true });
  assert.deepEqual(
    store.getState().users.map((u) => u.name),
    ['alice'],
  );
  const gone = await store.getState().removeUser('bob');
  assert.equal(!gone.ok && gone.error.code, 'E_NOT_FOUND');
  assert.equal(!gone.ok && gone.error.message, 'no user named "bob"');
  assert.deepEqual(await store.getState().removeGroup('kids'), { ok: true });
  assert.ok(!store.getState().groups.some((g) => g.name === 'kids'));
  store.getState().stop();
});

test('changing socks.login saves it through settings.update and the settings show it; a failure is kept to show', async () => {
  await baseline();
  const { session, store } = await started();
  const loginText = () => store.getState().settings.find((f) => f.key === 'socks.login')?.text;
  assert.equal(loginText(), 'off');
  const release = session.hold('settings.update');
  const done = store.getState().setLoginMode('socks', 'required');
  assert.equal(store.getState().loginPending, 'socks');
  await store.getState().setLoginMode('http', 'required'); // ignored while one is saving
  release();
  await done;
  assert.equal(store.getState().loginPending, null);
  assert.equal(loginText(), 'required');
  assert.deepEqual(
    session.callsOf('settings.update').map((c) => c.input),
    [{ changes: { 'socks.login': 'required' } }],
  );
  assert.equal((await call<Settings>('settings.get', {}))['socks.login'], 'required');

  await unreachable(() => store.getState().setLoginMode('http', 'optional'));
  assert.equal(store.getState().loginError?.code, 'E_UNAVAILABLE');
  assert.match(store.getState().loginError!.message, /Cannot reach Gatehouse/);
  assert.match(store.getState().loginError!.hint, /still running/);
  assert.equal((await call<Settings>('settings.get', {}))['http.login'], 'off');
  store.getState().dismissLoginError();
  assert.equal(store.getState().loginError, null);
  store.getState().stop();
});

test('a rule is added at the chosen position; a refused rule returns the message that names the field', async () => {
  await baseline();
  const { session, store } = await started();
  const block: RuleInput = { ...EMPTY_RULE, name: 'Block mail', action: 'deny', ports: '25,465,587', destinations: ['*.example.com'] };
  assert.deepEqual(await store.getState().addRule(block, 0), { ok: true });
  assert.equal(session.callsOf('rules.add').at(-1)?.input.position, 0);
  assert.deepEqual(names(store), ['Block mail', 'Local network']);

  const reversed = await store.getState().addRule({ ...block, ports: '90-80' }, 0);
  assert.equal(reversed.ok, false);
  assert.equal(!reversed.ok && reversed.error.code, 'E_VALIDATION');
  assert.equal(!reversed.ok && reversed.error.message, 'rule "Block mail": port range "90-80" is reversed');
  const group = await store.getState().updateRule(store.getState().rules[0]!.id, { groups: ['nobody'] });
  assert.equal(!group.ok && group.error.message, 'rule "Block mail": unknown group "nobody"');
  assert.deepEqual(names(store), ['Block mail', 'Local network'], 'nothing half-saved');
  assert.deepEqual(store.getState().rules[0]?.groups, []);
  assert.deepEqual(
    (await serverRules()).map((r) => [r.name, r.groups]),
    [
      ['Block mail', []],
      ['Local network', []],
    ],
  );
  store.getState().stop();
});

test('moving a rule shows the new order at once and keeps the order the server returns', async () => {
  const [a, b, c] = await baseline(['a', 'b', 'c']);
  const { session, store } = await started();
  const release = session.hold('rules.move');
  const done = store.getState().moveRule(c!.id, 0);
  assert.deepEqual(names(store), ['c', 'a', 'b'], 'moved before the answer');
  assert.equal(store.getState().rulesBusy, true);
  await store.getState().moveRule(a!.id, 2); // ignored while busy
  release();
  await done;
  assert.equal(store.getState().rulesBusy, false);
  assert.deepEqual(names(store), ['c', 'a', 'b']);
  assert.deepEqual(
    (await serverRules()).map((r) => r.name),
    ['c', 'a', 'b'],
  );
  assert.deepEqual(
    session.callsOf('rules.move').map((x) => x.input),
    [{ id: c!.id, position: 0 }],
  );
  // out of range: nothing sent
  await store.getState().moveRule(c!.id, -1);
  await store.getState().moveRule(b!.id, 3);
  assert.equal(session.callsOf('rules.move').length, 1);
  store.getState().stop();
});

test('a failed list change is reported and the list shows what the server has', async () => {
  const [a, b, c] = await baseline(['a', 'b', 'c']);
  const { store } = await started();
  // b is deleted elsewhere while this page still lists it (its "rules" event not read yet)
  await call('rules.remove', { id: b!.id });
  assert.deepEqual(names(store), ['a', 'b', 'c']);
  await store.getState().moveRule(b!.id, 0);
  assert.equal(store.getState().rulesActionError?.code, 'E_NOT_FOUND');
  assert.equal(store.getState().rulesActionError?.message, `no rule with id ${b!.id}`);
  assert.match(store.getState().rulesActionError!.hint, /reload/);
  assert.deepEqual(names(store), ['a', 'c'], 'the optimistic order is undone');

  await store.getState().setRuleEnabled(a!.id, false);
  assert.equal(store.getState().rulesActionError, null, 'a later success clears it');
  assert.equal((await serverRules())[0]?.enabled, false);
  assert.equal(store.getState().rules[0]?.enabled, false);
  assert.deepEqual(await store.getState().removeRule(c!.id), { ok: true });
  assert.deepEqual(names(store), ['a']);
  store.getState().stop();
});

test('the default action is saved, and goes back when it cannot be saved', async () => {
  await baseline();
  const { store } = await started();
  await store.getState().setDefaultAction('allow');
  assert.equal(store.getState().defaultAction, 'allow');
  assert.equal((await call<Settings>('settings.get', {}))['access.defaultAction'], 'allow');
  await unreachable(() => store.getState().setDefaultAction('deny'));
  assert.equal(store.getState().defaultAction, 'allow');
  assert.equal(store.getState().rulesActionError?.code, 'E_UNAVAILABLE');
  assert.match(store.getState().rulesActionError!.message, /Cannot reach Gatehouse/);
  assert.equal((await call<Settings>('settings.get', {}))['access.defaultAction'], 'allow');
  store.getState().stop();
});

test('the tester keeps the answer and the rule that decided; a rules change marks it stale', async () => {
  const [local] = await baseline();
  const { session, store } = await started();
  // an address, not a name: the answer needs no DNS lookup from this machine
  const input = { service: 'socks' as const, clientAddr: '192.168.1.20', user: 'alice', host: '203.0.113.10', port: 443 };
  const release = session.hold('rules.test');
  const done = store.getState().testRule(input);
  assert.equal(store.getState().ruleTest.pending, true);
  release();
  await done;
  let t = store.getState().ruleTest;
  assert.equal(t.pending, false);
  assert.deepEqual(t.input, input);
  assert.deepEqual(t.result, {
    allow: true,
    rule: 'Local network',
    ruleId: local!.id,
    reason: 'allowed by rule "Local network"',
    // an allowed request's answer says which way it goes out
    route: { routeId: null, chain: null, fallback: 'fail', text: 'direct (no route matches)' },
  });
  assert.equal(t.stale, false);

  await store.getState().loadRules();
  assert.equal(store.getState().ruleTest.stale, false, 'reloading the same rules keeps it fresh');
  await store.getState().addRule({ ...EMPTY_RULE, name: 'New', action: 'deny' }, 1);
  t = store.getState().ruleTest;
  assert.equal(t.stale, true);
  assert.equal(t.result?.ruleId, local!.id, 'the old answer stays, marked stale');
  // a move is shown before the server answers, and still makes the answer stale
  await store.getState().moveRule(t.result!.ruleId!, 1);
  assert.equal(store.getState().ruleTest.stale, true);
  await store.getState().testRule(input);
  assert.equal(store.getState().ruleTest.stale, false);
  assert.equal(store.getState().ruleTest.result?.rule, 'New', 'the rule now first decides');
  await store.getState().moveRule(store.getState().rules[0]!.id, 1);
  assert.equal(store.getState().ruleTest.stale, true, 'moved: stale');

  await store.getState().testRule({ ...input, user: 'mallory' });
  t = store.getState().ruleTest;
  assert.equal(t.result, null);
  assert.equal(t.error?.code, 'E_VALIDATION');
  assert.equal(t.error?.message, 'unknown user "mallory"');
  store.getState().clearRuleTest();
  assert.equal(store.getState().ruleTest.input, null);
  store.getState().stop();
});

test('open connections are polled only while watched; disconnect ends a user’s connections and says how many', async () => {
  await baseline();
  await call('settings.update', { changes: { 'http.login': 'optional' } });
  // three requests the origin never answers: two of alice's, one of bob's
  const held = [gw.hold({ user: 'alice', password: PASSWORD }), gw.hold({ user: 'alice', password: PASSWORD }), gw.hold({ user: 'bob', password: PASSWORD })];
  try {
    await until('three open connections', async () => (await call<unknown[]>('connections.list', {})).length === 3);
    const { session, store } = await started(20);
    const polls = () => session.callsOf('connections.list').length;
    assert.equal(polls(), 0, 'not loaded until a page watches');
    const unwatchA = store.getState().watchConnections();
    const unwatchB = store.getState().watchConnections();
    await until('polled', () => store.getState().connections.length === 3 && polls() >= 2);
    const polled = polls();
    unwatchA();
    unwatchA(); // twice is harmless
    await until('still polling for the other watcher', () => polls() > polled);
    unwatchB();
    const stopped = polls(); // a call is counted when it is sent
    await sleep(100);
    assert.equal(polls(), stopped, 'stopped with the last watcher');

    const bobs = store.getState().connections.filter((c) => c.user === 'bob');
    assert.equal(bobs.length, 1);
    await store.getState().disconnectUser('Alice');
    assert.deepEqual(session.callsOf('connections.kill').at(-1)?.input, { user: 'Alice' });
    assert.deepEqual(store.getState().disconnectNote, { key: 'alice', text: 'Ended 2 connections of Alice.', error: false });
    assert.deepEqual(
      store.getState().connections.map((c) => c.id),
      [bobs[0]!.id],
      'reloaded after the disconnect',
    );
    await held[0]!.done;
    await held[1]!.done;
    assert.deepEqual(store.getState().disconnecting, {});
    await store.getState().disconnectUser('alice');
    assert.equal(store.getState().disconnectNote?.text, 'alice had no open connections.');
    await store.getState().disconnectConnection(bobs[0]!.id);
    assert.deepEqual(session.callsOf('connections.kill').at(-1)?.input, { id: bobs[0]!.id });
    assert.equal(store.getState().disconnectNote?.text, 'Ended the connection.');
    assert.deepEqual(store.getState().connections, []);
    await held[2]!.done;

    await unreachable(() => store.getState().disconnectUser('bob'));
    assert.equal(store.getState().disconnectNote?.error, true);
    assert.match(store.getState().disconnectNote!.text, /Could not disconnect bob: Cannot reach Gatehouse/);
    store.getState().stop();
  } finally {
    for (const h of held) h.end();
  }
});
