/**
 * Rules in words: the one-line summary of the rule list, weekday ranges, and
 * the warning for a rule that a broader rule above keeps from being reached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_RULE, type RuleInput } from '../../main/contract/index.js';
import { fieldOfError, formatDays, shadowOf, summarizeRule } from '../../renderer/rules-text.js';

const r = (over: Partial<RuleInput>): RuleInput => ({ ...EMPTY_RULE, name: 'r', ...over });

test('summarizes a rule as the brief example reads', () => {
  assert.equal(
    summarizeRule(
      r({
        action: 'deny',
        users: ['alice'],
        groups: ['staff'],
        destinations: ['*.facebook.com'],
        ports: '80,443',
        schedule: { days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00' },
      }),
    ),
    'Deny alice, group staff → *.facebook.com ports 80,443, Mon–Fri 09:00–17:00',
  );
});

test('summaries name empty lists as anyone / anywhere and spell out sources, services and limits', () => {
  assert.equal(summarizeRule(r({ sources: ['local'] })), 'Allow everyone from the local network → anywhere');
  assert.equal(summarizeRule(r({ action: 'deny', services: ['socks'], ports: '25' })), 'Deny everyone (SOCKS only) → any host port 25');
  assert.equal(
    summarizeRule(r({ users: ['*'], groups: ['kids', 'guests'], limits: { maxConnections: 1, upKBps: null, downKBps: 500 } })),
    'Allow any signed-in user, groups kids, guests → anywhere; at most 1 connection, down 500 KB/s per user',
  );
  assert.equal(
    summarizeRule(r({ destinations: ['a.com', 'b.com', 'c.com', 'd.com', 'e.com'] })),
    'Allow everyone → a.com, b.com, c.com +2 more',
  );
});

test('weekdays read as ranges, Monday first', () => {
  assert.equal(formatDays([1, 2, 3, 4, 5]), 'Mon–Fri');
  assert.equal(formatDays([0, 6]), 'Sat, Sun');
  assert.equal(formatDays([0, 1, 2, 3, 4, 5, 6]), 'every day');
  assert.equal(formatDays([1, 3, 5]), 'Mon, Wed, Fri');
  assert.equal(formatDays([1, 2, 3, 6]), 'Mon–Wed, Sat');
  assert.equal(formatDays([5, 6, 0]), 'Fri–Sun');
});

test('a rule below a catch-all is never reached; below "local network" only local devices skip it', () => {
  const local = r({ name: 'Local network', sources: ['local'] });
  const deny = r({ action: 'deny', destinations: ['*.example.com'] });
  assert.deepEqual(shadowOf([local, deny], 1), { index: 0, whole: false });
  assert.deepEqual(shadowOf([local, r({ sources: ['192.168.1.0/24'] })], 1), { index: 0, whole: true });
  assert.equal(shadowOf([local, r({ sources: ['8.8.8.0/24'] })], 1), null, 'sources outside the range above still match');
  assert.deepEqual(shadowOf([r({}), deny], 1), { index: 0, whole: true });
  assert.equal(shadowOf([deny, local], 1), null, 'a narrower rule above does not shadow');
  assert.equal(shadowOf([{ ...local, enabled: false }, deny], 1), null, 'a disabled rule above does not count');
  assert.equal(shadowOf([r({ services: ['http'] }), deny], 1), null, 'one service above leaves the other');
  assert.deepEqual(shadowOf([r({ services: ['http'] }), r({ services: ['http'] })], 1), { index: 0, whole: true });
  assert.equal(shadowOf([r({ schedule: { days: [1], from: '09:00', to: '10:00' } }), deny], 1), null);
});

test('a server message is traced to the field it names', () => {
  assert.equal(fieldOfError('rule "Block mail": port range "90-80" is reversed'), 'ports');
  assert.equal(fieldOfError('rule "x": unknown group "staff"'), 'groups');
  assert.equal(fieldOfError('rule "x": unknown user "al"'), 'users');
  assert.equal(fieldOfError('rule "x": source "10.0.0.0/33" is a malformed CIDR range (use "local", an address, or a range like 192.168.1.0/24)'), 'sources');
  assert.equal(fieldOfError('rule "x": destination "a b" is not a host name, *.domain wildcard, IP address or CIDR range'), 'destinations');
  assert.equal(fieldOfError('rule: the name is empty'), 'name');
  assert.equal(fieldOfError('rule "x": schedule start "9" is not a time like 08:30'), 'schedule');
  assert.equal(fieldOfError('rules.add: rule.limits.maxConnections: Too big'), 'limits');
  assert.equal(fieldOfError('rule "Block destination 25": port range "90-80" is reversed'), 'ports', 'the rule name does not count');
  assert.equal(fieldOfError('rule 3: unknown group "staff"'), 'groups');
  assert.equal(fieldOfError('something else'), null);
});
