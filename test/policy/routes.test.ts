/**
 * Routes: which traffic takes which chain (first match wins, direct exceptions,
 * ranges that need an address), and where names are looked up: through a
 * chain that resolves remotely, this PC sends no DNS query unless a rule needs
 * the address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, EMPTY_ROUTE, EMPTY_RULE, type ChainData, type Route, type Rule } from '../../main/contract/index.js';
import { Router, describeRoute } from '../../main/policy/routes.js';
import { GatewayPolicy } from '../../main/policy/policy.js';
import { Admission, type Verdict } from '../../main/engines/admission.js';
import { Authenticator } from '../../main/policy/auth.js';
import { Limiter } from '../../main/policy/limits.js';
import { createRecorder } from '../../main/recorder.js';
import type { Resolver } from '../../main/net/resolver.js';

const corp: ChainData = { name: 'corp', resolve: 'remote', note: '', hops: [{ kind: 'http', host: 'proxy.corp', port: 3128, user: 'a', password: 'secret' }] };
const tor: ChainData = { name: 'tor', resolve: 'local', note: '', hops: [{ kind: 'socks5', host: '127.0.0.1', port: 9050, user: null, password: null }] };
let nextId = 1;
const route = (r: Partial<Route>): Route => ({ ...EMPTY_ROUTE, id: nextId++, ...r }) as Route;
const req = (host: string, extra: Record<string, unknown> = {}) => ({ service: 'http', clientAddr: '192.168.1.5', host, port: 443, ...extra });

test('first matching route wins; a direct route is an exception above a broader one; no match is direct', () => {
  const r = new Router(
    [route({ chain: 'direct', destinations: ['*.lan.example'] }), route({ chain: 'corp', destinations: ['*.example'], fallback: 'tor' }), route({ chain: 'tor', users: ['bob'] })],
    [corp, tor],
  );
  assert.equal(r.pick(req('intranet.lan.example'), null, 0)?.chain, null);
  const c = r.pick(req('www.example'), null, 0)!;
  assert.equal(c.chain?.name, 'corp');
  assert.equal((c.fallback as ChainData).name, 'tor');
  assert.equal(r.pick(req('other.org', { user: 'bob' }), null, 0)?.chain?.name, 'tor');
  assert.equal(r.pick(req('other.org'), null, 0)?.routeId, null);
});

test('a route naming an address range cannot decide on a name alone', () => {
  const r = new Router([route({ chain: 'corp', destinations: ['10.0.0.0/8'] })], [corp]);
  assert.equal(r.pick(req('host.example'), null, 0), undefined);
  assert.equal(r.pick(req('host.example'), '10.1.2.3', 0)?.chain?.name, 'corp');
  assert.equal(r.pick(req('host.example'), '192.0.2.1', 0)?.chain, null);
  assert.equal(r.pick(req('10.9.9.9'), null, 0)?.chain?.name, 'corp');
});

test('routes by service, mapping name; disabled routes and routes to a missing chain are skipped', () => {
  const r = new Router(
    [route({ chain: 'corp', enabled: false }), route({ chain: 'gone' }), route({ chain: 'tor', services: ['mapping:imap'] }), route({ chain: 'corp', services: ['socks'] })],
    [corp, tor],
  );
  assert.equal(r.pick({ ...req('mail.example'), service: 'mapping', mapping: 'IMAP' }, null, 0)?.chain?.name, 'tor');
  assert.equal(r.pick({ ...req('mail.example'), service: 'mapping', mapping: 'pop' }, null, 0)?.chain, null);
  assert.equal(r.pick({ ...req('x.example'), service: 'socks' }, null, 0)?.chain?.name, 'corp');
  assert.equal(r.pick(req('x.example'), null, 0)?.chain, null);
});

test('the route in words names the hops without passwords, where names are looked up, and the fallback', () => {
  const r = new Router([route({ chain: 'corp', fallback: 'direct' })], [corp]);
  const text = describeRoute(r.pick(req('a.example'), null, 0)!).text;
  assert.match(text, /^through corp \(http:\/\/a@proxy\.corp:3128\); names are looked up by the last hop/);
  assert.match(text, /goes direct when a hop is down/);
  assert.ok(!text.includes('secret'));
});

function admission(rules: Rule[], routes: Route[]) {
  const lookups: string[] = [];
  const resolver: Resolver = {
    resolve: (host, cb) => {
      lookups.push(host);
      cb(null, ['192.0.2.10']);
    },
    stats: () => ({ hits: 0, misses: 0, entries: 0, hitRatio: 0 }),
  };
  const recorder = createRecorder(() => {});
  const a = new Admission({
    policy: new GatewayPolicy(DEFAULT_SETTINGS, rules),
    auth: new Authenticator(() => [], { freeFailures: 5, forgetMs: 1000, maxDelayMs: 1000 }),
    limiter: new Limiter(),
    resolver,
    recorder,
    router: new Router(routes, [corp, tor]),
  });
  const decide = (host: string) =>
    new Promise<Verdict>((resolve) => a.decide({ service: 'http', clientAddr: '192.168.1.5', host, port: 443, method: 'CONNECT' }, null, resolve));
  return { decide, lookups };
}

test('through a chain that resolves remotely, the name goes to the last hop: no lookup on this PC', async () => {
  const { decide, lookups } = admission([{ ...EMPTY_RULE, id: 1, name: 'lan', sources: ['192.168.0.0/16'] } as Rule], [route({ chain: 'corp' })]);
  const v = await decide('www.example');
  assert.ok(v.ok);
  assert.deepEqual(v.dest.addresses, []);
  assert.equal(v.dest.via?.chain.name, 'corp');
  assert.deepEqual(lookups, []);
});

test('a last hop on this PC would reach this PC by the name: the name is looked up and decided here', async () => {
  const localHop: ChainData = { name: 'corp', resolve: 'remote', note: '', hops: [{ kind: 'socks5', host: 'localhost', port: 1080, user: null, password: null }] };
  const lookups: string[] = [];
  const a = new Admission({
    policy: new GatewayPolicy(DEFAULT_SETTINGS, [{ ...EMPTY_RULE, id: 1, name: 'lan', sources: ['192.168.0.0/16'] } as Rule]),
    auth: new Authenticator(() => [], { freeFailures: 5, forgetMs: 1000, maxDelayMs: 1000 }),
    limiter: new Limiter(),
    resolver: { resolve: (h, cb) => (lookups.push(h), cb(null, ['127.0.0.1'])), stats: () => ({ hits: 0, misses: 0, entries: 0, hitRatio: 0 }) },
    recorder: createRecorder(() => {}),
    router: new Router([route({ chain: 'corp' })], [localHop]),
  });
  const v = await new Promise<Verdict>((resolve) => a.decide({ service: 'socks', clientAddr: '192.168.1.5', host: 'sneaky.example', port: 22, method: 'CONNECT' }, null, resolve));
  assert.deepEqual(lookups, ['sneaky.example']);
  assert.equal(v.ok, false);
  assert.ok(!v.ok && v.why === 'denied' && v.decision.rule === 'gateway-itself');
});

test('a rule that needs the address makes this PC look the name up, and the decided address is what the chain is asked for', async () => {
  const rules = [{ ...EMPTY_RULE, id: 1, name: 'no docs net', action: 'deny', destinations: ['198.51.100.0/24'] } as Rule, { ...EMPTY_RULE, id: 2, name: 'lan', sources: ['192.168.0.0/16'] } as Rule];
  const { decide, lookups } = admission(rules, [route({ chain: 'corp' })]);
  const v = await decide('www.example');
  assert.ok(v.ok);
  assert.deepEqual(v.dest.addresses, ['192.0.2.10']);
  assert.deepEqual(lookups, ['www.example']);
});

test('a chain that resolves locally, and direct traffic, look names up here', async () => {
  const rules = [{ ...EMPTY_RULE, id: 2, name: 'lan', sources: ['192.168.0.0/16'] } as Rule];
  const local = admission(rules, [route({ chain: 'tor' })]);
  const v = await local.decide('www.example');
  assert.ok(v.ok);
  assert.deepEqual(v.dest.addresses, ['192.0.2.10']);
  assert.equal(v.dest.via?.chain.name, 'tor');
  const direct = admission(rules, []);
  const d = await direct.decide('www.example');
  assert.ok(d.ok && !d.dest.via);
  assert.deepEqual(direct.lookups, ['www.example']);
});

test('the rule tester takes a mapping by name: a rule for mapping:NAME decides, nobody signs in', async () => {
  const { openControl } = await import('../../main/control/open.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'gh-routes-'));
  const oc = openControl(dir, 'test');
  try {
    const ok = async (m: string, input: unknown) => {
      const r = await oc.control.call(m as never, input as never);
      if (!r.ok) throw new Error(r.error.message);
      return r.value as { allow: boolean; rule: string };
    };
    await ok('settings.update', { changes: { 'socks.login': 'required' } });
    await ok('rules.add', { rule: { ...EMPTY_RULE, name: 'no imap', action: 'deny', services: ['mapping:imap'] }, position: 0 });
    const imap = await ok('rules.test', { service: 'mapping', mapping: 'imap', clientAddr: '192.168.1.5', host: '192.0.2.1', port: 143 });
    assert.equal(imap.allow, false);
    assert.equal(imap.rule, 'no imap');
    const pop = await ok('rules.test', { service: 'mapping', mapping: 'pop', clientAddr: '192.168.1.5', host: '192.0.2.1', port: 110 });
    assert.equal(pop.allow, true, JSON.stringify(pop));
  } finally {
    await oc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
