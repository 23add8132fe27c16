/** Port mappings, chains and routes in words, and how the log shows a mapping's rows and the route a request took. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_ROUTE, type Mapping } from '../../main/contract/index.js';
import { mappingState, routeMatchText, servicesText, summarizeRoute, withPort, listenText } from '../../renderer/tunnels-text.js';
import { outcomeOf, routeOfRow, serviceOfRow } from '../../renderer/format.js';
import { summarizeRule } from '../../renderer/rules-text.js';
import { EMPTY_RULE } from '../../main/contract/index.js';

const mapping = (p: Partial<Mapping>): Mapping => ({ id: 1, name: 'mail', proto: 'tcp', port: 110, to: 'mail.example.com:110', listen: '', enabled: true, note: '', state: 'stopped', error: null, addresses: [], ...p });

test('a quick pick puts its port on the destination typed so far, brackets and all', () => {
  assert.equal(withPort('', 143), '');
  assert.equal(withPort('mail.example.com', 143), 'mail.example.com:143');
  assert.equal(withPort('mail.example.com:110', 143), 'mail.example.com:143');
  assert.equal(withPort('[fd00::1]:110', 53), '[fd00::1]:53');
  assert.equal(withPort('fd00::1', 53), 'fd00::1', 'a bare IPv6 address is left for the user to bracket');
});

test('a mapping reads Running, Error with its message, or Stopped saying why', () => {
  assert.deepEqual(mappingState(mapping({ state: 'running' }), true), { word: 'Running', why: null });
  assert.deepEqual(mappingState(mapping({ state: 'error', error: 'port 110/tcp is already in use by another program' }), true), {
    word: 'Error',
    why: 'port 110/tcp is already in use by another program',
  });
  assert.deepEqual(mappingState(mapping({ enabled: false }), true), { word: 'Stopped', why: 'disabled' });
  assert.deepEqual(mappingState(mapping({}), false), { word: 'Stopped', why: 'sharing is off' });
  assert.equal(listenText(mapping({})), 'where the proxies listen');
  assert.equal(listenText(mapping({ listen: '192.168.1.2' })), '192.168.1.2');
});

test('routes read as what they match, "everything" when nothing is named, and what happens when the chain is down', () => {
  assert.equal(routeMatchText(EMPTY_ROUTE), 'everything');
  assert.equal(routeMatchText({ ...EMPTY_ROUTE, destinations: ['*.corp.example'] }), 'everyone → *.corp.example');
  assert.equal(
    routeMatchText({ ...EMPTY_ROUTE, users: ['alice'], groups: ['staff'], services: ['socks', 'mapping:mail'] }),
    'alice, group staff → anywhere (SOCKS and mapping mail only)',
  );
  assert.equal(summarizeRoute({ ...EMPTY_ROUTE, chain: 'corp', fallback: 'fail' }), 'Through corp: everything; when corp is down the request fails');
  assert.equal(summarizeRoute({ ...EMPTY_ROUTE, chain: 'corp', fallback: 'tor' }), 'Through corp: everything; when corp is down it goes through tor');
  assert.equal(summarizeRoute({ ...EMPTY_ROUTE, chain: 'direct', destinations: ['10.0.0.0/8'] }), 'Direct: everyone → 10.0.0.0/8');
});

test('services are named in words in rules and routes', () => {
  assert.equal(servicesText(['http']), 'HTTP');
  assert.equal(servicesText(['http', 'socks', 'mapping']), 'HTTP, SOCKS and port mappings');
  assert.equal(summarizeRule({ ...EMPTY_RULE, services: ['mapping:mail'] }), 'Allow everyone (mapping mail only) → anywhere');
});

test('a mapping row reads OK, refused or ERR (its status is 0), its service names the mapping, its route the chain', () => {
  const row = (allowed: boolean, error = '') => ({ service: 'mapping', mapping: 'mail', status: 0, allowed, error });
  assert.equal(outcomeOf(row(true)).text, 'OK');
  assert.equal(outcomeOf(row(false, 'denied by rule "No mail"')).text, 'refused');
  assert.deepEqual(outcomeOf(row(true, 'connect ECONNREFUSED 10.0.0.5:110')), { text: 'ERR', cls: 'server', title: 'connect ECONNREFUSED 10.0.0.5:110' });
  assert.equal(serviceOfRow(row(true)), 'mapping:mail');
  assert.equal(serviceOfRow({ service: 'socks5', mapping: '' }), 'socks5');
  assert.equal(routeOfRow(''), 'Direct');
  assert.equal(routeOfRow('corp'), 'through corp');
  assert.equal(routeOfRow('corp → direct'), 'through corp, then direct (corp failed)');
});
