/**
 * Checking a rule before it is stored (main/contract/rule-check.ts): every
 * refusal names the rule, the field and the bad value, word for word as the
 * rule editor and the CLI show it; and the destination and schedule-time
 * syntax that the policy compiles (test/policy/rules.test.ts decides with it).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_RULE, GatehouseError, parseDestination, parseScheduleTime, validateRule, type RuleInput } from '../../main/contract/index.js';

const known = { users: new Set(['alice']), groups: new Set(['staff']) };

function refusal(patch: Partial<RuleInput>, index?: number): string {
  try {
    validateRule({ ...EMPTY_RULE, name: 'x', ...patch }, known, index);
  } catch (e) {
    assert.ok(e instanceof GatehouseError && e.code === 'E_VALIDATION', String(e));
    return e.message;
  }
  assert.fail('the rule was accepted');
}

describe('rule validation', () => {
  const bad: [string, Partial<RuleInput>, string][] = [
    ['a reversed port range', { ports: '90-80' }, 'rule "x": port range "90-80" is reversed'],
    ['a port out of range', { ports: '80,70000' }, 'rule "x": port 70000 in "70000" is outside 1-65535'],
    [
      'a malformed CIDR',
      { sources: ['10.0.0.0/33'] },
      'rule "x": source "10.0.0.0/33" is a malformed CIDR range (use "local", an address, or a range like 192.168.1.0/24)',
    ],
    ['an unknown group', { groups: ['nobody'] }, 'rule "x": unknown group "nobody"'],
    ['an unknown user', { users: ['mallory'] }, 'rule "x": unknown user "mallory"'],
    [
      'a bad destination',
      { destinations: ['exa mple.com'] },
      'rule "x": destination "exa mple.com" is not a host name, *.domain wildcard, IP address or CIDR range',
    ],
    ['a bad schedule start', { schedule: { days: [1], from: '25:00', to: '10:00' } }, 'rule "x": schedule start "25:00" is not a time like 08:30'],
    ['a bad schedule end', { schedule: { days: [1], from: '09:00', to: '9.30' } }, 'rule "x": schedule end "9.30" is not a time like 17:00'],
    ['a schedule of no length', { schedule: { days: [1], from: '09:00', to: '9:00' } }, 'rule "x": the schedule starts and ends at the same time (09:00)'],
    ['a schedule with no day', { schedule: { days: [], from: '09:00', to: '10:00' } }, 'rule "x": the schedule has no weekday'],
    // the label is taken from the name as given, before it is trimmed
    ['an empty name', { name: ' ' }, 'rule " ": the name is empty'],
  ];
  for (const [what, patch, message] of bad) {
    test(`refuses ${what} with a message naming the rule and the value`, () => {
      assert.equal(refusal(patch), message);
    });
  }

  test('a rule without a name is named by its place in the order', () => {
    assert.equal(refusal({ name: '' }, 2), 'rule 3: the name is empty');
  });

  test('accepts a full rule and trims its lists', () => {
    const r = validateRule(
      {
        ...EMPTY_RULE,
        name: ' ok ',
        sources: [' local ', ''],
        users: ['*'],
        groups: ['Staff'],
        destinations: ['*.example.com', '10.0.0.0/8', '::1'],
        ports: '80, 443',
        schedule: { days: [5, 1, 5], from: ' 22:00', to: '06:00 ' },
        limits: { maxConnections: null, upKBps: null, downKBps: null },
      },
      known,
    );
    assert.equal(r.name, 'ok');
    assert.deepEqual(r.sources, ['local']);
    assert.equal(r.ports, '80, 443');
    assert.deepEqual(r.schedule, { days: [1, 5], from: '22:00', to: '06:00' });
    assert.equal(r.limits, null, 'limits that limit nothing are no limits');
  });
});

describe('destination syntax', () => {
  test('reads the four forms, names in lower case without a trailing dot', () => {
    assert.deepEqual(parseDestination(' WWW.Example.com. '), { kind: 'host', host: 'www.example.com' });
    assert.deepEqual(parseDestination('*.Example.com'), { kind: 'domain', domain: 'example.com' });
    assert.deepEqual(parseDestination('localhost'), { kind: 'host', host: 'localhost' });
    const v4 = parseDestination('10.0.0.0/8');
    assert.equal(v4?.kind === 'range' && v4.cidr.bits, 8);
    const v6 = parseDestination('::1');
    assert.equal(v6?.kind === 'range' && v6.cidr.family, 6);
  });

  test('refuses what is none of them', () => {
    for (const d of ['', ' ', 'exa mple.com', '*.', '*', 'a.*.com', 'example.com/24', '10.0.0.0/33', 'http://example.com', '-x.com', 'a'.repeat(64) + '.com']) {
      assert.equal(parseDestination(d), null, JSON.stringify(d));
    }
  });
});

test('schedule times are minutes after midnight; 24:00 ends a day', () => {
  assert.equal(parseScheduleTime('00:00'), 0);
  assert.equal(parseScheduleTime(' 8:30 '), 510);
  assert.equal(parseScheduleTime('23:59'), 1439);
  assert.equal(parseScheduleTime('24:00'), 1440);
  for (const t of ['24:01', '8', '8:5', '08:60', '', 'noon']) assert.equal(parseScheduleTime(t), null, t);
});
