/**
 * The upstream handshakes' bytes (main/net/upstream/hops.ts), sans-IO: each
 * request checked byte for byte and against Gatehouse's own SOCKS server
 * parsers; each reply parser fed whole, one byte at a time, split at random,
 * and given random bytes (fast-check).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ATYP_DOMAINNAME,
  ATYP_IPV4,
  ATYP_IPV6,
  CMD_CONNECT,
  HTTP_REPLY_MAX_HEADER_BYTES,
  HopHandshake,
  HttpConnectReplyParser,
  Socks4ReplyParser,
  Socks5AuthReplyParser,
  Socks5MethodParser,
  Socks5ReplyParser,
  httpConnectRequest,
  ipv6Bytes,
  parseSocks5UdpDatagram,
  readSocks5Address,
  socks4ConnectRequest,
  socks5Greeting,
  socks5Request,
  socks5UdpDatagram,
  socks5UserPassRequest,
  type Feed,
  type Step,
} from '../../../main/net/upstream/hops.js';
import { parseGreeting5, parseRequest4, parseRequest5, parseUdp, parseUserPass, reply4, reply5 } from '../../../main/engines/socks/protocol.js';

interface Parser<T> {
  feed(b: Buffer): Feed<T>;
}

/** Feeds `bytes` in the given pieces; returns the first non-'more' result (or 'more'). */
function feedPieces<T>(p: Parser<T>, bytes: Buffer, cuts: number[]): Feed<T> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, bytes.length]) {
    if (to <= from && !(to === bytes.length && from === 0 && bytes.length === 0)) continue;
    const r = p.feed(bytes.subarray(from, to));
    from = to;
    if (r.kind !== 'more') {
      // what was not fed yet belongs after the reply, like the bytes that were
      if (r.kind === 'done') return { ...r, rest: Buffer.concat([r.rest, bytes.subarray(to)]) };
      return r;
    }
  }
  return { kind: 'more' };
}

const oneByOne = <T>(p: Parser<T>, bytes: Buffer): Feed<T> => feedPieces(p, bytes, Array.from({ length: bytes.length }, (_, i) => i + 1));

/** A parser must give the same answer however the bytes are cut. */
function sameAnswerHoweverCut<T>(make: () => Parser<T>, bytes: Buffer): Feed<T> {
  const whole = make().feed(bytes);
  assert.deepEqual(oneByOne(make(), bytes), whole, 'byte by byte');
  fc.assert(
    fc.property(fc.array(fc.nat(bytes.length), { maxLength: 12 }), (cuts) => {
      assert.deepEqual(feedPieces(make(), bytes, cuts), whole);
    }),
    { numRuns: 60 },
  );
  return whole;
}

const b = (...x: number[]) => Buffer.from(x);
const latin = (s: string) => Buffer.from(s, 'latin1');

describe('HTTP CONNECT', () => {
  test('the request is CONNECT host:port with a Host field and no credentials unless given', () => {
    assert.equal(httpConnectRequest({ host: 'example.com', port: 443 }).toString(), 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  });

  test('an IPv6 destination goes in brackets (RFC 9110 §9.3.6 authority-form)', () => {
    assert.equal(httpConnectRequest({ host: '2001:db8::1', port: 8443 }).toString(), 'CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n');
  });

  test('credentials go as Proxy-Authorization: Basic of user:password in UTF-8 (RFC 7617)', () => {
    const text = httpConnectRequest({ host: 'h', port: 1 }, { user: 'alice', password: 'pässwörd' }).toString('latin1');
    const m = /\r\nProxy-Authorization: Basic ([A-Za-z0-9+/=]+)\r\n\r\n$/.exec(text);
    assert.ok(m, text);
    assert.equal(Buffer.from(m[1]!, 'base64').toString('utf8'), 'alice:pässwörd');
  });

  test('a destination that is not a host name or address is refused before any byte is built (no header injection)', () => {
    assert.throws(() => httpConnectRequest({ host: 'evil.example\r\nX-Injected: 1', port: 443 }), /is not a host name/);
    assert.throws(() => httpConnectRequest({ host: 'h', port: 0 }), /port 0/);
    assert.throws(() => httpConnectRequest({ host: 'h', port: 1 }, { user: 'a:b', password: 'x' }), /cannot contain ":"/);
  });

  test('a 200 reply is done and the bytes after its empty line are the tunnel\'s, however the bytes are cut', () => {
    const reply = latin('HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nSSH-2.0-hello');
    const r = sameAnswerHoweverCut(() => new HttpConnectReplyParser(), reply);
    assert.equal(r.kind, 'done');
    if (r.kind === 'done') {
      assert.equal(r.value.status, 200);
      assert.equal(r.rest.toString(), 'SSH-2.0-hello');
    }
  });

  test('any 2xx opens the tunnel; interim 1xx blocks are skipped; a bare LF line end is accepted', () => {
    for (const text of ['HTTP/1.0 204 No Content\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\nA: b\n\n']) {
      const r = sameAnswerHoweverCut(() => new HttpConnectReplyParser(), latin(text));
      assert.equal(r.kind, 'done', text);
      if (r.kind === 'done') assert.equal(r.rest.length, 0);
    }
  });

  test('407 is a sign-in fault that quotes the status line', () => {
    const r = sameAnswerHoweverCut(() => new HttpConnectReplyParser(), latin('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n<html>'));
    assert.deepEqual(r, { kind: 'error', fault: { kind: 'auth', code: 'E_HOP_AUTH', reason: 'the proxy refused: 407 Proxy Authentication Required' } });
  });

  test("Squid's 503 with X-Squid-Error ERR_CONNECT_FAIL 111 says the destination refused (ECONNREFUSED)", () => {
    const r = new HttpConnectReplyParser().feed(latin('HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\n\r\n'));
    assert.deepEqual(r, { kind: 'error', fault: { kind: 'unreachable', code: 'ECONNREFUSED', reason: 'the proxy could not connect: 503 Service Unavailable' } });
  });

  test('an RFC 9209 Proxy-Status error names the errno; a bare 504 is a timeout, a bare 502 unreachable', () => {
    const cases: Array<[string, string]> = [
      ['HTTP/1.1 502 Bad Gateway\r\nProxy-Status: gatehouse; error=connection_refused; details="x"\r\n\r\n', 'ECONNREFUSED'],
      ['HTTP/1.1 502 Bad Gateway\r\nProxy-Status: far; error=dns_error, near; error=connection_timeout\r\n\r\n', 'ETIMEDOUT'],
      ['HTTP/1.1 502 Bad Gateway\r\nProxy-Status: gatehouse; error=dns_error\r\n\r\n', 'ENOTFOUND'],
      ['HTTP/1.1 504 Gateway Timeout\r\n\r\n', 'ETIMEDOUT'],
      ['HTTP/1.1 502 Bad Gateway\r\n\r\n', 'E_HOP_UNREACHABLE'],
    ];
    for (const [text, code] of cases) {
      const r = new HttpConnectReplyParser().feed(latin(text));
      assert.equal(r.kind === 'error' && r.fault.kind, 'unreachable', text);
      assert.equal(r.kind === 'error' && r.fault.code, code, text);
    }
  });

  test('any other status is a refusal quoting the status line', () => {
    const r = new HttpConnectReplyParser().feed(latin('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    assert.deepEqual(r, { kind: 'error', fault: { kind: 'refused', code: 'E_HOP_REFUSED', reason: 'the proxy refused: 403 Forbidden' } });
  });

  test('a reply that is not HTTP fails at its first wrong byte', () => {
    const p = new HttpConnectReplyParser();
    assert.equal(p.feed(latin('H')).kind, 'more');
    const r = p.feed(latin('X'));
    assert.equal(r.kind, 'error');
    assert.match(r.kind === 'error' ? r.fault.reason : '', /did not answer in HTTP \(it sent "HX"\)/);
    assert.equal(new HttpConnectReplyParser().feed(b(5, 0)).kind, 'error');
  });

  test(`headers longer than ${HTTP_REPLY_MAX_HEADER_BYTES} bytes are a protocol fault, not an endless read`, () => {
    const p = new HttpConnectReplyParser();
    let r = p.feed(latin('HTTP/1.1 200 OK\r\n'));
    for (let i = 0; i < 1000 && r.kind === 'more'; i++) r = p.feed(latin(`X-Filler-${i}: ${'a'.repeat(100)}\r\n`));
    assert.equal(r.kind, 'error');
    assert.match(r.kind === 'error' ? r.fault.reason : '', /exceed 16384 bytes/);
  });

  test('a status line with a control character is quoted printable', () => {
    const r = new HttpConnectReplyParser().feed(latin('HTTP/1.1 403 No\x1b[31m way\r\n\r\n'));
    assert.equal(r.kind === 'error' && r.fault.reason, 'the proxy refused: 403 No?[31m way');
  });
});

describe('SOCKS4 and SOCKS4a', () => {
  test('an IPv4 destination goes as plain SOCKS4 with the user id', () => {
    assert.deepEqual(socks4ConnectRequest({ host: '10.1.2.3', port: 80 }, 'bob'), Buffer.concat([b(4, 1, 0, 80, 10, 1, 2, 3), latin('bob'), b(0)]));
  });

  test('a name goes as SOCKS4a: DSTIP 0.0.0.1 and the name after the user id', () => {
    const bytes = socks4ConnectRequest({ host: 'example.com', port: 443 }, 'bob');
    assert.deepEqual(bytes, Buffer.concat([b(4, 1, 1, 187, 0, 0, 0, 1), latin('bob'), b(0), latin('example.com'), b(0)]));
    // and Gatehouse's SOCKS server reads it as such
    const r = parseRequest4(bytes);
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual({ ...r.msg, rest: r.rest.length }, { cmd: CMD_CONNECT, dst: { atyp: ATYP_DOMAINNAME, host: 'example.com', port: 443 }, userId: 'bob', is4a: true, rest: 0 });
  });

  test('an IPv6 literal cannot be said in SOCKS4a and is refused before any byte is built', () => {
    assert.throws(() => socks4ConnectRequest({ host: '2001:db8::1', port: 80 }), /SOCKS4a cannot carry the IPv6 address 2001:db8::1/);
  });

  test('reply 90 is done with the bytes after it; 91 is a refusal; 92 and 93 are sign-in faults', () => {
    const ok = sameAnswerHoweverCut(() => new Socks4ReplyParser(), Buffer.concat([reply4(0x5a, '1.2.3.4', 80), latin('data')]));
    assert.equal(ok.kind === 'done' && ok.rest.toString(), 'data');
    assert.deepEqual(new Socks4ReplyParser().feed(reply4(0x5b)), { kind: 'error', fault: { kind: 'refused', code: 'E_HOP_REFUSED', reason: 'SOCKS4 reply 91 (request rejected or failed)' } });
    for (const cd of [92, 93]) assert.equal(new Socks4ReplyParser().feed(reply4(cd)).kind === 'error' && (new Socks4ReplyParser().feed(reply4(cd)) as { fault: { kind: string } }).fault.kind, 'auth');
  });

  test('a reply whose first byte is not a SOCKS4 version fails at once', () => {
    assert.equal(new Socks4ReplyParser().feed(latin('H')).kind, 'error');
  });
});

describe('SOCKS5', () => {
  test('the greeting offers no sign-in, and username/password too when we have credentials (RFC 1928 §3)', () => {
    assert.deepEqual(socks5Greeting(false), b(5, 1, 0));
    assert.deepEqual(socks5Greeting(true), b(5, 2, 0, 2));
    const r = parseGreeting5(socks5Greeting(true));
    assert.equal(r.kind === 'ok' && r.msg.methods.join(), '0,2');
  });

  test('the RFC 1929 request carries user and password in UTF-8 with one-byte lengths', () => {
    const bytes = socks5UserPassRequest({ user: 'alice', password: 'pässwörd' });
    assert.deepEqual(bytes.subarray(0, 7), Buffer.concat([b(1, 5), latin('alice')]));
    const r = parseUserPass(bytes);
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') assert.deepEqual(r.msg, { username: 'alice', password: 'pässwörd' });
    assert.throws(() => socks5UserPassRequest({ user: 'u'.repeat(256), password: '' }), /1 to 255 bytes/);
    assert.throws(() => socks5UserPassRequest({ user: 'u', password: 'p'.repeat(256) }), /at most 255 bytes/);
  });

  test('CONNECT carries ATYP IPv4, IPv6 or a domain name (RFC 1928 §4, §5)', () => {
    assert.deepEqual(socks5Request(CMD_CONNECT, { host: '127.0.0.1', port: 8080 }), b(5, 1, 0, ATYP_IPV4, 127, 0, 0, 1, 0x1f, 0x90));
    assert.deepEqual(socks5Request(CMD_CONNECT, { host: 'ab.c', port: 1 }), Buffer.concat([b(5, 1, 0, ATYP_DOMAINNAME, 4), latin('ab.c'), b(0, 1)]));
    const v6 = socks5Request(CMD_CONNECT, { host: '2001:db8::1', port: 443 });
    assert.deepEqual(v6, Buffer.concat([b(5, 1, 0, ATYP_IPV6), Buffer.from('20010db8000000000000000000000001', 'hex'), b(1, 187)]));
    for (const host of ['127.0.0.1', '2001:db8::1', 'ab.c', '::ffff:10.0.0.1', '::']) {
      const r = parseRequest5(socks5Request(CMD_CONNECT, { host, port: 443 }));
      assert.equal(r.kind, 'ok', host);
    }
    assert.deepEqual(ipv6Bytes('::ffff:10.0.0.1'), Buffer.from('00000000000000000000ffff0a000001', 'hex'));
  });

  test('any 16 bytes of IPv6 survive text and back (RFC 5952 text, fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const buf = Buffer.concat([b(ATYP_IPV6), Buffer.from(bytes), b(0, 80)]);
        const a = readSocks5Address(buf, 0);
        assert.ok(typeof a === 'object');
        assert.deepEqual(ipv6Bytes(a.host), Buffer.from(bytes));
      }),
    );
  });

  test('method 0xFF is a sign-in fault: the proxy accepts none of our sign-in methods', () => {
    const r = sameAnswerHoweverCut(() => new Socks5MethodParser([0]), b(5, 0xff));
    assert.equal(r.kind === 'error' && r.fault.kind, 'auth');
    assert.match(r.kind === 'error' ? r.fault.reason : '', /^the proxy accepts none of our sign-in methods/);
  });

  test('a method we did not offer is a protocol fault', () => {
    const r = new Socks5MethodParser([0]).feed(b(5, 2));
    assert.equal(r.kind === 'error' && r.fault.code, 'E_HOP_PROTOCOL');
  });

  test('RFC 1929 status other than 0 is a sign-in fault', () => {
    assert.equal(sameAnswerHoweverCut(() => new Socks5AuthReplyParser(), b(1, 0)).kind, 'done');
    const r = sameAnswerHoweverCut(() => new Socks5AuthReplyParser(), b(1, 1));
    assert.deepEqual(r, { kind: 'error', fault: { kind: 'auth', code: 'E_HOP_AUTH', reason: 'the proxy did not accept the user name and password (RFC 1929 status 0x01)' } });
  });

  test('a success reply with any BND address type is done with the bytes after it', () => {
    for (const [host, port] of [['10.0.0.1', 1080], ['2001:db8::5', 9], ['relay.example', 7]] as const) {
      const bytes = Buffer.concat([reply5(0, host, port), latin('first bytes')]);
      const r = sameAnswerHoweverCut(() => new Socks5ReplyParser(), bytes);
      assert.equal(r.kind, 'done', host);
      if (r.kind === 'done') {
        assert.deepEqual(r.value.bound, { host, port });
        assert.equal(r.rest.toString(), 'first bytes');
      }
    }
  });

  test('REP 0x05 is "SOCKS5 reply 0x05 (connection refused)", an unreachable destination (ECONNREFUSED)', () => {
    assert.deepEqual(new Socks5ReplyParser().feed(reply5(5)), { kind: 'error', fault: { kind: 'unreachable', code: 'ECONNREFUSED', reason: 'SOCKS5 reply 0x05 (connection refused)' } });
    assert.equal((new Socks5ReplyParser().feed(reply5(6)) as { fault: { code: string } }).fault.code, 'ETIMEDOUT');
    assert.equal((new Socks5ReplyParser().feed(reply5(4)) as { fault: { code: string } }).fault.code, 'EHOSTUNREACH');
  });

  test('REP 0x02 (not allowed) and unknown codes are refusals', () => {
    assert.deepEqual(new Socks5ReplyParser().feed(b(5, 2)), { kind: 'error', fault: { kind: 'refused', code: 'E_HOP_REFUSED', reason: 'SOCKS5 reply 0x02 (connection not allowed by ruleset)' } });
    assert.equal((new Socks5ReplyParser().feed(b(5, 0x42)) as { fault: { reason: string } }).fault.reason, 'SOCKS5 reply 0x42 (unassigned)');
  });

  test('UDP datagrams (RFC 1928 §7) are read by Gatehouse\'s relay parser and back; fragments are dropped', () => {
    const d = socks5UdpDatagram({ host: '10.0.0.9', port: 53 }, latin('query'));
    const r = parseUdp(d);
    assert.equal(r.kind === 'ok' && `${r.msg.dst.host}:${r.msg.dst.port}:${r.msg.data}`, '10.0.0.9:53:query');
    assert.deepEqual(parseSocks5UdpDatagram(d), { host: '10.0.0.9', port: 53, payload: latin('query') });
    const frag = Buffer.from(d);
    frag[2] = 1;
    assert.equal(parseSocks5UdpDatagram(frag), null);
  });
});

describe('one hop\'s whole handshake', () => {
  /** Runs a handshake against scripted server bytes (each fed one byte at a time); returns what was sent and the end. */
  function run(h: HopHandshake, serverSays: Buffer[]): { sent: Buffer[]; end: Step } {
    const sent: Buffer[] = [];
    let step = h.start();
    for (const said of serverSays) {
      if (step.kind === 'send') sent.push(step.bytes);
      else if (step.kind !== 'more') break;
      for (let i = 0; i < said.length; i++) {
        step = h.feed(said.subarray(i, i + 1));
        if (step.kind !== 'more') break;
      }
    }
    if (step.kind === 'send') sent.push(step.bytes);
    return { sent, end: step };
  }

  test('SOCKS5 with credentials: greeting, RFC 1929 sign-in, CONNECT, then done', () => {
    const h = new HopHandshake({ kind: 'socks5', user: 'alice', password: 'pw' }, { host: 'dest.example', port: 443 });
    const { sent, end } = run(h, [b(5, 2), b(1, 0), reply5(0, '1.2.3.4', 5)]);
    assert.deepEqual(sent, [b(5, 2, 0, 2), socks5UserPassRequest({ user: 'alice', password: 'pw' }), socks5Request(CMD_CONNECT, { host: 'dest.example', port: 443 })]);
    assert.equal(end.kind, 'done');
  });

  test('SOCKS5 whose proxy picks no sign-in goes straight to CONNECT', () => {
    const h = new HopHandshake({ kind: 'socks5', user: 'alice', password: 'pw' }, { host: '10.0.0.1', port: 80 });
    const { sent, end } = run(h, [b(5, 0), reply5(0)]);
    assert.equal(sent.length, 2);
    assert.equal(end.kind, 'done');
  });

  test('without a destination, SOCKS5 stops once signed in and HTTP / SOCKS4a are done at once', () => {
    const h = new HopHandshake({ kind: 'socks5' }, null);
    const { sent, end } = run(h, [b(5, 0)]);
    assert.equal(sent.length, 1);
    assert.equal(end.kind, 'done');
    assert.equal(new HopHandshake({ kind: 'http' }, null).start().kind, 'done');
    assert.equal(new HopHandshake({ kind: 'socks4a' }, null).start().kind, 'done');
  });

  test('bytes from the proxy before our next message are a protocol fault', () => {
    const h = new HopHandshake({ kind: 'socks5' }, { host: 'a.b', port: 1 });
    h.start();
    const r = h.feed(b(5, 0, 5, 0));
    assert.equal(r.kind === 'error' && r.fault.code, 'E_HOP_PROTOCOL');
  });
});

describe('random bytes', () => {
  const parsers: Array<[string, () => Parser<unknown>]> = [
    ['HTTP CONNECT reply', () => new HttpConnectReplyParser()],
    ['SOCKS4 reply', () => new Socks4ReplyParser()],
    ['SOCKS5 method', () => new Socks5MethodParser([0, 2])],
    ['RFC 1929 status', () => new Socks5AuthReplyParser()],
    ['SOCKS5 reply', () => new Socks5ReplyParser()],
  ];
  for (const [name, make] of parsers) {
    test(`the ${name} parser never throws, and a done reply leaves a suffix of its input`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 6 }), (bytes, cuts) => {
          const buf = Buffer.from(bytes);
          const r = feedPieces(make(), buf, cuts);
          if (r.kind === 'done') assert.ok(buf.subarray(buf.length - r.rest.length).equals(r.rest));
          if (r.kind === 'error') assert.ok(r.fault.reason.length > 0 && /^[\x20-\x7e…]*$/.test(r.fault.reason), r.fault.reason);
        }),
        { numRuns: 300 },
      );
    });
  }

  test('random bytes after a valid reply come out untouched as the rest', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(260), { maxLength: 6 }), (tail, cuts) => {
        const t = Buffer.from(tail);
        for (const [make, reply] of [
          [() => new Socks5ReplyParser(), reply5(0, '2001:db8::1', 1)],
          [() => new Socks4ReplyParser(), reply4(0x5a)],
          [() => new HttpConnectReplyParser(), latin('HTTP/1.1 200 OK\r\n\r\n')],
        ] as Array<[() => Parser<unknown>, Buffer]>) {
          const r = feedPieces(make(), Buffer.concat([reply, t]), cuts);
          assert.equal(r.kind, 'done');
          if (r.kind === 'done') assert.deepEqual(r.rest, t);
        }
      }),
      { numRuns: 200 },
    );
  });
});
