/** A row's outcome as the dashboard and the log show it (issue 16: SOCKS success read "ERR", "0" or "90"). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outcomeOf } from '../../renderer/format.js';

const row = (service: string, status: number, allowed = true, error = '') => ({ service, status, allowed, error });

test('SOCKS sessions read as OK or the reply in words; HTTP statuses stay numbers', () => {
  assert.deepEqual(['socks5', 'socks4', 'socks'].map((s) => outcomeOf(row(s, s === 'socks4' ? 90 : 0)).text), ['OK', 'OK', 'OK']);
  assert.equal(outcomeOf(row('socks4', 91, false)).text, 'refused');
  assert.equal(outcomeOf(row('socks5', 2, false)).text, 'refused');
  assert.equal(outcomeOf(row('socks5', 5)).text, 'conn refused');
  assert.equal(outcomeOf(row('socks', 0, false, 'outside the allowed source ranges')).text, 'refused');
  assert.equal(outcomeOf(row('socks5', 0, true, 'client closed during the handshake')).text, 'ERR');
  assert.deepEqual(outcomeOf(row('http', 404)), { text: '404', cls: 'client', title: '' });
  assert.equal(outcomeOf(row('http', 0, true, 'client closed before the response')).text, 'ERR');
});
