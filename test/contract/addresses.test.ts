/**
 * IP addresses, CIDR ranges and source lists (main/contract/addresses.ts):
 * both families, the IPv4-mapped and embedded-IPv4 IPv6 forms, malformed
 * input, and random strings (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LOCAL_RANGES,
  cidrContains,
  isIp,
  matchesAny,
  parseCidr,
  parseIPv4,
  parseIPv6,
  parseIp,
  parseSourceList,
} from '../../main/contract/addresses.js';

test('parses dotted IPv4 addresses into their 32-bit value', () => {
  assert.equal(parseIPv4('0.0.0.0'), 0n);
  assert.equal(parseIPv4('192.168.1.10'), 0xc0a8010an);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffffn);
  assert.deepEqual(parseIp('10.0.0.5'), { family: 4, value: 0x0a000005n });
});

test('rejects IPv4 text with a wrong part count, an octet above 255, signs or spaces', () => {
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-4', '1.2.3.+4', ' 1.2.3.4', '1.2.3.4 ', '1..2.3', '1.2.3.4/8', '1.2.3.1000', '', 'a.b.c.d']) {
    assert.equal(parseIPv4(bad), null, JSON.stringify(bad));
  }
});

test('parses full, compressed and bracketed IPv6 addresses', () => {
  assert.equal(parseIPv6('::'), 0n);
  assert.equal(parseIPv6('::1'), 1n);
  assert.equal(parseIPv6('[::1]'), 1n);
  assert.equal(parseIPv6('1:2:3:4:5:6:7:8'), 0x00010002000300040005000600070008n);
  assert.equal(parseIPv6('1::8'), 0x00010000000000000000000000000008n);
  assert.equal(parseIPv6('1:2:3:4:5:6:7::'), 0x00010002000300040005000600070000n);
  assert.equal(parseIPv6('FE80::ABCD'), parseIPv6('fe80::abcd'));
  assert.deepEqual(parseIp('2001:db8::1'), { family: 6, value: 0x20010db8000000000000000000000001n });
});

test('drops a zone index such as %eth0 from a link-local IPv6 address', () => {
  assert.equal(parseIPv6('fe80::1%eth0'), parseIPv6('fe80::1'));
});

test('rejects malformed IPv6: two "::", too many groups, long groups, stray colons', () => {
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '12345::', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', ':::', 'g::1', '1:2:3', '::1.2.3', '1.2.3.4::', '::1.2.3.4.5', '::256.0.0.1']) {
    assert.equal(parseIPv6(bad), null, JSON.stringify(bad));
  }
});

test('reads an embedded IPv4 in the last 32 bits of an IPv6 address (RFC 4291 §2.2)', () => {
  assert.equal(parseIPv6('::1.2.3.4'), 0x01020304n);
  assert.equal(parseIPv6('64:ff9b::192.0.2.33'), 0x0064ff9b0000000000000000c0000221n);
  assert.equal(parseIPv6('0:0:0:0:0:0:1.2.3.4'), 0x01020304n);
  // the IPv4-compatible form is still an IPv6 address
  assert.deepEqual(parseIp('::1.2.3.4'), { family: 6, value: 0x01020304n });
});

test('treats an IPv4-mapped IPv6 address as the IPv4 address, dotted or in hex', () => {
  const v4 = { family: 4, value: 0xc0a80105n };
  assert.deepEqual(parseIp('::ffff:192.168.1.5'), v4);
  assert.deepEqual(parseIp('::FFFF:c0a8:105'), v4);
  assert.deepEqual(parseIp('0:0:0:0:0:ffff:192.168.1.5'), v4);
  assert.equal(isIp('::ffff:192.168.1.5'), true);
});

test('isIp answers false for host names and empty text', () => {
  for (const s of ['', 'localhost', 'example.com', '*', 'local', '1.2.3.4:80', '[::1]:80']) assert.equal(isIp(s), false, s);
});

test('parses CIDR ranges, masking host bits off the base', () => {
  const c = parseCidr('10.1.2.3/8')!;
  assert.equal(c.family, 4);
  assert.equal(c.bits, 8);
  assert.equal(c.base, 0x0a000000n);
  assert.equal(c.text, '10.1.2.3/8');
  assert.equal(parseCidr('192.168.1.7')!.bits, 32);
  assert.equal(parseCidr('fe80::/10')!.bits, 10);
  assert.equal(parseCidr('::1')!.bits, 128);
  assert.equal(parseCidr('0.0.0.0/0')!.base, 0n);
});

test('turns a mapped IPv6 prefix such as ::ffff:10.0.0.0/104 into its IPv4 prefix', () => {
  const c = parseCidr('::ffff:10.0.0.0/104')!;
  assert.equal(c.family, 4);
  assert.equal(c.bits, 8);
  assert.equal(c.base, 0x0a000000n);
  assert.equal(cidrContains(c, parseIp('10.200.1.1')!), true);
  assert.equal(cidrContains(c, parseIp('11.0.0.1')!), false);
});

test('rejects CIDR ranges with a bad prefix length or address', () => {
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/a', '::/129', '::ffff:10.0.0.0/95', 'host/24', '', '/24']) {
    assert.equal(parseCidr(bad), null, JSON.stringify(bad));
  }
});

test('a range contains the addresses inside it and none of the other family', () => {
  const v4 = parseCidr('192.168.0.0/16')!;
  assert.equal(cidrContains(v4, parseIp('192.168.255.255')!), true);
  assert.equal(cidrContains(v4, parseIp('192.169.0.0')!), false);
  assert.equal(cidrContains(v4, parseIp('::ffff:192.168.3.4')!), true);
  const v6 = parseCidr('fc00::/7')!;
  assert.equal(cidrContains(v6, parseIp('fd12:3456::1')!), true);
  assert.equal(cidrContains(v6, parseIp('fe00::1')!), false);
  assert.equal(cidrContains(v6, parseIp('192.168.1.1')!), false);
  const all4 = parseCidr('0.0.0.0/0')!;
  assert.equal(cidrContains(all4, parseIp('8.8.8.8')!), true);
  assert.equal(cidrContains(all4, parseIp('::1')!), false);
});

test('"local" in a source list covers loopback, private and link-local ranges of both families', () => {
  const ranges = parseSourceList(['local']);
  assert.equal(ranges.length, LOCAL_RANGES.length);
  for (const a of ['127.0.0.1', '10.9.8.7', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.1.1', '::1', 'fd00::5', 'fe80::1', '::ffff:127.0.0.1', '::ffff:192.168.0.9']) {
    assert.equal(matchesAny(ranges, a), true, a);
  }
  for (const a of ['8.8.8.8', '172.32.0.1', '11.0.0.1', '2001:db8::1', '::2', 'not-an-ip', '']) {
    assert.equal(matchesAny(ranges, a), false, a);
  }
});

test('a source list mixes "local" (any case), addresses, ranges and "*", skipping blank entries', () => {
  const ranges = parseSourceList([' LOCAL ', '', '203.0.113.7', '2001:db8::/32']);
  assert.equal(matchesAny(ranges, '203.0.113.7'), true);
  assert.equal(matchesAny(ranges, '203.0.113.8'), false);
  assert.equal(matchesAny(ranges, '2001:db8:1::9'), true);
  assert.equal(matchesAny(ranges, '10.0.0.1'), true);
  for (const any of ['*', 'any', 'ANY']) {
    const all = parseSourceList([any]);
    assert.equal(matchesAny(all, '8.8.8.8'), true);
    assert.equal(matchesAny(all, '2001:db8::1'), true);
  }
});

test('a bad source-list entry throws an error that quotes it and says what is wrong', () => {
  assert.throws(() => parseSourceList(['local', 'printer.lan']), (e: Error) => {
    assert.match(e.message, /"printer\.lan" is not an IP address/);
    return true;
  });
  assert.throws(() => parseSourceList(['10.0.0.0/40']), (e: Error) => {
    assert.match(e.message, /"10\.0\.0\.0\/40" is a malformed CIDR range/);
    return true;
  });
});

test('parseIp and parseCidr never throw on random strings', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      parseIp(s);
      parseCidr(s);
    }),
    { numRuns: 2000 },
  );
  // strings made only of the characters addresses use reach deeper into the parsers
  const addrChars = fc.constantFrom(...'0123456789abcdefABCDEF:.[]%/'.split(''));
  fc.assert(
    fc.property(fc.string({ unit: addrChars, maxLength: 45 }), (s) => {
      const a = parseIp(s);
      if (a) assert.ok(a.value >= 0n && a.value < (a.family === 4 ? 1n << 32n : 1n << 128n), s);
      parseCidr(s);
    }),
    { numRuns: 3000 },
  );
});

test('every IPv4 address survives formatting as dotted, mapped dotted and mapped hex', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (n) => {
      const b = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
      const dotted = b.join('.');
      const hex = `::ffff:${((n >>> 16) & 0xffff).toString(16)}:${(n & 0xffff).toString(16)}`;
      const want = { family: 4, value: BigInt(n) };
      assert.deepEqual(parseIp(dotted), want);
      assert.deepEqual(parseIp(`::ffff:${dotted}`), want);
      assert.deepEqual(parseIp(hex), want);
    }),
    { numRuns: 500 },
  );
});

test('every IPv6 address survives formatting as eight groups and with a run of zero groups compressed to "::"', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xabc), { minLength: 8, maxLength: 8 }), (groups) => {
      const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
      const full = groups.map((g) => g.toString(16)).join(':');
      assert.equal(parseIPv6(full), value, full);
      // compress the first run of zero groups
      const start = groups.indexOf(0);
      if (start >= 0) {
        let end = start;
        while (end < 8 && groups[end] === 0) end++;
        const head = groups.slice(0, start).map((g) => g.toString(16)).join(':');
        const tail = groups.slice(end).map((g) => g.toString(16)).join(':');
        const short = `${head}::${tail}`;
        assert.equal(parseIPv6(short), value, short);
      }
    }),
    { numRuns: 500 },
  );
});
