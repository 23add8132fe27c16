/**
 * The tunnels slice of the renderer store (port mappings, upstream chains,
 * routes), driven through getState() against a real Gatehouse started in this
 * process and reached through the renderer's web transport, signed in with
 * the admin cookie (test/helpers/web-gateway.ts). Ports taken, hops that do
 * not answer and refusals are real; each test removes what it made.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Chain, Mapping, Route, Status } from '../../main/contract/index.js';
import { createAppStore, type AppStore } from '../../renderer/store/index.js';
import { staleCause } from '../../renderer/store/rules.js';
import { closedPort } from '../helpers/origin.js';
import { ok, startWebGateway, until, type WebGateway } from '../helpers/web-gateway.js';

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

/** Takes away every route, chain and mapping (routes first: they name chains). */
afterEach(async () => {
  for (const r of (await call<{ routes: Route[] }>('routes.list', {})).routes) await call('routes.remove', { id: r.id });
  for (const c of await call<Chain[]>('chains.list', {})) await call('chains.remove', { name: c.name });
  for (const m of await call<Mapping[]>('mappings.list', {})) await call('mappings.remove', { id: m.id });
  await call<Status>('sharing.set', { enabled: true });
});

async function started(): Promise<AppStore> {
  const session = await gw.session();
  const store = createAppStore(session.api, { statusPollMs: 0, statusAfterLogMs: 5 });
  stores.push(store);
  await store.getState().start();
  return store;
}

const mappingOf = (s: AppStore, name: string) => s.getState().mappings.find((m) => m.name === name);

test('start loads the tunnels; a mapping added elsewhere arrives with the tunnels event, running', async () => {
  const store = await started();
  assert.equal(store.getState().tunnelsLoaded, true);
  assert.deepEqual(store.getState().mappings, []);
  const port = await closedPort();
  await call('mappings.add', { mapping: { name: 'mail', proto: 'tcp', port, to: '127.0.0.1:9' } });
  const m = await until('the mapping in the store', () => mappingOf(store, 'mail'));
  assert.equal(m.state, 'running');
  assert.deepEqual(m.addresses, [`127.0.0.1:${port}`]);
});

test('a mapping on the HTTP proxy’s port is refused naming the owner; the list stays as it was', async () => {
  const store = await started();
  const r = await store.getState().addMapping({ name: 'clash', proto: 'tcp', port: gw.proxyPort(), to: '127.0.0.1:9' });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error.code === 'E_PORT_IN_USE', JSON.stringify(r));
  assert.match(!r.ok ? r.error.message : '', /HTTP\/HTTPS proxy \(http\.port\)/);
  assert.deepEqual(store.getState().mappings, []);
});

test('switched off a mapping stops; with sharing off every mapping shows stopped, and running again once it is back on', async () => {
  const store = await started();
  assert.equal((await store.getState().addMapping({ name: 'mail', proto: 'tcp', port: await closedPort(), to: '127.0.0.1:9' })).ok, true);
  const id = mappingOf(store, 'mail')!.id;
  await store.getState().setMappingEnabled(id, false);
  assert.deepEqual([mappingOf(store, 'mail')?.enabled, mappingOf(store, 'mail')?.state], [false, 'stopped']);
  await store.getState().setMappingEnabled(id, true);
  assert.equal(mappingOf(store, 'mail')?.state, 'running');

  await store.getState().setSharing(false);
  await until('stopped with sharing off', () => mappingOf(store, 'mail')?.state === 'stopped');
  await store.getState().setSharing(true);
  await until('running with sharing on', () => mappingOf(store, 'mail')?.state === 'running');
});

test('a hop’s password never reaches the store; saving without it keeps it, forgetting it takes it away; the check names the closed hop', async () => {
  const store = await started();
  const port = await closedPort();
  const hop = { kind: 'socks5' as const, host: '127.0.0.1', port, user: 'alice' };
  assert.equal((await store.getState().addChain({ name: 'corp', hops: [{ ...hop, password: 'pw-secret-1' }] })).ok, true);
  assert.doesNotMatch(JSON.stringify(store.getState().chains), /pw-secret-1/);
  assert.equal(store.getState().chains[0]?.hops[0]?.hasPassword, true);

  assert.equal((await store.getState().updateChain('corp', { hops: [hop], note: 'kept' })).ok, true);
  assert.deepEqual([store.getState().chains[0]?.note, store.getState().chains[0]?.hops[0]?.hasPassword], ['kept', true]);
  assert.equal((await store.getState().updateChain('corp', { hops: [{ ...hop, password: null }] })).ok, true);
  assert.equal(store.getState().chains[0]?.hops[0]?.hasPassword, false);

  await store.getState().checkChain('corp');
  const check = store.getState().chainChecks.corp!;
  assert.equal(check.pending, false);
  assert.equal(check.hops?.[0]?.ok, false);
  assert.match(check.hops?.[0]?.error ?? '', /ECONNREFUSED|refused/i);
});

test('routes are added, moved and switched off; the tester’s answer carries the route and goes stale when the routes change', async () => {
  const store = await started();
  // a hop elsewhere (never dialled here): names are left to it, so no DNS is needed on this machine
  const hop = { kind: 'http' as const, host: '192.0.2.1', port: 3128 };
  assert.equal((await store.getState().addChain({ name: 'corp', hops: [hop] })).ok, true);
  const base = { fallback: 'fail', users: [], groups: [], services: [], enabled: true, note: '' };
  assert.equal((await store.getState().addRoute({ ...base, chain: 'corp', destinations: ['*.example.com'] })).ok, true);
  assert.equal((await store.getState().addRoute({ ...base, chain: 'direct', destinations: ['intranet.example.com'] })).ok, true);
  const [wide, exception] = store.getState().routes;
  await store.getState().moveRoute(exception!.id, 0);
  assert.deepEqual(store.getState().routes.map((r) => r.chain), ['direct', 'corp']);

  await store.getState().testRule({ service: 'http', clientAddr: '127.0.0.1', host: 'www.example.com', port: 443 });
  const answer = store.getState().ruleTest.result;
  assert.equal(answer?.allow, true, JSON.stringify(answer));
  assert.deepEqual([answer?.route?.routeId, answer?.route?.chain], [wide!.id, 'corp']);
  assert.match(answer?.route?.text ?? '', /^through corp/);

  await store.getState().setRouteEnabled(wide!.id, false);
  assert.equal(store.getState().routes.find((r) => r.id === wide!.id)?.enabled, false);
  assert.equal(store.getState().ruleTest.stale, true, 'the answer named a route that changed');
  assert.equal(staleCause(store.getState()), 'routes', 'the rules are as they were');
});
