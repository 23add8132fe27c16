/**
 * The recorder (main/recorder.ts) hands each completed record to the log as a
 * tuple it spells out by hand (the cheapest form, once per request). The
 * order of that tuple must be the one of LOG_FIELDS (main/contract/log-row.ts),
 * which the writer binds to its INSERT: a swap of two fields of the same type
 * would otherwise store, say, the host as the URL without any type error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_FIELDS, type LogRow, type RowTuple } from '../main/contract/log-row.js';
import { createRecorder, type RecordFields } from '../main/recorder.js';

// every field a value of its own, so a swapped pair cannot pass unnoticed
const FIELDS: RecordFields = {
  service: 'socks',
  clientAddr: '192.168.1.20',
  clientPort: 50123,
  user: 'alice',
  method: 'CONNECT',
  url: 'example.com:443',
  host: 'example.com',
  port: 443,
  status: 200,
  bytesUp: 11,
  bytesDown: 22,
  packetsUp: 33,
  packetsDown: 44,
  allowed: false,
  rule: 'no social',
  error: 'reset by peer',
  chain: 'corp',
  mapping: '',
};

test("the recorder's tuple has the fields in LOG_FIELDS' order", () => {
  const out: RowTuple[] = [];
  let now = 1_700_000_000_000;
  const recorder = createRecorder((t) => out.push(t), () => now);
  const start = now;
  const rec = recorder.open({ service: FIELDS.service, clientAddr: FIELDS.clientAddr, clientPort: FIELDS.clientPort });
  rec.set({ ...FIELDS, bytesUp: 1 });
  now += 250;
  rec.complete({ bytesUp: FIELDS.bytesUp });

  assert.equal(out.length, 1);
  const t = out[0]!;
  assert.equal(t.length, LOG_FIELDS.length);
  const expected: Omit<LogRow, 'id'> = { ...FIELDS, ts: start, durationMs: 250 };
  LOG_FIELDS.forEach((f, i) => {
    assert.equal(t[i], f.key === 'allowed' ? 0 : expected[f.key], `tuple[${i}] should be ${f.key}`);
  });
});

test('an allowed record is stored with allowed = 1, a discarded one not at all', () => {
  const out: RowTuple[] = [];
  const recorder = createRecorder((t) => out.push(t), () => 5);
  recorder.open({ ...FIELDS, allowed: true }).complete();
  recorder.open(FIELDS).discard();
  assert.equal(out.length, 1);
  assert.equal(out[0]![LOG_FIELDS.findIndex((f) => f.key === 'allowed')], 1);
});
