/**
 * The decision function over a table of cases: sources, users, groups,
 * wildcards, CIDR v4/v6, ports, time windows at their boundaries, disabled
 * rules and the default action. Checking a rule before it is stored is
 * test/contract/rule-check.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayPolicy, type DecideInput, type SelfInfo } from '../../main/policy/policy.js';
import { isIp } from '../../main/contract/addresses.js';
import { DEFAULT_SETTINGS, EMPTY_RULE, type Rule, type RuleInput, type Settings } from '../../main/contract/index.js';

let nextId = 1;
const rule = (over: Partial<RuleInput>): Rule => ({ ...EMPTY_RULE, name: `r${nextId}`, ...over, id: nextId++ });
const settings = (over: Partial<Settings> = {}): Settings => ({ ...DEFAULT_SETTINGS, 'access.allowedSources': ['*'], ...over });
/** Local time on a given weekday of a fixed week (2026-11-29 is a Sunday). */
const at = (day: number, hh: number, mm: number) => new Date(2026, 10, 29 + day, hh, mm, 0, 0).getTime();

const base: DecideInput = { service: 'http', clientAddr: '192.168.1.20', host: 'www.example.com', port: 80, method: 'GET', time: at(1, 12, 0) };

interface Case {
  name: string;
  rules: Rule[];
  input?: Partial<DecideInput>;
  settings?: Partial<Settings>;
  expect: 'allow' | 'deny';
  rule: string;
}

const blockFb = rule({ name: 'no facebook', action: 'deny', destinations: ['*.facebook.com'] });
const lan = rule({ name: 'lan', sources: ['local'] });
const staffOnly = rule({ name: 'staff', groups: ['staff'] });
const aliceOnly = rule({ name: 'alice', users: ['alice'] });
const anySigned = rule({ name: 'signed-in', users: ['*'] });
const v6net = rule({ name: 'v6 net', sources: ['fd00:1::/64'] });
const mailPorts = rule({ name: 'no mail', action: 'deny', ports: '25,465-587' });
const office = rule({ name: 'office hours', schedule: { days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00' } });
const night = rule({ name: 'night', schedule: { days: [5], from: '22:00', to: '06:00' } });
const disabledDeny = rule({ name: 'off', action: 'deny', enabled: false });
const destCidr = rule({ name: 'no 10/8', action: 'deny', destinations: ['10.0.0.0/8', '2001:db8::/32'] });
const socksOnly = rule({ name: 'socks only', services: ['socks'] });

const cases: Case[] = [
  { name: 'no rule and default deny refuses', rules: [], expect: 'deny', rule: 'default' },
  { name: 'no rule and default allow allows', rules: [], settings: { 'access.defaultAction': 'allow' }, expect: 'allow', rule: 'default' },
  { name: 'first match wins: a deny above an allow', rules: [blockFb, lan], input: { host: 'www.facebook.com' }, expect: 'deny', rule: 'no facebook' },
  { name: '*.facebook.com also covers facebook.com itself', rules: [blockFb, lan], input: { host: 'facebook.com' }, expect: 'deny', rule: 'no facebook' },
  { name: '*.facebook.com does not cover notfacebook.com', rules: [blockFb, lan], input: { host: 'notfacebook.com' }, expect: 'allow', rule: 'lan' },
  { name: 'host match ignores case and a trailing dot', rules: [blockFb, lan], input: { host: 'WWW.FaceBook.COM.' }, expect: 'deny', rule: 'no facebook' },
  { name: 'a source outside "local" falls to the default', rules: [lan], input: { clientAddr: '8.8.8.8' }, expect: 'deny', rule: 'default' },
  { name: 'IPv4-mapped client addresses match v4 ranges', rules: [lan], input: { clientAddr: '::ffff:10.1.2.3' }, expect: 'allow', rule: 'lan' },
  { name: 'an IPv6 client in a v6 CIDR', rules: [v6net], input: { clientAddr: 'fd00:1::abcd' }, expect: 'allow', rule: 'v6 net' },
  { name: 'an IPv6 client outside the v6 CIDR', rules: [v6net], input: { clientAddr: 'fd00:2::1' }, expect: 'deny', rule: 'default' },
  { name: 'a group rule matches a member', rules: [staffOnly], input: { user: 'bob', groups: ['staff'] }, expect: 'allow', rule: 'staff' },
  { name: 'a group rule does not match a non-member', rules: [staffOnly], input: { user: 'eve', groups: ['guests'] }, expect: 'deny', rule: 'default' },
  { name: 'a user rule does not match an anonymous client', rules: [aliceOnly], expect: 'deny', rule: 'default' },
  { name: 'a user rule matches case-insensitively', rules: [aliceOnly], input: { user: 'Alice' }, expect: 'allow', rule: 'alice' },
  { name: '"*" matches any signed-in user', rules: [anySigned], input: { user: 'zed' }, expect: 'allow', rule: 'signed-in' },
  { name: '"*" does not match an anonymous client', rules: [anySigned], expect: 'deny', rule: 'default' },
  { name: 'a port range matches inside', rules: [mailPorts, lan], input: { service: 'socks', port: 500 }, expect: 'deny', rule: 'no mail' },
  { name: 'a port list misses other ports', rules: [mailPorts, lan], input: { port: 443 }, expect: 'allow', rule: 'lan' },
  { name: 'a time window includes its start', rules: [office], input: { time: at(1, 9, 0) }, expect: 'allow', rule: 'office hours' },
  { name: 'a time window excludes its end', rules: [office], input: { time: at(1, 17, 0) }, expect: 'deny', rule: 'default' },
  { name: 'a time window holds the minute before its end', rules: [office], input: { time: at(5, 16, 59) }, expect: 'allow', rule: 'office hours' },
  { name: 'a weekday outside the schedule', rules: [office], input: { time: at(0, 12, 0) }, expect: 'deny', rule: 'default' },
  { name: 'a window past midnight: Friday 23:00', rules: [night], input: { time: at(5, 23, 0) }, expect: 'allow', rule: 'night' },
  { name: 'a window past midnight: Saturday 05:59 belongs to Friday', rules: [night], input: { time: at(6, 5, 59) }, expect: 'allow', rule: 'night' },
  { name: 'a window past midnight: Saturday 06:00 is out', rules: [night], input: { time: at(6, 6, 0) }, expect: 'deny', rule: 'default' },
  { name: 'a window past midnight: Friday 05:00 belongs to Thursday', rules: [night], input: { time: at(5, 5, 0) }, expect: 'deny', rule: 'default' },
  { name: 'a disabled rule is skipped', rules: [disabledDeny, lan], expect: 'allow', rule: 'lan' },
  { name: 'a destination CIDR matches an IP target', rules: [destCidr, lan], input: { host: '10.9.8.7' }, expect: 'deny', rule: 'no 10/8' },
  { name: 'a destination v6 CIDR matches a v6 target', rules: [destCidr, lan], input: { host: '2001:db8::5' }, expect: 'deny', rule: 'no 10/8' },
  { name: 'a destination CIDR does not match a host name', rules: [destCidr, lan], input: { host: 'ten.example' }, expect: 'allow', rule: 'lan' },
  { name: 'a service filter skips other services', rules: [socksOnly], expect: 'deny', rule: 'default' },
  { name: 'a service filter matches its service', rules: [socksOnly], input: { service: 'socks' }, expect: 'allow', rule: 'socks only' },
  { name: 'the source gate comes before every rule', rules: [lan], settings: { 'access.allowedSources': ['127.0.0.1/32'] }, expect: 'deny', rule: 'allowed-sources' },
  { name: 'HTTP CONNECT to a port outside the list is refused before rules', rules: [lan], input: { method: 'CONNECT', port: 8081 }, expect: 'deny', rule: 'connect-ports' },
  { name: 'SOCKS CONNECT is not held to the HTTP CONNECT ports', rules: [lan], input: { service: 'socks', method: 'CONNECT', port: 8081 }, expect: 'allow', rule: 'lan' },
  { name: 'port 25 is blocked for SOCKS by default, before every rule', rules: [lan], input: { service: 'socks', method: 'CONNECT', port: 25 }, expect: 'deny', rule: 'blocked-ports' },
  { name: 'port 25 is blocked for plain HTTP by default', rules: [lan], input: { port: 25 }, expect: 'deny', rule: 'blocked-ports' },
  { name: 'access.blockedPorts empty blocks nothing', rules: [lan], settings: { 'access.blockedPorts': '' }, input: { service: 'socks', method: 'CONNECT', port: 25 }, expect: 'allow', rule: 'lan' },
  { name: 'plain HTTP to a port outside http.safePorts is refused (Squid Safe_ports)', rules: [lan], input: { port: 444 }, expect: 'deny', rule: 'safe-ports' },
  { name: 'plain HTTP to a high port is safe', rules: [lan], input: { port: 8080 }, expect: 'allow', rule: 'lan' },
  { name: 'a range rule holds for a name that resolves into it', rules: [destCidr, lan], input: { host: 'intranet.example', addresses: ['10.1.1.1'] }, expect: 'deny', rule: 'no 10/8' },
  { name: 'every address of a name is decided: one inside a denied range refuses it', rules: [destCidr, lan], input: { host: 'mixed.example', addresses: ['203.0.113.5', '10.1.1.1'] }, expect: 'deny', rule: 'no 10/8' },
  { name: 'loopback is this PC: refused to a LAN client even with an allow-all rule', rules: [lan], input: { host: '127.0.0.1', port: 5432 }, expect: 'deny', rule: 'gateway-itself' },
  { name: 'a name that resolves to loopback is this PC too', rules: [lan], input: { host: 'localhost', addresses: ['127.0.0.1'] }, expect: 'deny', rule: 'gateway-itself' },
  { name: 'the unspecified address reaches this PC: refused', rules: [lan], input: { host: '0.0.0.0', port: 8000 }, expect: 'deny', rule: 'gateway-itself' },
  { name: 'this PC may reach its own loopback services', rules: [lan], input: { clientAddr: '127.0.0.1', host: '127.0.0.1', port: 5432 }, expect: 'allow', rule: 'lan' },
  {
    name: 'a rule that names this PC as its destination lets LAN clients in',
    rules: [rule({ name: 'dev server', destinations: ['127.0.0.0/8'] }), lan],
    input: { host: '127.0.0.1', port: 3000 },
    expect: 'allow',
    rule: 'dev server',
  },
];

describe('policy decisions', () => {
  for (const c of cases) {
    test(c.name, () => {
      const p = new GatewayPolicy(settings(c.settings), c.rules);
      const input = { ...base, ...c.input };
      // what the admission path hands over: the addresses a name resolved to (a public one here)
      input.addresses ??= isIp(input.host) ? [input.host] : ['203.0.113.10'];
      const d = p.decide(input);
      assert.equal(d.allow ? 'allow' : 'deny', c.expect, d.reason);
      assert.equal(d.rule, c.rule);
    });
  }

  test('a name alone is decided where host patterns suffice, and left pending where an address decides', () => {
    const named = new GatewayPolicy(settings(), [rule({ name: 'no fb', action: 'deny', destinations: ['*.facebook.com'] }), lan]);
    const fb = named.decide({ ...base, host: 'www.facebook.com' });
    assert.equal(fb.allow, false);
    assert.equal(fb.rule, 'no fb');
    assert.equal(named.decide(base).pending, true, 'allowed names still have their addresses decided');
    assert.equal(new GatewayPolicy(settings(), []).decide(base).rule, 'default', 'default deny and no rule: refused before any lookup');
    const allowRange = new GatewayPolicy(settings(), [rule({ name: 'public', destinations: ['203.0.113.0/24'] })]);
    assert.equal(allowRange.decide(base).pending, true, 'a range rule above the default waits for the addresses');
    assert.equal(allowRange.decide({ ...base, addresses: ['203.0.113.9'] }).rule, 'public');
  });

  test("own service ports are refused to everyone, this PC included; this PC's interface addresses count as this PC", () => {
    const self: SelfInfo = { isOwnAddress: (a) => a === '192.168.1.10', isOwnPort: (p) => p === 8088 };
    const p = new GatewayPolicy(settings(), [lan, rule({ name: 'admin', destinations: ['127.0.0.1'] })], Date.now, self);
    for (const host of ['127.0.0.1', '192.168.1.10', '::1', '0.0.0.0']) {
      for (const clientAddr of ['127.0.0.1', '192.168.1.20']) {
        const d = p.decide({ ...base, service: 'socks', method: 'CONNECT', clientAddr, host, port: 8088, addresses: [host] });
        assert.equal(d.rule, 'own-port', `${clientAddr} → ${host}`);
      }
    }
    const lanToOwn = p.decide({ ...base, host: '192.168.1.10', port: 3000, addresses: ['192.168.1.10'] });
    assert.equal(lanToOwn.rule, 'gateway-itself');
    assert.equal(p.decide({ ...base, clientAddr: '192.168.1.10', host: '192.168.1.10', port: 3000 }).allow, true, 'this PC by its LAN address');
  });

  test('limits come with the decision, keyed per rule and user (or client address)', () => {
    const limited = rule({ name: 'slow', limits: { maxConnections: 2, upKBps: null, downKBps: 64 } });
    const p = new GatewayPolicy(settings(), [limited]);
    const a = p.decide({ ...base, user: 'alice', addresses: ['203.0.113.10'] });
    assert.deepEqual(a.limits, { key: `${limited.id}:u:alice`, maxConnections: 2, upBps: null, downBps: 65536 });
    assert.equal(p.decide({ ...base, addresses: ['203.0.113.10'] }).limits?.key, `${limited.id}:a:192.168.1.20`);
  });
});
