/**
 * Hop URLs (main/net/upstream/chain.ts): what parseHopUrl accepts, what it
 * refuses and how it says so (quoting the line, never its password), and
 * hopUrl's secret-free text that parses back to the same hop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hopUrl, parseHopUrl, type Hop } from '../../../main/net/upstream/chain.js';

test('parses the three schemes, with and without sign-in', () => {
  const cases: Array<[string, Hop]> = [
    ['http://proxy.example:3128', { kind: 'http', host: 'proxy.example', port: 3128 }],
    ['http://alice:s3cret@10.0.0.1:8080', { kind: 'http', host: '10.0.0.1', port: 8080, user: 'alice', password: 's3cret' }],
    ['socks4a://bob@gw.lan:1080', { kind: 'socks4a', host: 'gw.lan', port: 1080, user: 'bob' }],
    ['socks4a://gw.lan:1080', { kind: 'socks4a', host: 'gw.lan', port: 1080 }],
    ['socks5://carol:pw@[2001:db8::1]:1080', { kind: 'socks5', host: '2001:db8::1', port: 1080, user: 'carol', password: 'pw' }],
    ['socks5://[::1]:9050', { kind: 'socks5', host: '::1', port: 9050 }],
  ];
  for (const [line, hop] of cases) assert.deepEqual(parseHopUrl(line), hop, line);
});

test('percent-decodes user and password; an empty password is kept as empty', () => {
  assert.deepEqual(parseHopUrl('socks5://d%C3%A9j%C3%A0%40corp:p%3Aw%40rd%2F@h:1'), { kind: 'socks5', host: 'h', port: 1, user: 'déjà@corp', password: 'p:w@rd/' });
  assert.deepEqual(parseHopUrl('http://alice:@h:1'), { kind: 'http', host: 'h', port: 1, user: 'alice', password: '' });
});

test('surrounding spaces, an upper-case scheme and a trailing slash are accepted; socks5h means socks5', () => {
  assert.deepEqual(parseHopUrl('  HTTP://h:1/ '), { kind: 'http', host: 'h', port: 1 });
  assert.deepEqual(parseHopUrl('socks5h://h:1'), { kind: 'socks5', host: 'h', port: 1 });
});

test('each bad line is refused with a message that quotes it and says what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['socks9://h:1', /^Error: upstream proxy "socks9:\/\/h:1": unknown scheme "socks9" \(use http:\/\/, socks4a:\/\/ or socks5:\/\/\)$/],
    ['https://h:443', /^Error: upstream proxy "https:\/\/h:443": unknown scheme "https": a TLS connection to the proxy is not supported/],
    ['socks4://h:1080', /^Error: upstream proxy "socks4:\/\/h:1080": unknown scheme "socks4": use socks4a:\/\//],
    ['proxy.example:3128', /^Error: upstream proxy "proxy.example:3128": not a proxy URL \(write scheme:\/\/host:port/],
    ['http://proxy.example', /^Error: upstream proxy "http:\/\/proxy.example": missing port/],
    ['http://proxy.example:', /^Error: upstream proxy "http:\/\/proxy.example:": missing port/],
    ['socks5://h:0', /^Error: upstream proxy "socks5:\/\/h:0": port 0 is out of range \(1-65535\)$/],
    ['socks5://h:65536', /: port 65536 is out of range \(1-65535\)$/],
    ['socks5://h:http', /: port "http" is not a number$/],
    ['socks5://2001:db8::1:1080', /: an IPv6 address must be in brackets/],
    ['socks5://[example.com]:1080', /: "example.com" in brackets is not an IPv6 address$/],
    ['http://h:1/path', /: only scheme:\/\/host:port is allowed/],
    ['http://:1', /: missing host$/],
    ['http://h_!:1', /: "h_!" is not a host name or address$/],
    ['socks5://%zz@h:1', /: the user name has a bad percent-encoding$/],
    ['socks5://@h:1', /: the user name before "@" is empty$/],
    ['http://a%3Ab:c@h:1', /: a user name for an HTTP proxy cannot contain ":" \(RFC 7617\)$/],
    [`socks5://${'u'.repeat(256)}@h:1`, /at most 255 bytes each \(RFC 1929\)$/],
  ];
  for (const [line, message] of cases) assert.throws(() => parseHopUrl(line), message, line);
});

test('a password on socks4a is refused, and the message masks the password while quoting the line', () => {
  assert.throws(() => parseHopUrl('socks4a://bob:hunter2secret@h:1080'), (err: Error) => {
    assert.equal(err.message, 'upstream proxy "socks4a://bob:***@h:1080": SOCKS4a has no passwords (it sends only a user id): remove ":password"');
    return true;
  });
});

test('no error message shows the password of the line it quotes', () => {
  const bad = ['http://alice:hunter2secret@h', 'http://alice:hunter2secret@h:0', 'socks9://alice:hunter2secret@h:1', 'socks5://alice:hunter2secret@[zz]:1', 'socks5://alice:hunter2secret@h:1/x'];
  for (const line of bad) {
    assert.throws(
      () => parseHopUrl(line),
      (err: Error) => !err.message.includes('hunter2secret') && err.message.includes('alice:***@'),
      line,
    );
  }
});

test('hopUrl shows the user but never the password, and parses back to the same hop', () => {
  const h: Hop = { kind: 'socks5', host: 'proxy.example', port: 1080, user: 'alice', password: 'hunter2secret' };
  assert.equal(hopUrl(h), 'socks5://alice@proxy.example:1080');
  assert.equal(hopUrl({ kind: 'http', host: '2001:db8::1', port: 3128 }), 'http://[2001:db8::1]:3128');
  fc.assert(
    fc.property(fc.constantFrom<Hop['kind']>('http', 'socks4a', 'socks5'), fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 65535 }), (kind, user, port) => {
      fc.pre(!(kind === 'http' && user.includes(':')));
      const text = hopUrl({ kind, host: 'h.example', port, user, password: 'never' });
      assert.ok(!text.includes('never'));
      assert.deepEqual(parseHopUrl(text), { kind, host: 'h.example', port, user });
    }),
  );
});
