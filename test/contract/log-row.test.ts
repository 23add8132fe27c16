/**
 * The one definition of a log row's fields and their order
 * (main/contract/log-row.ts): LOG_FIELDS names every field of LogRowSchema
 * but the id, in the schema's order; ROW_INDEX is where each sits in a
 * RowTuple; toTuple and fromTuple, which name the fields for speed, carry
 * every field both ways to the right place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_FIELDS, LogRowSchema, ROW_INDEX, fromTuple, toTuple, type LogRow } from '../../main/contract/log-row.js';

// every field a value of its own, so a field read from or written to a wrong place shows
const ROW: LogRow = {
  id: 99,
  ts: 1_700_000_000_123,
  service: 'http',
  clientAddr: '192.168.1.20',
  clientPort: 50123,
  user: 'alice',
  method: 'GET',
  url: 'http://example.com/a?b=1',
  host: 'example.com',
  port: 80,
  status: 404,
  bytesUp: 11,
  bytesDown: 22,
  packetsUp: 33,
  packetsDown: 44,
  durationMs: 55,
  allowed: true,
  rule: 'office hours',
  error: 'upstream closed',
  chain: 'corp',
  mapping: 'mail',
};

test('LOG_FIELDS lists every field of LogRowSchema but the id, each once (in the order of the CSV export)', () => {
  assert.deepEqual(
    LOG_FIELDS.map((f) => f.key).sort(),
    Object.keys(LogRowSchema.shape).filter((k) => k !== 'id').sort(),
  );
  assert.equal(new Set(LOG_FIELDS.map((f) => f.key)).size, LOG_FIELDS.length, 'no field twice');
  const columns = LOG_FIELDS.map((f) => f.column);
  assert.equal(new Set(columns).size, columns.length, 'no column twice');
});

test('ROW_INDEX is each field’s place in LOG_FIELDS', () => {
  assert.deepEqual(
    Object.entries(ROW_INDEX),
    LOG_FIELDS.map((f, i) => [f.key, i]),
  );
  assert.ok(Object.isFrozen(ROW_INDEX));
});

test('toTuple puts every field at its index; allowed becomes 1 or 0', () => {
  const { id: _id, ...row } = ROW;
  for (const allowed of [true, false]) {
    const t = toTuple({ ...row, allowed });
    assert.equal(t.length, LOG_FIELDS.length);
    assert.ok(Object.keys(t).length === LOG_FIELDS.length, 'no hole');
    LOG_FIELDS.forEach((f, i) => {
      assert.equal(t[i], f.key === 'allowed' ? (allowed ? 1 : 0) : row[f.key], f.key);
    });
  }
});

test('fromTuple reads every field from its index, with the id, in the schema’s key order', () => {
  const { id, ...row } = ROW;
  const t = LOG_FIELDS.map((f) => (f.key === 'allowed' ? 1 : row[f.key]));
  const back = fromTuple(t as never, id);
  assert.deepEqual(back, ROW);
  assert.deepEqual(Object.keys(back), Object.keys(LogRowSchema.shape));
  assert.equal(fromTuple(toTuple({ ...row, allowed: false }), id).allowed, false);
  assert.deepEqual(LogRowSchema.parse(back), ROW);
});
