/**
 * The sans-IO HTTP/1.1 codec (RFC 9112): heads whole and byte by byte, the
 * errors they answer with, how bodies are framed, and the body framer fed
 * whole, a byte at a time and split at random points (fast-check). It never
 * throws, never reports more bytes than it was given, and leaves the bytes
 * after a message alone.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BodyFramer,
  field,
  hasToken,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  type Framing,
  type HeadLimits,
  type HeadResult,
  type RequestHead,
  type ResponseHead,
} from '../../../main/engines/http/codec.js';

const LIMITS: HeadLimits = { maxHeaderSize: 8192, maxUrlLength: 2048, maxFields: 100 };
const b = (s: string) => Buffer.from(s, 'latin1');

function req(s: string | Buffer, limits: HeadLimits = LIMITS): HeadResult<RequestHead> {
  return parseRequestHead(typeof s === 'string' ? b(s) : s, limits);
}

function head(s: string | Buffer, limits: HeadLimits = LIMITS): RequestHead {
  const r = req(s, limits);
  assert.equal(r.kind, 'head', `expected a head, got ${JSON.stringify(r)}`);
  return (r as { head: RequestHead }).head;
}

function status(r: HeadResult<unknown>): number {
  assert.equal(r.kind, 'error', `expected an error, got ${JSON.stringify(r)}`);
  return (r as { status: number }).status;
}

function res(s: string | Buffer, from = 0, max = 8192): HeadResult<ResponseHead> {
  return parseResponseHead(typeof s === 'string' ? b(s) : s, from, max);
}

function rhead(s: string | Buffer, from = 0): ResponseHead {
  const r = res(s, from);
  assert.equal(r.kind, 'head', `expected a head, got ${JSON.stringify(r)}`);
  return (r as { head: ResponseHead }).head;
}

/** Feeds growing prefixes: every proper prefix must ask for more, the whole must parse like at once. */
function byteByByte<T>(parse: (buf: Buffer) => HeadResult<T>, bytes: Buffer): HeadResult<T> {
  for (let i = 0; i < bytes.length; i++) {
    const r = parse(bytes.subarray(0, i));
    assert.equal(r.kind, 'more', `prefix of ${i} bytes gave ${JSON.stringify(r)}`);
  }
  return parse(bytes);
}

/** A request head with given fields, for the framing tests. */
function reqWith(fields: string[], version = 'HTTP/1.1'): RequestHead {
  return head(`POST /upload ${version}\r\n${fields.map((f) => f + '\r\n').join('')}\r\n`);
}

function resWith(statusLine: string, fields: string[]): ResponseHead {
  return rhead(`${statusLine}\r\n${fields.map((f) => f + '\r\n').join('')}\r\n`);
}

describe('request head (RFC 9112 §3, §5)', () => {
  const GET = 'GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n';

  test('parses a whole head: method, target, version, fields and size', () => {
    const h = head(GET);
    assert.deepEqual(h, {
      method: 'GET',
      target: 'http://example.com/a?b=c',
      minor: 1,
      raw: ['Host', 'example.com', 'Accept', '*/*'],
      size: GET.length,
    });
  });

  test('asks for more on every proper prefix, then gives the same head as at once', () => {
    const bytes = b(GET);
    const stepped = byteByByte((x) => req(x), bytes);
    assert.deepEqual(stepped, req(bytes));
    assert.equal(stepped.kind, 'head');
  });

  test('asks for more on an empty buffer', () => {
    assert.equal(req('').kind, 'more');
  });

  test('accepts bare LF line ends like CRLF', () => {
    const lf = head('GET / HTTP/1.1\nHost: a\nX: y\n\n');
    const crlf = head('GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n');
    assert.deepEqual(lf.raw, crlf.raw);
    assert.equal(lf.size, 'GET / HTTP/1.1\nHost: a\nX: y\n\n'.length);
  });

  test('accepts a mix of CRLF and bare LF, byte by byte', () => {
    const s = 'GET / HTTP/1.1\nHost: a\r\nX: y\n\r\n';
    const r = byteByByte((x) => req(x), b(s));
    assert.equal(r.kind, 'head');
    if (r.kind === 'head') assert.equal(r.head.size, s.length);
  });

  test('ignores empty lines before the request line and counts them in size', () => {
    const s = '\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n';
    const h = head(s);
    assert.equal(h.method, 'GET');
    assert.deepEqual(h.raw, ['Host', 'a']);
    assert.equal(h.size, s.length);
    assert.equal(byteByByte((x) => req(x), b(s)).kind, 'head');
  });

  test('only empty lines are not a head yet', () => {
    assert.equal(req('\r\n\r\n\r\n').kind, 'more');
  });

  test('a head with no fields ends at the first empty line', () => {
    const h = head('GET / HTTP/1.1\r\n\r\n');
    assert.deepEqual(h.raw, []);
    assert.equal(h.size, 18);
  });

  test('HTTP/1.0 is minor 0, HTTP/1.1 is minor 1, later 1.x is treated as 1', () => {
    assert.equal(head('GET / HTTP/1.0\r\n\r\n').minor, 0);
    assert.equal(head('GET / HTTP/1.1\r\n\r\n').minor, 1);
    assert.equal(head('GET / HTTP/1.2\r\n\r\n').minor, 1);
  });

  test('HTTP/2.0 and other major versions answer 505', () => {
    assert.equal(status(req('GET / HTTP/2.0\r\n\r\n')), 505);
    assert.equal(status(req('GET / HTTP/3\r\n\r\n')), 505);
    assert.equal(status(req('GET / HTTP/0.9\r\n\r\n')), 505);
  });

  test('garbage answers 400', () => {
    for (const s of [
      'hello\r\n\r\n',
      'GET\r\n\r\n',
      'GET /\r\n\r\n',
      'GET / FTP/1.1\r\n\r\n',
      'GET / http/1.1\r\n\r\n',
      'GET / HTTP/1.1 \r\n\r\n',
      ' GET / HTTP/1.1\r\n\r\n',
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n',
    ]) {
      assert.equal(status(req(s)), 400, JSON.stringify(s));
    }
  });

  test('a method that is not a token answers 400', () => {
    for (const m of ['GE(T', 'GE"T', 'G\x01T', 'GET/', 'G\xe9T']) {
      assert.equal(status(req(`${m} / HTTP/1.1\r\n\r\n`)), 400, JSON.stringify(m));
    }
  });

  test('any token is a method, including extension methods', () => {
    assert.equal(head('PROPFIND / HTTP/1.1\r\n\r\n').method, 'PROPFIND');
    assert.equal(head("M-SEARCH!#$%&'*+.^_`|~ * HTTP/1.1\r\n\r\n").method, "M-SEARCH!#$%&'*+.^_`|~");
  });

  test('a target with a space or control character answers 400', () => {
    assert.equal(status(req('GET /a b HTTP/1.1\r\n\r\n')), 400);
    assert.equal(status(req('GET  / HTTP/1.1\r\n\r\n')), 400);
    assert.equal(status(req('GET /a\x01 HTTP/1.1\r\n\r\n')), 400);
    assert.equal(status(req('GET /\x7f HTTP/1.1\r\n\r\n')), 400);
    assert.equal(status(req('GET /\xe9 HTTP/1.1\r\n\r\n')), 400);
  });

  test('whitespace between a field name and its colon answers 400', () => {
    assert.equal(status(req('GET / HTTP/1.1\r\nHost : a\r\n\r\n')), 400);
    assert.equal(status(req('GET / HTTP/1.1\r\nHost\t: a\r\n\r\n')), 400);
  });

  test('a field line without a name or colon answers 400', () => {
    assert.equal(status(req('GET / HTTP/1.1\r\n: a\r\n\r\n')), 400);
    assert.equal(status(req('GET / HTTP/1.1\r\nno colon here\r\n\r\n')), 400);
    assert.equal(status(req('GET / HTTP/1.1\r\nX(y): a\r\n\r\n')), 400);
  });

  test('obsolete line folding in a request answers 400', () => {
    assert.equal(status(req('GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n')), 400);
    assert.equal(status(req('GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n')), 400);
  });

  test('control characters in a field value answer 400', () => {
    for (const v of ['a\x00b', 'a\x01b', 'a\x1fb', 'a\x7fb', 'a\rb', '\x01a', 'a\x1b']) {
      assert.equal(status(req(`GET / HTTP/1.1\r\nX: ${v}\r\n\r\n`)), 400, JSON.stringify(v));
    }
  });

  test('control characters at the edges of a value are refused, not trimmed away', () => {
    for (const v of ['\x0ba', 'a\x0b', '\x0ca', 'a\x0c', 'a\r']) {
      assert.equal(status(req(`GET / HTTP/1.1\r\nX: ${v}\r\n\r\n`)), 400, JSON.stringify(v));
    }
  });

  test('a value keeps inner spaces, tabs and obs-text and loses only the OWS around it', () => {
    const h = head('GET / HTTP/1.1\r\nX: \t a \t\xa0b\xe9 \t\r\nY:\r\nZ:   \r\n\r\n');
    assert.deepEqual(h.raw, ['X', 'a \t\xa0b\xe9', 'Y', '', 'Z', '']);
  });

  test('field names keep their case and order, repeated fields stay separate', () => {
    const h = head('GET / HTTP/1.1\r\nhOsT: a\r\nX-Thing: 1\r\nx-thing: 2\r\nCONTENT-length: 0\r\n\r\n');
    assert.deepEqual(h.raw, ['hOsT', 'a', 'X-Thing', '1', 'x-thing', '2', 'CONTENT-length', '0']);
  });

  test('size is the head byte count and the bytes after the head are left alone', () => {
    const headStr = 'POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n';
    const buf = Buffer.concat([b(headStr), b('hello'), b('GET / HTTP/1.1\r\n\r\n')]);
    const copy = Buffer.from(buf);
    const h = head(buf);
    assert.equal(h.size, headStr.length);
    assert.deepEqual(buf, copy);
    assert.equal(buf.subarray(h.size).toString('latin1'), 'helloGET / HTTP/1.1\r\n\r\n');
  });

  test('a second head right after the first is not read into the first', () => {
    const buf = b('GET /1 HTTP/1.1\r\nA: 1\r\n\r\nGET /2 HTTP/1.1\r\nB: 2\r\n\r\n');
    const h1 = head(buf);
    assert.deepEqual(h1.raw, ['A', '1']);
    const h2 = head(buf.subarray(h1.size));
    assert.equal(h2.target, '/2');
    assert.deepEqual(h2.raw, ['B', '2']);
    assert.equal(h1.size + h2.size, buf.length);
  });

  describe('limits', () => {
    const small: HeadLimits = { maxHeaderSize: 300, maxUrlLength: 100, maxFields: 5 };

    test('a target of exactly maxUrlLength is accepted', () => {
      const url = '/' + 'a'.repeat(99);
      assert.equal(head(`GET ${url} HTTP/1.1\r\n\r\n`, small).target, url);
    });

    test('a complete request line with a target longer than maxUrlLength answers 414', () => {
      const url = '/' + 'a'.repeat(100);
      assert.equal(status(req(`GET ${url} HTTP/1.1\r\n\r\n`, small)), 414);
    });

    test('an incomplete request line longer than the URL limit answers 414 before it ends', () => {
      const r = req('GET /' + 'a'.repeat(200), small);
      assert.equal(status(r), 414);
    });

    test('an incomplete request line over the head limit answers 414, not 431', () => {
      const r = req('GET /' + 'a'.repeat(400), small);
      assert.equal(status(r), 414);
    });

    test('a URL over the limit answers 414 fed byte by byte too, never 400 or 431', () => {
      const bytes = b('GET /' + 'a'.repeat(150) + ' HTTP/1.1\r\n\r\n');
      let got: HeadResult<RequestHead> = { kind: 'more' };
      for (let i = 1; i <= bytes.length && got.kind === 'more'; i++) got = req(bytes.subarray(0, i), small);
      assert.equal(status(got), 414);
    });

    test('a complete head larger than maxHeaderSize answers 431', () => {
      const s = 'GET / HTTP/1.1\r\nX: ' + 'v'.repeat(300) + '\r\n\r\n';
      assert.equal(status(req(s, small)), 431);
    });

    test('an incomplete head larger than maxHeaderSize answers 431', () => {
      const s = 'GET / HTTP/1.1\r\nX: ' + 'v'.repeat(300);
      assert.equal(status(req(s, small)), 431);
      const many = 'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(60);
      assert.equal(status(req(many, small)), 431);
    });

    test('a head of exactly maxHeaderSize is accepted', () => {
      const start = 'GET / HTTP/1.1\r\nX: ';
      const s = start + 'v'.repeat(300 - start.length - 4) + '\r\n\r\n';
      assert.equal(s.length, 300);
      assert.equal(head(s, small).size, 300);
      assert.equal(status(req(s.replace('X: ', 'X: v'), small)), 431);
    });

    test('more than maxFields field lines answer 431, exactly maxFields is fine', () => {
      const five = 'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(5) + '\r\n';
      assert.equal(head(five, small).raw.length, 10);
      const six = 'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(6) + '\r\n';
      assert.equal(status(req(six, small)), 431);
    });
  });

  test('random bytes never throw, and an answer is more, an error status, or a head within the bytes', () => {
    const small: HeadLimits = { maxHeaderSize: 200, maxUrlLength: 64, maxFields: 4 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (arr) => {
        const buf = Buffer.from(arr);
        const r = req(buf, small);
        if (r.kind === 'head') assert.ok(r.head.size > 0 && r.head.size <= buf.length);
        if (r.kind === 'error') assert.ok([400, 414, 431, 505].includes(r.status) && r.reason.length > 0);
      }),
      { numRuns: 300 },
    );
  });

  test('random heads built from lines give the same answer at once and byte by byte', () => {
    const line = fc.constantFrom('GET / HTTP/1.1', 'X: y', 'Host: a', ' fold', 'bad line', '', 'Y:\tz\t', 'PUT * HTTP/1.0');
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), fc.boolean(), (ls, crlf) => {
        const bytes = b(ls.join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n\r\n' : '\n\n'));
        const whole = req(bytes);
        let stepped: HeadResult<RequestHead> = { kind: 'more' };
        for (let i = 0; i <= bytes.length && stepped.kind === 'more'; i++) stepped = req(bytes.subarray(0, i));
        if (stepped.kind === 'head') assert.deepEqual(stepped, whole);
        if (whole.kind === 'more') assert.equal(stepped.kind, 'more');
      }),
      { numRuns: 300 },
    );
  });
});

describe('response head (RFC 9112 §4)', () => {
  test('reads status, reason, version, fields and size', () => {
    const s = 'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: b\r\n\r\n';
    assert.deepEqual(rhead(s), { status: 404, reason: 'Not Found', minor: 1, raw: ['Content-Length', '3', 'X-A', 'b'], size: s.length });
  });

  test('HTTP/1.0 responses are minor 0', () => {
    assert.equal(rhead('HTTP/1.0 200 OK\r\n\r\n').minor, 0);
  });

  test('the reason phrase may be empty, with or without the space before it', () => {
    assert.equal(rhead('HTTP/1.1 200 \r\n\r\n').reason, '');
    assert.equal(rhead('HTTP/1.1 200\r\n\r\n').reason, '');
    assert.equal(rhead('HTTP/1.1 200 \r\n\r\n').status, 200);
  });

  test('the reason phrase keeps its spaces', () => {
    assert.equal(rhead('HTTP/1.1 500 Internal  Server Error \r\n\r\n').reason, 'Internal  Server Error ');
  });

  test('asks for more on every proper prefix, then gives the same head as at once', () => {
    const bytes = b('HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\r\n');
    const r = byteByByte((x) => res(x), bytes);
    assert.deepEqual(r, res(bytes));
    assert.equal(r.kind, 'head');
  });

  test('obsolete line folding is joined with a single space', () => {
    const h = rhead('HTTP/1.1 200 OK\r\nX-Long: a\r\n   b\r\n\tc \r\nY: d\r\n\r\n');
    assert.deepEqual(h.raw, ['X-Long', 'a b c', 'Y', 'd']);
  });

  test('a folded line before any field answers 502', () => {
    assert.equal(status(res('HTTP/1.1 200 OK\r\n folded\r\n\r\n')), 502);
  });

  test('control characters in a folded continuation line answer 502', () => {
    assert.equal(status(res('HTTP/1.1 200 OK\r\nX: a\r\n b\x00c\r\n\r\n')), 502);
    assert.equal(status(res('HTTP/1.1 200 OK\r\nX: a\r\n b\rc\r\n\r\n')), 502);
    assert.equal(status(res('HTTP/1.1 200 OK\r\nX: a\r\n b\x01\r\n\r\n')), 502);
  });

  test('an invalid status line answers 502', () => {
    for (const s of [
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 abc OK',
      'HTTP/1.1  200 OK',
      'HTTP/11 200 OK',
      'HTTP/2.0 200 OK',
      'http/1.1 200 OK',
      'ICY 200 OK',
      'HTTP/1.1',
      'HTTP/1.1 200 OK\r',
      'HTTP/1.1 200OK',
      'HTTP/1.1 099 Odd',
      'HTTP/1.x 200 OK',
      'garbage',
    ]) {
      assert.equal(status(res(s + '\r\n\r\n')), 502, JSON.stringify(s));
    }
  });

  test('invalid field lines answer 502', () => {
    assert.equal(status(res('HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n')), 502);
    assert.equal(status(res('HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n')), 502);
  });

  test('a head larger than the limit answers 502, complete or not', () => {
    const big = 'HTTP/1.1 200 OK\r\nX: ' + 'v'.repeat(200);
    assert.equal(status(res(big, 0, 100)), 502);
    assert.equal(status(res(big + '\r\n\r\n', 0, 100)), 502);
    assert.equal(res('HTTP/1.1 200 OK\r\n\r\n', 0, 19).kind, 'head');
    assert.equal(status(res('HTTP/1.1 200 OK\r\n\r\n', 0, 18)), 502);
  });

  test('parses at an offset: size counts from there and earlier bytes are ignored', () => {
    const prefix = 'junk before\r\n\r\n';
    const s = 'HTTP/1.1 204 No Content\r\nA: b\r\n\r\n';
    const buf = b(prefix + s + 'tail');
    const h = rhead(buf, prefix.length);
    assert.deepEqual(h, { status: 204, reason: 'No Content', minor: 1, raw: ['A', 'b'], size: s.length });
    assert.equal(buf.subarray(prefix.length + h.size).toString('latin1'), 'tail');
    // a 1xx head followed by the final head, read one after the other
    const two = b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    const first = rhead(two, 0);
    const second = rhead(two, first.size);
    assert.deepEqual([first.status, second.status], [100, 200]);
    assert.equal(first.size + second.size, two.length);
  });

  test('asks for more at an offset until the head is complete', () => {
    const buf = b('xxHTTP/1.1 200 OK\r\n');
    assert.equal(res(buf, 2).kind, 'more');
    assert.equal(res(buf, buf.length).kind, 'more');
  });

  test('random bytes at random offsets never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (arr, off) => {
        const buf = Buffer.from(arr);
        const from = buf.length === 0 ? 0 : off % (buf.length + 1);
        const r = parseResponseHead(buf, from, 200);
        if (r.kind === 'head') assert.ok(r.head.size > 0 && from + r.head.size <= buf.length);
        if (r.kind === 'error') assert.equal(r.status, 502);
      }),
      { numRuns: 300 },
    );
  });
});

describe('field() and hasToken()', () => {
  const raw = ['Accept', 'text/html', 'X-Other', '1', 'ACCEPT', 'image/png', 'accept', '*/*'];

  test('finds a field whatever the case of its name', () => {
    assert.equal(field(['Content-Type', 'text/plain'], 'content-type'), 'text/plain');
    assert.equal(field(['CONTENT-TYPE', 'text/plain'], 'content-type'), 'text/plain');
  });

  test('joins repeated fields with ", " in order', () => {
    assert.equal(field(raw, 'accept'), 'text/html, image/png, */*');
  });

  test('is undefined for a missing field, and matches whole names only', () => {
    assert.equal(field(raw, 'content-length'), undefined);
    assert.equal(field(raw, 'accep'), undefined);
    assert.equal(field(raw, 'accept-encoding'), undefined);
    assert.equal(field([], 'accept'), undefined);
  });

  test('an empty value is still a value', () => {
    assert.equal(field(['X', ''], 'x'), '');
    assert.equal(field(['X', '', 'x', 'a'], 'x'), ', a');
  });

  test('hasToken finds a token in a comma-separated list, case-insensitively', () => {
    assert.equal(hasToken('keep-alive, Upgrade', 'upgrade'), true);
    assert.equal(hasToken('Keep-Alive', 'keep-alive'), true);
    assert.equal(hasToken(' close ', 'close'), true);
    assert.equal(hasToken('a,,close', 'close'), true);
  });

  test('hasToken is false for a missing value, an empty value, or a token that is only part of one', () => {
    assert.equal(hasToken(undefined, 'close'), false);
    assert.equal(hasToken('', 'close'), false);
    assert.equal(hasToken('closed, keep-alive', 'close'), false);
    assert.equal(hasToken('x-close', 'close'), false);
  });
});

describe('requestFraming (RFC 9112 §6.3)', () => {
  test('no Content-Length and no Transfer-Encoding: no body', () => {
    assert.deepEqual(requestFraming(reqWith([])), { kind: 'none' });
  });

  test('Content-Length: 0 is no body', () => {
    assert.deepEqual(requestFraming(reqWith(['Content-Length: 0'])), { kind: 'none' });
  });

  test('Content-Length gives a length body', () => {
    assert.deepEqual(requestFraming(reqWith(['Content-Length: 42'])), { kind: 'length', length: 42 });
    assert.deepEqual(requestFraming(reqWith(['content-length: 007'])), { kind: 'length', length: 7 });
    assert.deepEqual(requestFraming(reqWith(['Content-Length: 999999999999999'])), { kind: 'length', length: 999999999999999 });
  });

  test('Content-Length on HTTP/1.0 is a length body', () => {
    assert.deepEqual(requestFraming(reqWith(['Content-Length: 3'], 'HTTP/1.0')), { kind: 'length', length: 3 });
  });

  test('Transfer-Encoding: chunked gives a chunked body, whatever its case', () => {
    assert.deepEqual(requestFraming(reqWith(['Transfer-Encoding: chunked'])), { kind: 'chunked' });
    assert.deepEqual(requestFraming(reqWith(['transfer-encoding: Chunked'])), { kind: 'chunked' });
  });

  test('both Transfer-Encoding and Content-Length answer 400', () => {
    const r = requestFraming(reqWith(['Transfer-Encoding: chunked', 'Content-Length: 5']));
    assert.equal((r as { status: number }).status, 400);
    const r2 = requestFraming(reqWith(['Content-Length: 5', 'Transfer-Encoding: gzip']));
    assert.equal((r2 as { status: number }).status, 400);
  });

  test('Transfer-Encoding on an HTTP/1.0 request answers 400', () => {
    const r = requestFraming(reqWith(['Transfer-Encoding: chunked'], 'HTTP/1.0'));
    assert.equal((r as { status: number }).status, 400);
  });

  test('a Transfer-Encoding other than chunked answers 501', () => {
    for (const te of ['gzip', 'identity', 'chunked, gzip', '']) {
      const r = requestFraming(reqWith([`Transfer-Encoding: ${te}`]));
      assert.equal((r as { status: number }).status, 501, JSON.stringify(te));
      assert.ok((r as { reason: string }).reason.length > 0);
    }
  });

  test('"gzip, chunked" answers 501: only plain chunked is passed on', () => {
    const r = requestFraming(reqWith(['Transfer-Encoding: gzip, chunked']));
    assert.equal((r as { status: number }).status, 501);
    const split = requestFraming(reqWith(['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked']));
    assert.equal((split as { status: number }).status, 501);
    const twice = requestFraming(reqWith(['Transfer-Encoding: chunked, chunked']));
    assert.equal((twice as { status: number }).status, 501);
  });

  test('an invalid Content-Length answers 400', () => {
    for (const cl of ['', 'abc', '-1', '+5', '1.5', '1e3', '0x10', '5 5', '1234567890123456', '5,']) {
      const r = requestFraming(reqWith([`Content-Length: ${cl}`]));
      assert.equal((r as { status: number }).status, 400, JSON.stringify(cl));
    }
  });

  test('repeated identical Content-Length values are one length', () => {
    assert.deepEqual(requestFraming(reqWith(['Content-Length: 5, 5'])), { kind: 'length', length: 5 });
    assert.deepEqual(requestFraming(reqWith(['Content-Length: 5', 'content-length: 5'])), { kind: 'length', length: 5 });
  });

  test('different Content-Length values answer 400', () => {
    assert.equal((requestFraming(reqWith(['Content-Length: 5, 6'])) as { status: number }).status, 400);
    assert.equal((requestFraming(reqWith(['Content-Length: 5', 'Content-Length: 6'])) as { status: number }).status, 400);
  });
});

describe('responseFraming (RFC 9112 §6.3)', () => {
  const OK = 'HTTP/1.1 200 OK';

  test('a response to HEAD has no body, whatever it says', () => {
    assert.deepEqual(responseFraming(resWith(OK, ['Content-Length: 100']), 'HEAD'), { kind: 'none' });
    assert.deepEqual(responseFraming(resWith(OK, ['Transfer-Encoding: chunked']), 'HEAD'), { kind: 'none' });
  });

  test('1xx, 204 and 304 responses have no body', () => {
    for (const s of ['HTTP/1.1 100 Continue', 'HTTP/1.1 103 Early Hints', 'HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified']) {
      assert.deepEqual(responseFraming(resWith(s, ['Content-Length: 10']), 'GET'), { kind: 'none' }, s);
      assert.deepEqual(responseFraming(resWith(s, ['Transfer-Encoding: chunked']), 'GET'), { kind: 'none' }, s);
    }
  });

  test('Transfer-Encoding ending in chunked is chunked, and overrides Content-Length', () => {
    assert.deepEqual(responseFraming(resWith(OK, ['Transfer-Encoding: chunked']), 'GET'), { kind: 'chunked' });
    assert.deepEqual(responseFraming(resWith(OK, ['Transfer-Encoding: gzip, CHUNKED']), 'GET'), { kind: 'chunked' });
    assert.deepEqual(responseFraming(resWith(OK, ['Transfer-Encoding: chunked', 'Content-Length: 3']), 'GET'), { kind: 'chunked' });
  });

  test('any other Transfer-Encoding is read until the connection closes', () => {
    assert.deepEqual(responseFraming(resWith(OK, ['Transfer-Encoding: gzip']), 'GET'), { kind: 'close' });
    assert.deepEqual(responseFraming(resWith(OK, ['Transfer-Encoding: chunked, gzip']), 'GET'), { kind: 'close' });
  });

  test('no Content-Length is read until the connection closes', () => {
    assert.deepEqual(responseFraming(resWith(OK, []), 'GET'), { kind: 'close' });
    assert.deepEqual(responseFraming(resWith('HTTP/1.0 200 OK', []), 'POST'), { kind: 'close' });
  });

  test('Content-Length: 0 is no body, other lengths are length bodies', () => {
    assert.deepEqual(responseFraming(resWith(OK, ['Content-Length: 0']), 'GET'), { kind: 'none' });
    assert.deepEqual(responseFraming(resWith(OK, ['Content-Length: 12']), 'GET'), { kind: 'length', length: 12 });
    assert.deepEqual(responseFraming(resWith(OK, ['Content-Length: 12, 12']), 'GET'), { kind: 'length', length: 12 });
  });

  test('an invalid or conflicting Content-Length makes the response unreadable (null)', () => {
    assert.equal(responseFraming(resWith(OK, ['Content-Length: x']), 'GET'), null);
    assert.equal(responseFraming(resWith(OK, ['Content-Length: -1']), 'GET'), null);
    assert.equal(responseFraming(resWith(OK, ['Content-Length: 1', 'Content-Length: 2']), 'GET'), null);
  });
});

/** Feeds `pieces` to a framer like a socket would; returns what it took from each and where it stopped. */
function feed(framer: BodyFramer, pieces: Buffer[]): { taken: number; rest: Buffer; failed: boolean } {
  let taken = 0;
  for (let p = 0; p < pieces.length; p++) {
    const piece = pieces[p]!;
    const n = framer.take(piece, 0);
    if (n < 0) return { taken, rest: Buffer.alloc(0), failed: true };
    assert.ok(n <= piece.length, `took ${n} of ${piece.length}`);
    taken += n;
    if (framer.done) return { taken, rest: Buffer.concat([piece.subarray(n), ...pieces.slice(p + 1)]), failed: false };
    assert.equal(n, piece.length, 'a framer that is not done takes the whole piece');
  }
  return { taken, rest: Buffer.alloc(0), failed: false };
}

/** Splits `buf` at the given points (any numbers; taken modulo the length, sorted, deduplicated). */
function splitAt(buf: Buffer, points: number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => (buf.length === 0 ? 0 : p % (buf.length + 1))))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let last = 0;
  for (const c of cuts) {
    out.push(buf.subarray(last, c));
    last = c;
  }
  out.push(buf.subarray(last));
  return out;
}

/** One piece per byte. */
const bytesOf = (buf: Buffer) => Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));

function decoder(framing: Framing): { framer: BodyFramer; out: () => Buffer } {
  const parts: Buffer[] = [];
  const framer = new BodyFramer(framing, (buf, start, end) => {
    assert.ok(start >= 0 && start < end && end <= buf.length, `onData(${start}, ${end}) on ${buf.length} bytes`);
    parts.push(Buffer.from(buf.subarray(start, end)));
  });
  return { framer, out: () => Buffer.concat(parts) };
}

/** A chunked body and the payload it carries. */
interface Chunked {
  body: Buffer;
  payload: Buffer;
}

const chunkedArb: fc.Arbitrary<Chunked> = fc
  .record({
    chunks: fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 6 }),
    upper: fc.boolean(),
    zeros: fc.nat({ max: 3 }),
    ext: fc.constantFrom('', ';a', ';a=b', ';name="quoted ; value"', ' ;x', '\t;y=1'),
    trailers: fc.array(fc.constantFrom('Expires: never', 'X-Sum: abc', 'T:'), { maxLength: 3 }),
  })
  .map(({ chunks, upper, zeros, ext, trailers }) => {
    const eol = '\r\n';
    const parts: Buffer[] = [];
    for (const c of chunks) {
      let size = '0'.repeat(zeros) + c.length.toString(16);
      if (upper) size = size.toUpperCase();
      parts.push(b(size + ext + eol), Buffer.from(c), b(eol));
    }
    parts.push(b('0'.repeat(zeros) + '0' + ext + eol));
    for (const t of trailers) parts.push(b(t + eol));
    parts.push(b(eol));
    return { body: Buffer.concat(parts), payload: Buffer.concat(chunks.map((c) => Buffer.from(c))) };
  });

const AFTER = b('GET /next HTTP/1.1\r\nHost: a\r\n\r\n');

describe('BodyFramer: Content-Length', () => {
  test('takes exactly the length and leaves what follows', () => {
    const f = new BodyFramer({ kind: 'length', length: 5 });
    assert.equal(f.done, false);
    const buf = b('helloGET');
    assert.equal(f.take(buf, 0), 5);
    assert.equal(f.done, true);
    assert.equal(f.take(buf, 5), 0);
  });

  test('takes from an offset', () => {
    const f = new BodyFramer({ kind: 'length', length: 3 });
    assert.equal(f.take(b('HEADabcdef'), 4), 3);
    assert.equal(f.done, true);
  });

  test('a body split anywhere ends at the same byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.uint8Array({ maxLength: 20 }), fc.array(fc.nat(), { maxLength: 8 }), (body, after, points) => {
        const all = Buffer.concat([Buffer.from(body), Buffer.from(after)]);
        const f = new BodyFramer({ kind: 'length', length: body.length });
        const r = feed(f, splitAt(all, points));
        assert.equal(r.failed, false);
        assert.equal(f.done, true);
        assert.equal(r.taken, body.length);
        assert.deepEqual(r.rest, Buffer.from(after));
      }),
      { numRuns: 300 },
    );
  });

  test('empty pieces take nothing and do not end the body', () => {
    const f = new BodyFramer({ kind: 'length', length: 2 });
    assert.equal(f.take(Buffer.alloc(0), 0), 0);
    assert.equal(f.take(b('ab'), 2), 0);
    assert.equal(f.done, false);
    assert.equal(f.take(b('ab'), 0), 2);
    assert.equal(f.done, true);
  });

  test('the connection closing before the length is reached is not a proper end', () => {
    const f = new BodyFramer({ kind: 'length', length: 10 });
    f.take(b('abc'), 0);
    assert.equal(f.eof(), false);
    assert.equal(f.done, false);
  });

  test('a none framing is done at once, takes nothing, and ends properly on close', () => {
    const f = new BodyFramer({ kind: 'none' });
    assert.equal(f.done, true);
    assert.equal(f.take(b('GET / HTTP/1.1\r\n'), 0), 0);
    assert.equal(f.eof(), true);
  });
});

describe('BodyFramer: close-delimited', () => {
  test('takes everything it is given and ends only when the connection closes', () => {
    const f = new BodyFramer({ kind: 'close' });
    assert.equal(f.take(b('abc'), 0), 3);
    assert.equal(f.take(b('xxdef'), 2), 3);
    assert.equal(f.take(Buffer.alloc(0), 0), 0);
    assert.equal(f.done, false);
    assert.equal(f.eof(), true);
    assert.equal(f.done, true);
    assert.equal(f.take(b('late'), 0), 0);
  });
});

describe('BodyFramer: chunked (RFC 9112 §7.1)', () => {
  const SIMPLE = '4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n';

  test('finds the end of a whole body and leaves what follows', () => {
    const f = new BodyFramer({ kind: 'chunked' });
    const buf = Buffer.concat([b(SIMPLE), AFTER]);
    const copy = Buffer.from(buf);
    assert.equal(f.take(buf, 0), SIMPLE.length);
    assert.equal(f.done, true);
    assert.equal(f.error, '');
    assert.deepEqual(buf, copy);
    assert.equal(f.take(buf, SIMPLE.length), 0);
  });

  test('takes from an offset', () => {
    const f = new BodyFramer({ kind: 'chunked' });
    const buf = Buffer.concat([b('HEAD'), b(SIMPLE), AFTER]);
    assert.equal(f.take(buf, 4), SIMPLE.length);
    assert.equal(f.done, true);
  });

  test('decodes a whole body to its payload', () => {
    const { framer, out } = decoder({ kind: 'chunked' });
    assert.equal(framer.take(b(SIMPLE), 0), SIMPLE.length);
    assert.equal(out().toString('latin1'), 'Wikipedia in\r\n\r\nchunks.');
  });

  test('a body of only the last chunk is empty', () => {
    const { framer, out } = decoder({ kind: 'chunked' });
    assert.equal(framer.take(b('0\r\n\r\nX'), 0), 5);
    assert.equal(framer.done, true);
    assert.equal(out().length, 0);
  });

  test('accepts extensions, trailers and upper-case hex', () => {
    const s = '1A;foo=bar;q="a b"\r\n' + 'x'.repeat(26) + '\r\n0A ; x\r\n0123456789\r\n0;last\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n';
    const { framer, out } = decoder({ kind: 'chunked' });
    assert.equal(framer.take(Buffer.concat([b(s), AFTER]), 0), s.length);
    assert.equal(framer.done, true);
    assert.equal(out().toString('latin1'), 'x'.repeat(26) + '0123456789');
  });

  test('fed byte by byte, it ends at the same byte and decodes the same payload', () => {
    const { framer, out } = decoder({ kind: 'chunked' });
    const r = feed(framer, bytesOf(Buffer.concat([b(SIMPLE), AFTER])));
    assert.equal(r.failed, false);
    assert.equal(r.taken, SIMPLE.length);
    assert.deepEqual(r.rest, AFTER);
    assert.equal(out().toString('latin1'), 'Wikipedia in\r\n\r\nchunks.');
  });

  test('random bodies end at the same byte whole, byte by byte, and split at random points', () => {
    fc.assert(
      fc.property(chunkedArb, fc.array(fc.nat(), { maxLength: 10 }), ({ body }, points) => {
        const all = Buffer.concat([body, AFTER]);
        const copy = Buffer.from(all);
        for (const pieces of [[all], splitAt(all, points), bytesOf(all)]) {
          const f = new BodyFramer({ kind: 'chunked' });
          const r = feed(f, pieces);
          assert.equal(f.error, '');
          assert.equal(r.failed, false);
          assert.equal(f.done, true);
          assert.equal(r.taken, body.length);
          assert.deepEqual(r.rest, AFTER);
        }
        assert.deepEqual(all, copy, 'the framer never writes to its input');
      }),
      { numRuns: 200 },
    );
  });

  test('random bodies decode to exactly their payload, however they are split', () => {
    fc.assert(
      fc.property(chunkedArb, fc.array(fc.nat(), { maxLength: 10 }), ({ body, payload }, points) => {
        const all = Buffer.concat([body, AFTER]);
        for (const pieces of [[all], splitAt(all, points), bytesOf(all)]) {
          const { framer, out } = decoder({ kind: 'chunked' });
          const r = feed(framer, pieces);
          assert.equal(r.failed, false);
          assert.equal(r.taken, body.length);
          assert.deepEqual(out(), payload);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('two chunked bodies back to back are framed one after the other', () => {
    fc.assert(
      fc.property(chunkedArb, chunkedArb, (one, two) => {
        const all = Buffer.concat([one.body, two.body]);
        const f1 = new BodyFramer({ kind: 'chunked' });
        const n1 = f1.take(all, 0);
        assert.equal(n1, one.body.length);
        const f2 = new BodyFramer({ kind: 'chunked' });
        assert.equal(f2.take(all, n1), two.body.length);
        assert.ok(f1.done && f2.done);
      }),
      { numRuns: 100 },
    );
  });

  test('an incomplete body takes all it is given and is not done; the connection closing then is not a proper end', () => {
    const f = new BodyFramer({ kind: 'chunked' });
    const part = b(SIMPLE.slice(0, -1));
    assert.equal(f.take(part, 0), part.length);
    assert.equal(f.done, false);
    assert.equal(f.eof(), false);
    assert.equal(f.take(b('\n'), 0), 1);
    assert.equal(f.done, true);
  });

  describe('malformed input returns -1 with an error, never throws', () => {
    const cases: [string, string][] = [
      ['a missing chunk size', '\r\n'],
      ['a chunk size that is not hex', 'z\r\n'],
      ['a size followed by garbage', '5g\r\nhello\r\n'],
      ['a negative size', '-1\r\n'],
      ['a 0x prefix', '0x5\r\nhello\r\n'],
      ['a size line with CR not followed by LF', '5\rhello'],
      ['a size line ending in a bare LF (smuggling: the next hop may frame it otherwise)', '5\nhello\r\n0\r\n\r\n'],
      ['chunk data followed by a bare LF', '5\r\nhello\n0\r\n\r\n'],
      ['a trailer line ending in a bare LF', '0\r\nX: 1\n\r\n'],
      ['a NUL in a chunk extension', '5;a\x00b\r\nhello\r\n0\r\n\r\n'],
      ['data longer than its size', '5\r\nhelloX\r\n0\r\n\r\n'],
      ['data followed by CR and not LF', '5\r\nhello\rX'],
      ['a last chunk followed by CR and not LF', '0\r\n\rX'],
      ['data followed by the next size with no line end', '3\r\nabc4\r\n'],
      ['an empty line where a size should be', '3\r\nabc\r\n\r\n'],
    ];
    for (const [name, input] of cases) {
      test(name, () => {
        for (const pieces of [[b(input)], bytesOf(b(input))]) {
          const f = new BodyFramer({ kind: 'chunked' });
          const r = feed(f, pieces);
          assert.equal(r.failed, true, name);
          assert.ok(f.error.length > 0);
          assert.equal(f.done, false);
        }
      });
    }
  });

  test('a chunk size of more than 13 hex digits is refused, even with leading zeros', () => {
    for (const s of ['FFFFFFFFFFFFFF\r\n', '100000000000000000000\r\n', '00000000000000001\r\n']) {
      const f = new BodyFramer({ kind: 'chunked' });
      assert.equal(f.take(b(s), 0), -1, s);
      assert.match(f.error, /too large/);
    }
    const f = new BodyFramer({ kind: 'chunked' });
    assert.equal(f.take(b('FFFFFFFFFFFFF\r\nab'), 0), 17);
    assert.equal(f.done, false);
  });

  test('a chunk extension longer than 4096 bytes is refused, even when split', () => {
    const f = new BodyFramer({ kind: 'chunked' });
    assert.equal(f.take(b('5;' + 'a'.repeat(5000) + '\r\n'), 0), -1);
    assert.match(f.error, /extension/);
    const g = new BodyFramer({ kind: 'chunked' });
    assert.equal(g.take(b('5;' + 'a'.repeat(3000)), 0), 3002);
    assert.equal(g.take(b('a'.repeat(3000)), 0), -1);
    assert.ok(g.error.length > 0);
  });

  test('a trailer section larger than 16 KiB is refused', () => {
    const f = new BodyFramer({ kind: 'chunked' });
    const trailers = 'X-T: ' + 'v'.repeat(100) + '\r\n';
    assert.equal(f.take(b('0\r\n' + trailers.repeat(200) + '\r\n'), 0), -1);
    assert.match(f.error, /trailer/);
  });

  test('random bytes never throw and never take more than they were given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (arr, points, decode) => {
        const buf = Buffer.from(arr);
        const { framer } = decode ? decoder({ kind: 'chunked' }) : { framer: new BodyFramer({ kind: 'chunked' }) };
        for (const piece of splitAt(buf, points)) {
          const n = framer.take(piece, 0);
          assert.ok(Number.isInteger(n) && n >= -1 && n <= piece.length);
          if (n < 0) {
            assert.ok(framer.error.length > 0);
            break;
          }
          if (framer.done) break;
        }
      }),
      { numRuns: 300 },
    );
  });

  test('random bytes that look like chunks never throw and never take more than they were given', () => {
    const tok = fc.constantFrom('0', '5', 'a', 'F', ';', ' ', '\r', '\n', '\r\n', 'x', 'hello', ':', '\t');
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 40 }), fc.nat(), (toks, off) => {
        const buf = b(toks.join(''));
        const from = off % (buf.length + 1);
        const { framer, out } = decoder({ kind: 'chunked' });
        const n = framer.take(buf, from);
        assert.ok(n >= -1 && n <= buf.length - from);
        if (n < 0) assert.ok(framer.error.length > 0);
        assert.ok(out().length <= buf.length - from);
      }),
      { numRuns: 300 },
    );
  });

  test('a valid body with one byte changed never throws', () => {
    fc.assert(
      fc.property(chunkedArb, fc.nat(), fc.integer({ min: 0, max: 255 }), ({ body }, at, byte) => {
        const buf = Buffer.from(body);
        buf[at % buf.length] = byte;
        const f = new BodyFramer({ kind: 'chunked' });
        const n = f.take(buf, 0);
        assert.ok(n >= -1 && n <= buf.length);
      }),
      { numRuns: 300 },
    );
  });
});

/** A head as a sender writes it: start line, field lines, empty line. */
function serializeHead(startLine: string, raw: string[]): string {
  let s = startLine + '\r\n';
  for (let i = 0; i < raw.length; i += 2) s += raw[i] + ': ' + raw[i + 1] + '\r\n';
  return s + '\r\n';
}

describe('heads written and read back', () => {
  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,16}$/);
  const target = fc.stringMatching(/^[!-~]{1,60}$/);
  // a field value: visible characters and obs-text, with spaces and tabs only inside
  // (not NBSP at either end either: the parser trims values with String.prototype.trim, which drops 0xA0)
  const value = fc.oneof(
    fc.constant(''),
    fc.stringMatching(/^[!-~\x80-\x9f\xa1-\xff]([ \t!-~\x80-\xff]{0,30}[!-~\x80-\x9f\xa1-\xff])?$/),
  );
  const fieldsArb = fc.array(fc.tuple(token, value), { maxLength: 8 }).map((ps) => ps.flat());

  test('round-trips request heads through parseRequestHead', () => {
    fc.assert(
      fc.property(token, target, fc.constantFrom(0, 1), fieldsArb, (method, tgt, minor, raw) => {
        const s = serializeHead(`${method} ${tgt} HTTP/1.${minor}`, raw);
        const h = head(s);
        assert.deepEqual(h, { method, target: tgt, minor, raw, size: Buffer.byteLength(s, 'latin1') });
      }),
      { numRuns: 300 },
    );
  });

  test('round-trips response heads through parseResponseHead', () => {
    const reason = fc.stringMatching(/^[ \t!-~\x80-\xff]{0,30}$/);
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), reason, fc.constantFrom(0, 1), fieldsArb, (st, rs, minor, raw) => {
        const s = serializeHead(`HTTP/1.${minor} ${st} ${rs}`, raw);
        const h = rhead(b(s));
        assert.deepEqual(h, { status: st, reason: rs, minor, raw, size: s.length });
      }),
      { numRuns: 300 },
    );
  });
});
