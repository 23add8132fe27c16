/**
 * The one error type (main/contract/errors.ts): a stable code from a closed
 * set, an HTTP status per code, plain data for crossing a transport, and how
 * foreign errors (errno, plain Error, anything thrown) are mapped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, GatehouseError } from '../../main/contract/errors.js';

test('maps every code to its HTTP status', () => {
  const want = {
    E_VALIDATION: 400,
    E_NOT_FOUND: 404,
    E_PORT_IN_USE: 409,
    E_UNAUTHORIZED: 401,
    E_FORBIDDEN: 403,
    E_UNKNOWN_METHOD: 404,
    E_UNAVAILABLE: 503,
    E_LOCKED: 409,
    E_STORAGE: 503,
    E_INTERNAL: 500,
  };
  assert.deepEqual([...ERROR_CODES].sort(), Object.keys(want).sort());
  for (const code of ERROR_CODES) assert.equal(new GatehouseError(code, 'x').httpStatus, want[code], code);
});

test('is an Error with its code, name and message, and turns into plain data', () => {
  const e = new GatehouseError('E_NOT_FOUND', 'user "bob" does not exist');
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'GatehouseError');
  assert.equal(e.code, 'E_NOT_FOUND');
  assert.deepEqual(e.toData(), { code: 'E_NOT_FOUND', message: 'user "bob" does not exist' });
  assert.deepEqual(JSON.parse(JSON.stringify(e.toData())), e.toData());
});

test('from() keeps a GatehouseError as it is', () => {
  const e = new GatehouseError('E_FORBIDDEN', 'no');
  assert.equal(GatehouseError.from(e), e);
});

test('from() turns EADDRINUSE into E_PORT_IN_USE and keeps the message', () => {
  const errno = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE' });
  const e = GatehouseError.from(errno);
  assert.equal(e.code, 'E_PORT_IN_USE');
  assert.equal(e.message, errno.message);
});

test('from() turns any other error, or a thrown non-error, into E_INTERNAL with its text', () => {
  assert.deepEqual(GatehouseError.from(new TypeError('boom')).toData(), { code: 'E_INTERNAL', message: 'boom' });
  assert.deepEqual(GatehouseError.from('a string').toData(), { code: 'E_INTERNAL', message: 'a string' });
  assert.deepEqual(GatehouseError.from(undefined).toData(), { code: 'E_INTERNAL', message: 'undefined' });
  assert.equal(GatehouseError.from(Object.assign(new Error('gone'), { code: 'ECONNRESET' })).code, 'E_INTERNAL');
});
