/**
 * The control service (main/control/service.ts) with handlers defined here:
 * it checks every input against the contract before a handler runs, and
 * every failure (unknown method, bad input, a throwing handler) comes back as
 * {ok:false} data with a code, never as a thrown exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SETTINGS,
  GatehouseError,
  type GatehouseEvent,
  type Result,
  type Status,
} from '../../main/contract/index.js';
import { Control } from '../../main/control/service.js';
import { handlersWith, testStatus } from './handlers.js';

const STATUS = testStatus();

function setup() {
  const calls: Array<{ method: string; input: unknown }> = [];
  const note =
    <T,>(method: string, fn: (input: any) => T) =>
    (input: unknown) => {
      calls.push({ method, input });
      return fn(input);
    };
  const handlers = handlersWith({
    'status.get': note('status.get', () => STATUS),
    'sharing.set': note('sharing.set', async ({ enabled }) => {
      if (enabled) throw new GatehouseError('E_PORT_IN_USE', 'HTTP proxy: port 8080 is already in use');
      return STATUS;
    }),
    'settings.get': note('settings.get', () => DEFAULT_SETTINGS),
    'settings.describe': note('settings.describe', () => {
      throw new TypeError('cannot read properties of undefined');
    }),
    'settings.update': note('settings.update', () => Promise.reject('rejected with a string')),
    'settings.setText': note('settings.setText', () => DEFAULT_SETTINGS),
    'log.recent': note('log.recent', () => []),
  });
  return { control: new Control(handlers), calls };
}

function errorOf(r: Result<unknown>) {
  assert.equal(r.ok, false, `expected an error result, got ${JSON.stringify(r)}`);
  return (r as Extract<Result<unknown>, { ok: false }>).error;
}

test('runs the handler and returns its value as {ok:true}', async () => {
  const { control, calls } = setup();
  assert.deepEqual(await control.call('status.get', {}), { ok: true, value: STATUS });
  assert.deepEqual(calls, [{ method: 'status.get', input: {} }]);
});

test('treats a missing input as {}', async () => {
  const { control } = setup();
  assert.equal((await control.call('status.get', undefined)).ok, true);
  assert.equal((await control.call('status.get', null)).ok, true);
});

test('answers an unknown method with E_UNKNOWN_METHOD naming it', async () => {
  const { control, calls } = setup();
  for (const m of ['users.delete', 'toString', '__proto__', '']) {
    const e = errorOf(await control.call(m, {}));
    assert.equal(e.code, 'E_UNKNOWN_METHOD', m);
    assert.equal(e.message, `unknown method "${m}"`);
  }
  assert.equal(calls.length, 0);
});

test('refuses input of the wrong type with E_VALIDATION naming the method and the field, without running the handler', async () => {
  const { control, calls } = setup();
  const e = errorOf(await control.call('sharing.set', { enabled: 'yes' }));
  assert.equal(e.code, 'E_VALIDATION');
  assert.match(e.message, /^sharing\.set: enabled: /);
  const e2 = errorOf(await control.call('settings.setText', { key: 'http.port' }));
  assert.match(e2.message, /^settings\.setText: value: /);
  const e3 = errorOf(await control.call('log.recent', { limit: 0 }));
  assert.match(e3.message, /^log\.recent: limit: /);
  assert.equal(calls.length, 0);
});

test('refuses extra fields in a strict input and a non-object input', async () => {
  const { control, calls } = setup();
  const e = errorOf(await control.call('sharing.set', { enabled: true, force: true }));
  assert.equal(e.code, 'E_VALIDATION');
  assert.match(e.message, /^sharing\.set: input: .*force/);
  const e2 = errorOf(await control.call('status.get', 'please'));
  assert.equal(e2.code, 'E_VALIDATION');
  assert.match(e2.message, /^status\.get: input: /);
  assert.equal(calls.length, 0);
});

test('passes the parsed input to the handler, with defaults filled in', async () => {
  const { control, calls } = setup();
  assert.equal((await control.call('log.recent', {})).ok, true);
  assert.deepEqual(calls, [{ method: 'log.recent', input: { limit: 100 } }]);
});

test('returns a GatehouseError thrown by a handler as {ok:false} with its code and message', async () => {
  const { control } = setup();
  assert.deepEqual(await control.call('sharing.set', { enabled: true }), {
    ok: false,
    error: { code: 'E_PORT_IN_USE', message: 'HTTP proxy: port 8080 is already in use' },
  });
});

test('returns any other thrown error or rejection as E_INTERNAL data, never throwing', async () => {
  const { control } = setup();
  assert.deepEqual(errorOf(await control.call('settings.describe', {})), { code: 'E_INTERNAL', message: 'cannot read properties of undefined' });
  assert.deepEqual(errorOf(await control.call('settings.update', { changes: {} })), { code: 'E_INTERNAL', message: 'rejected with a string' });
});

test('delivers events to every subscriber, even when one of them throws, and stops after unsubscribe', () => {
  const { control } = setup();
  const seen: string[] = [];
  control.subscribe(() => {
    throw new Error('broken subscriber');
  });
  const off = control.subscribe((e) => seen.push(e.type));
  const event: GatehouseEvent = { type: 'settings', settings: DEFAULT_SETTINGS };
  assert.doesNotThrow(() => control.emit(event));
  off();
  control.emit(event);
  assert.deepEqual(seen, ['settings']);
});
