/**
 * Port lists such as "443,563,8443-8444" (main/contract/ports.ts): parsing,
 * the errors that quote the bad part, matching, and format/parse round trips
 * on random lists (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatPortList, parsePortList, portInList, type PortRange } from '../../main/contract/ports.js';

test('parses single ports and ranges, sorted by their first port', () => {
  assert.deepEqual(parsePortList('8443-8444,443,563'), [
    [443, 443],
    [563, 563],
    [8443, 8444],
  ]);
});

test('accepts commas, spaces and newlines between entries and ignores empty ones', () => {
  assert.deepEqual(parsePortList(' 80 , 443\n8080,,'), [
    [80, 80],
    [443, 443],
    [8080, 8080],
  ]);
  assert.deepEqual(parsePortList(''), []);
  assert.deepEqual(parsePortList(' , '), []);
});

test('accepts the whole port range 1-65535 and a one-port range such as 8080-8080', () => {
  assert.deepEqual(parsePortList('1-65535'), [[1, 65535]]);
  assert.deepEqual(parsePortList('8080-8080'), [[8080, 8080]]);
});

test('refuses a reversed range and quotes it', () => {
  assert.throws(() => parsePortList('443,90-80'), { message: 'port range "90-80" is reversed' });
});

test('refuses port 0 unless allowed, and ports above 65535, quoting the entry', () => {
  assert.throws(() => parsePortList('0'), { message: 'port 0 in "0" is outside 1-65535' });
  assert.deepEqual(parsePortList('0', { allowZero: true }), [[0, 0]]);
  assert.throws(() => parsePortList('443,65536'), { message: 'port 65536 in "65536" is outside 1-65535' });
  assert.throws(() => parsePortList('8000-70000'), { message: 'port 70000 in "8000-70000" is outside 1-65535' });
  assert.throws(() => parsePortList('99999', { allowZero: true }), { message: 'port 99999 in "99999" is outside 0-65535' });
});

test('refuses text that is not a port or a range, quoting it', () => {
  for (const bad of ['http', '443a', '-443', '80-', '1-2-3', '123456', '4 43-', '0x50', '8.5', '80–90']) {
    assert.throws(() => parsePortList(bad), (e: Error) => {
      assert.match(e.message, /^"[^"]+" is not a port or a port range like 8443-8444$/, bad);
      return true;
    });
  }
});

test('formats single ports bare and ranges with a dash', () => {
  assert.equal(formatPortList([[443, 443], [8443, 8444]]), '443,8443-8444');
  assert.equal(formatPortList([]), '');
});

test('a port is in the list when it lies inside any range, ends included', () => {
  const list = parsePortList('443,8443-8445');
  for (const p of [443, 8443, 8444, 8445]) assert.equal(portInList(p, list), true, String(p));
  for (const p of [0, 25, 442, 444, 8442, 8446, 65535]) assert.equal(portInList(p, list), false, String(p));
  assert.equal(portInList(443, []), false);
});

const range: fc.Arbitrary<PortRange> = fc
  .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 2000 }))
  .map(([lo, span]) => [lo, Math.min(65535, lo + span)] as const);

test('parsing the formatted text of any port list gives the list back, sorted', () => {
  fc.assert(
    fc.property(fc.array(range, { maxLength: 12 }), (ranges) => {
      const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
      assert.deepEqual(parsePortList(formatPortList(ranges)), sorted);
      // and the canonical text is stable
      const text = formatPortList(parsePortList(formatPortList(ranges)));
      assert.equal(formatPortList(parsePortList(text)), text);
    }),
    { numRuns: 500 },
  );
});

test('a parsed list holds exactly the ports its text names', () => {
  fc.assert(
    fc.property(fc.array(range, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 65535 }), (ranges, port) => {
      const list = parsePortList(formatPortList(ranges));
      const expected = ranges.some(([lo, hi]) => port >= lo && port <= hi);
      assert.equal(portInList(port, list), expected);
    }),
    { numRuns: 500 },
  );
});

test('parsePortList either returns valid ranges or throws an Error, on any string', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'0123456789-, x'.split('')), maxLength: 30 }), (s) => {
      let out: PortRange[];
      try {
        out = parsePortList(s);
      } catch (e) {
        assert.ok(e instanceof Error);
        return;
      }
      for (const [lo, hi] of out) assert.ok(lo >= 1 && lo <= hi && hi <= 65535, s);
    }),
    { numRuns: 2000 },
  );
});
