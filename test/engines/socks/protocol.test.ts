/**
 * The sans-IO SOCKS parsers: whole messages, the same bytes one at a time,
 * and random bytes (fast-check). They never throw, never report more bytes
 * used than they were given, and ask for more only when more could help.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ATYP_DOMAIN,
  ATYP_IPV4,
  ATYP_IPV6,
  CMD_BIND,
  CMD_CONNECT,
  REP_ADDRESS_TYPE_NOT_SUPPORTED,
  REP_COMMAND_NOT_SUPPORTED,
  SOCKS4_REJECTED,
  parseGreeting5,
  parseRequest4,
  parseRequest5,
  parseUdp,
  parseUserPass,
  reply4,
  reply5,
  udpHeader,
  type Parse,
} from '../../../main/engines/socks/protocol.js';

type Parser<T> = (b: Buffer) => Parse<T>;

/** Feeds `bytes` one at a time: every proper prefix must ask for more, the whole must parse like at once. */
function byteByByte<T>(parse: Parser<T>, bytes: Buffer): Parse<T> {
  for (let i = 0; i < bytes.length; i++) {
    const r = parse(bytes.subarray(0, i));
    if (r.kind !== 'more') return r;
  }
  return parse(bytes);
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('SOCKS5 greeting (RFC 1928 §3)', () => {
  test('reads the offered methods and leaves the bytes after them', () => {
    const r = parseGreeting5(hex('05 02 00 02 ff'));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') {
      assert.deepEqual(r.msg.methods, [0, 2]);
      assert.deepEqual([...r.rest], [0xff]);
    }
  });
  test('asks for more on every prefix, byte by byte', () => {
    const r = byteByByte(parseGreeting5, hex('05 03 00 01 02'));
    assert.equal(r.kind, 'ok');
  });
  test('refuses a greeting that offers no method', () => {
    assert.equal(parseGreeting5(hex('05 00')).kind, 'error');
  });
});

describe('RFC 1929 username/password', () => {
  test('reads name and password', () => {
    const msg = Buffer.concat([hex('01 05'), Buffer.from('alice'), hex('03'), Buffer.from('pw!')]);
    const r = byteByByte(parseUserPass, msg);
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual(r.msg, { username: 'alice', password: 'pw!' });
  });
  test('refuses an unknown sub-negotiation version', () => {
    assert.equal(parseUserPass(hex('02 01 61 01 62')).kind, 'error');
  });
});

describe('SOCKS5 request (RFC 1928 §4, §5)', () => {
  test('CONNECT to an IPv4 address', () => {
    const r = byteByByte(parseRequest5, hex('05 01 00 01 7f 00 00 01 1f 90'));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual(r.msg, { cmd: CMD_CONNECT, dst: { atyp: ATYP_IPV4, host: '127.0.0.1', port: 8080 } });
  });
  test('CONNECT to an IPv6 address, written in RFC 5952 form', () => {
    const r = parseRequest5(hex('05 01 00 04 00000000000000000000000000000001 0050'));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual(r.msg.dst, { atyp: ATYP_IPV6, host: '::1', port: 80 });
    const r2 = parseRequest5(hex('05 01 00 04 20010db8000000000001000000000002 0050'));
    if (r2.kind === 'ok') assert.equal(r2.msg.dst.host, '2001:db8::1:0:0:2');
  });
  test('BIND to a domain name', () => {
    const r = byteByByte(parseRequest5, Buffer.concat([hex('05 02 00 03 0b'), Buffer.from('example.com'), hex('01bb')]));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual(r.msg, { cmd: CMD_BIND, dst: { atyp: ATYP_DOMAIN, host: 'example.com', port: 443 } });
  });
  test('an unknown command gets reply code 0x07', () => {
    const r = parseRequest5(hex('05 09 00 01 7f000001 0050'));
    assert.deepEqual(r.kind === 'error' && r.code, REP_COMMAND_NOT_SUPPORTED);
  });
  test('an unknown address type gets reply code 0x08', () => {
    const r = parseRequest5(hex('05 01 00 07 7f000001 0050'));
    assert.deepEqual(r.kind === 'error' && r.code, REP_ADDRESS_TYPE_NOT_SUPPORTED);
  });
  test('a domain name with bytes no host name has is refused', () => {
    assert.equal(parseRequest5(Buffer.concat([hex('05 01 00 03 04'), Buffer.from('a\nb\0'), hex('0050')])).kind, 'error');
  });
});

describe('SOCKS4 and SOCKS4a', () => {
  test('SOCKS4 CONNECT with a USERID', () => {
    const r = byteByByte(parseRequest4, Buffer.concat([hex('04 01 0050 7f000001'), Buffer.from('bob'), hex('00')]));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual(r.msg, { cmd: CMD_CONNECT, dst: { atyp: ATYP_IPV4, host: '127.0.0.1', port: 80 }, userId: 'bob', is4a: false });
  });
  test('SOCKS4a: DSTIP 0.0.0.x means a domain name follows the USERID', () => {
    const msg = Buffer.concat([hex('04 01 01bb 00000001'), hex('00'), Buffer.from('example.org'), hex('00'), Buffer.from('rest')]);
    const stepped = byteByByte(parseRequest4, msg);
    const r = parseRequest4(msg);
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok' && stepped.kind === 'ok') {
      assert.deepEqual(stepped.msg, r.msg);
      assert.deepEqual(r.msg.dst, { atyp: ATYP_DOMAIN, host: 'example.org', port: 443 });
      assert.equal(r.msg.is4a, true);
      assert.equal(r.rest.toString(), 'rest');
    }
  });
  test('a USERID without its terminating NUL within 255 bytes is refused, not waited for', () => {
    const r = parseRequest4(Buffer.concat([hex('04 01 0050 7f000001'), Buffer.alloc(300, 0x41)]));
    assert.deepEqual(r.kind === 'error' && r.code, SOCKS4_REJECTED);
  });
  test('SOCKS4 UDP (command 3) is not a SOCKS4 command', () => {
    assert.equal(parseRequest4(Buffer.concat([hex('04 03 0050 7f000001'), hex('00')])).kind, 'error');
  });
});

describe('UDP header (RFC 1928 §7)', () => {
  test('reads FRAG, the destination and the data', () => {
    const r = parseUdp(Buffer.concat([hex('0000 00 01 7f000001 0035'), Buffer.from('dns?')]));
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') {
      assert.equal(r.msg.frag, 0);
      assert.equal(r.msg.dst.port, 53);
      assert.equal(r.msg.data.toString(), 'dns?');
    }
  });
  test('the header we write parses back', () => {
    for (const host of ['10.1.2.3', '::1', 'fe80::1:2', 'example.net']) {
      const r = parseUdp(Buffer.concat([udpHeader(host, 5353), Buffer.from('x')]));
      assert.equal(r.kind, 'ok');
      if (r.kind === 'ok') assert.deepEqual([r.msg.dst.host, r.msg.dst.port, r.msg.data.toString()], [host, 5353, 'x']);
    }
  });
});

describe('replies', () => {
  test('a SOCKS5 reply carries an IPv6 bound address as ATYP 4', () => {
    const b = reply5(0, '::1', 1080);
    assert.equal(b[3], ATYP_IPV6);
    assert.equal(b.length, 4 + 16 + 2);
    assert.equal(b.readUInt16BE(20), 1080);
    assert.equal(b[19], 1);
  });
  test('a SOCKS5 reply maps ::ffff:a.b.c.d to ATYP 1', () => {
    const b = reply5(0, '::ffff:10.0.0.1', 80);
    assert.equal(b[3], ATYP_IPV4);
    assert.deepEqual([...b.subarray(4, 8)], [10, 0, 0, 1]);
  });
  test('a SOCKS4 reply is 8 bytes with VN 0', () => {
    assert.deepEqual([...reply4(0x5a, '127.0.0.1', 80)], [0, 0x5a, 0, 80, 127, 0, 0, 1]);
  });
});

describe('random bytes (fast-check)', () => {
  const parsers: [string, Parser<unknown>][] = [
    ['greeting5', parseGreeting5],
    ['userpass', parseUserPass],
    ['request5', parseRequest5],
    ['request4', parseRequest4],
    ['udp', parseUdp],
  ];
  for (const [name, parse] of parsers) {
    test(`${name} never throws and never reports more bytes used than it got`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), (arr) => {
          const buf = Buffer.from(arr);
          const r = parse(buf);
          if (r.kind === 'ok') assert.ok(r.rest.length <= buf.length);
          if (r.kind === 'error') assert.ok(r.code >= 0 && r.code <= 0xff && r.reason.length > 0);
        }),
        { numRuns: 2000 },
      );
    });
    // a UDP datagram is parsed whole by definition: no prefix property for it
    if (name !== 'udp') test(`${name} gives the same answer at once and byte by byte`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (arr) => {
          const buf = Buffer.from(arr);
          const whole = parse(buf);
          const stepped = byteByByte(parse, buf);
          // a prefix may already be decisive: then the whole parses to the same message, with more left over
          if (whole.kind === 'more') assert.equal(stepped.kind, 'more');
          if (stepped.kind === 'ok') {
            assert.equal(whole.kind, 'ok');
            if (whole.kind === 'ok') assert.deepEqual(whole.msg, stepped.msg);
          }
        }),
        { numRuns: 500 },
      );
    });
  }
  test('valid SOCKS5 requests with random addresses parse whole and byte by byte alike', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), (cmd, ip, port) => {
        const bytes = Buffer.concat([Buffer.from([5, cmd, 0]), udpHeader(ip, port).subarray(3)]);
        const a = parseRequest5(bytes);
        const b = byteByByte(parseRequest5, bytes);
        assert.deepEqual(a, b);
        assert.equal(a.kind, 'ok');
      }),
      { numRuns: 300 },
    );
  });
});
