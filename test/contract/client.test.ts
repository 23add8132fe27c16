/**
 * The typed client (main/contract/client.ts) over a transport that calls a
 * real Control in this process: ok results become values, error results
 * become a thrown GatehouseError with the same code and message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Transport } from '../../main/contract/client.js';
import { DEFAULT_SETTINGS, GatehouseError, type GatehouseEvent } from '../../main/contract/index.js';
import { Control } from '../../main/control/service.js';
import { handlersWith } from '../control/handlers.js';

function control(): Control {
  return new Control(
    handlersWith({
      'settings.get': () => DEFAULT_SETTINGS,
      'settings.setText': ({ key }) => {
        throw new GatehouseError('E_VALIDATION', `unknown setting "${key}"`);
      },
    }),
  );
}

function transportOf(c: Control): Transport {
  return { call: (m, i) => c.call(m, i), subscribe: (fn) => c.subscribe(fn) };
}

test('returns the value of an ok result', async () => {
  const client = createClient(transportOf(control()));
  assert.deepEqual(await client.call('settings.get', {}), DEFAULT_SETTINGS);
});

test('throws a GatehouseError with the code and message of an error result', async () => {
  const client = createClient(transportOf(control()));
  await assert.rejects(client.call('settings.setText', { key: 'nope', value: '1' }), (e: unknown) => {
    assert.ok(e instanceof GatehouseError);
    assert.equal(e.code, 'E_VALIDATION');
    assert.equal(e.message, 'unknown setting "nope"');
    return true;
  });
});

test('passes events from the transport to subscribers until they unsubscribe', () => {
  const c = control();
  const client = createClient(transportOf(c));
  const seen: GatehouseEvent[] = [];
  const off = client.subscribe((e) => seen.push(e));
  c.emit({ type: 'log', rows: [] });
  off();
  c.emit({ type: 'log', rows: [] });
  assert.equal(seen.length, 1);
});
