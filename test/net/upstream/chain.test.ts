/**
 * Upstream chains (main/net/upstream/chain.ts) on real sockets: Squid for HTTP
 * CONNECT, microsocks and Dante for SOCKS5, a small SOCKS4/4a server and
 * Gatehouse's own SOCKS service for SOCKS4a, loopback echo servers as
 * destinations, closed and silent ports for the failures.
 *
 * Squid 5.7 and microsocks 1.0.3 end the whole tunnel at the first FIN, so
 * half-close is checked through hops that relay it (Dante, the SOCKS4 server,
 * Gatehouse).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { createHash } from 'node:crypto';
import { checkChain, HopError, openChain, type Hop } from '../../../main/net/upstream/chain.js';
import {
  DANTED,
  MICROSOCKS,
  SQUID,
  have,
  startDante,
  startEchoServer,
  startMicrosocks,
  startSocks4Server,
  startSquid,
  type EchoServer,
  type Socks4Server,
  type Upstream,
} from '../../helpers/upstreams.js';
import { closedPort, startSilentServer } from '../../helpers/origin.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

const PASSWORD = 'Tr0ub4dor&3-never-shown';
const USER = 'alice';
const missing = [SQUID, MICROSOCKS, DANTED].filter((p) => !have(p));
const skip = missing.length ? `not installed: ${missing.join(', ')} (apt-get install squid microsocks dante-server)` : false;

let echo: EchoServer;
let echo6: EchoServer | null = null;
let squid: Upstream;
let squidAuth: Upstream;
let socks: Upstream;
let socksAuth: Upstream;
let dante: Upstream;
let socks4: Socks4Server;
const started: Array<{ close(): Promise<void> }> = [];

/** Every message a test saw, checked for the password at the end. */
const messages: string[] = [];

before(async () => {
  if (skip) return;
  const track = async <T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> => {
    const x = await p;
    started.push(x);
    return x;
  };
  echo = await track(startEchoServer());
  try {
    echo6 = await track(startEchoServer({ host: '::1' }));
  } catch {
    echo6 = null; // no IPv6 loopback here: the IPv6 tests skip
  }
  // allSettled, not all: every daemon that did start is tracked before after() closes them
  const r = await Promise.allSettled([
    track(startSquid()),
    track(startSquid({ auth: { user: USER, pass: PASSWORD } })),
    track(startMicrosocks()),
    track(startMicrosocks({ user: USER, pass: PASSWORD })),
    track(startDante()),
  ]);
  const failed = r.find((x) => x.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  [squid, squidAuth, socks, socksAuth, dante] = r.map((x) => (x as PromiseFulfilledResult<Upstream>).value) as [Upstream, Upstream, Upstream, Upstream, Upstream];
  socks4 = await track(startSocks4Server());
});

after(async () => {
  await Promise.allSettled(started.map((s) => s.close()));
  for (const m of messages) assert.ok(!m.includes(PASSWORD), `a message shows the password: ${m}`);
});

const hop = (kind: Hop['kind'], u: { host: string; port: number }, creds?: { user: string; password?: string }): Hop => ({ kind, host: u.host, port: u.port, ...(creds ?? {}) });
const target = () => ({ host: '127.0.0.1', port: echo.port });

/** `p`, or a failure naming `what` after ms: no wait in these tests is unbounded. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** A deterministic pattern, so lost or reordered bytes show. */
const pattern = (n: number, seed = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed + (i >> 10)) & 255));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes `body`, reads until as many bytes came back (bounded by timeoutMs), closes; returns what came back. */
async function roundTrip(s: net.Socket, body: Buffer, timeoutMs = 10000, expect = body.length): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    const done = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${got} of ${expect} bytes came back in ${timeoutMs} ms`)), timeoutMs);
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= expect) {
          clearTimeout(t);
          resolve();
        }
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      s.once('close', () => {
        clearTimeout(t);
        if (got < expect) reject(new Error(`closed after ${got} of ${expect} bytes`));
      });
    });
    s.write(body);
    await done;
  } finally {
    s.destroy();
  }
  return Buffer.concat(chunks);
}

/** Writes `body` and ends (half-close); resolves with everything read until the other side ended (or timeoutMs). */
async function halfCloseTrip(s: net.Socket, body: Buffer, timeoutMs = 10000): Promise<{ back: Buffer; ended: boolean }> {
  const chunks: Buffer[] = [];
  try {
    s.end(body);
    const ended = await new Promise<boolean>((resolve, reject) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      s.on('data', (c: Buffer) => chunks.push(c));
      s.once('end', () => {
        clearTimeout(t);
        resolve(true);
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    return { back: Buffer.concat(chunks), ended };
  } finally {
    s.destroy();
  }
}

/** Expects openChain to reject with a HopError; returns it (its message noted for the password check). */
async function hopError(p: Promise<unknown>): Promise<HopError> {
  try {
    const s = await p;
    (s as net.Socket).destroy();
  } catch (err) {
    assert.ok(err instanceof HopError, `not a HopError: ${String(err)}`);
    messages.push(err.message, String(err.stack), JSON.stringify(err));
    return err;
  }
  assert.fail('the chain opened, but a HopError was expected');
}

describe('one hop', { skip, timeout: 60_000 }, () => {
  test('reaches the destination through Squid with CONNECT, 1 MiB intact both ways', async () => {
    const body = pattern(1 << 20);
    const s = await openChain([hop('http', squid)], target(), { timeoutMs: 5000 });
    assert.equal(sha(await roundTrip(s, body)), sha(body));
  });

  test('signs in to Squid with Basic credentials', async () => {
    const body = pattern(70000, 1);
    const s = await openChain([hop('http', squidAuth, { user: USER, password: PASSWORD })], target(), { timeoutMs: 5000 });
    assert.equal(sha(await roundTrip(s, body)), sha(body));
  });

  test('a wrong password at Squid is HopError hop 1 phase auth (407), the password nowhere in it', async () => {
    const e = await hopError(openChain([hop('http', squidAuth, { user: USER, password: `${PASSWORD}x` })], target(), { timeoutMs: 5000 }));
    assert.equal(e.hop, 1);
    assert.equal(e.phase, 'auth');
    assert.equal(e.code, 'E_HOP_AUTH');
    assert.equal(e.hopUrl, `http://${USER}@127.0.0.1:${squidAuth.port}`);
    assert.equal(e.message, `hop 1 (http://${USER}@127.0.0.1:${squidAuth.port}): the proxy refused: 407 Proxy Authentication Required`);
    assert.ok(!e.message.includes(PASSWORD));
  });

  test('no credentials for a Squid that wants them is HopError phase auth', async () => {
    const e = await hopError(openChain([hop('http', squidAuth)], target(), { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase], [1, 'auth']);
  });

  test('Squid reporting the destination refused is the last hop, phase refused, ECONNREFUSED', async () => {
    const port = await closedPort();
    const e = await hopError(openChain([hop('http', squid)], { host: '127.0.0.1', port }, { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase, e.code], [1, 'refused', 'ECONNREFUSED']);
    assert.match(e.message, new RegExp(`could not connect to 127\\.0\\.0\\.1:${port}: the proxy could not connect: 503 Service Unavailable`));
  });

  test('reaches the destination through microsocks without sign-in', async () => {
    const body = pattern(300000, 2);
    const s = await openChain([hop('socks5', socks)], target(), { timeoutMs: 5000 });
    assert.equal(sha(await roundTrip(s, body)), sha(body));
  });

  test('signs in to microsocks with username/password (RFC 1929)', async () => {
    const body = pattern(300000, 3);
    const s = await openChain([hop('socks5', socksAuth, { user: USER, password: PASSWORD })], target(), { timeoutMs: 5000 });
    assert.equal(sha(await roundTrip(s, body)), sha(body));
  });

  test('a wrong password at microsocks is HopError hop 1 phase auth, the password nowhere in it', async () => {
    const e = await hopError(openChain([hop('socks5', socksAuth, { user: USER, password: 'wrong-Tr0ub4dor' })], target(), { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase, e.code], [1, 'auth', 'E_HOP_AUTH']);
    assert.match(e.message, /did not accept the user name and password \(RFC 1929 status 0x/);
    assert.ok(!e.message.includes('wrong-Tr0ub4dor'));
  });

  test('no credentials for a microsocks that wants them: the proxy accepts none of our sign-in methods', async () => {
    const e = await hopError(openChain([hop('socks5', socksAuth)], target(), { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase], [1, 'auth']);
    assert.match(e.message, /the proxy accepts none of our sign-in methods/);
  });

  test('a name as the destination goes to the proxy to resolve (SOCKS5 ATYP domain, CONNECT authority)', async () => {
    for (const h of [hop('socks5', socks), hop('http', squid), hop('socks5', dante)]) {
      const body = pattern(5000, 4);
      const s = await openChain([h], { host: 'localhost', port: echo.port }, { timeoutMs: 5000 });
      assert.equal(sha(await roundTrip(s, body)), sha(body), h.kind);
    }
  });

  test('an IPv6 destination goes as ATYP IPv6 to SOCKS5 and in brackets to HTTP CONNECT', { skip: false }, async (t) => {
    if (!echo6) return t.skip('no IPv6 loopback');
    for (const h of [hop('socks5', socks), hop('http', squid)]) {
      const body = pattern(5000, 5);
      const s = await openChain([h], { host: '::1', port: echo6.port }, { timeoutMs: 5000 });
      assert.equal(sha(await roundTrip(s, body)), sha(body), h.kind);
    }
  });

  test('SOCKS4a sends a name with the 0.0.0.x trick and the user id; an IPv4 address as plain SOCKS4', async () => {
    const before = socks4.requests.length;
    for (const host of ['localhost', '127.0.0.1']) {
      const body = pattern(50000, 6);
      const s = await openChain([hop('socks4a', socks4, { user: 'bob' })], { host, port: echo.port }, { timeoutMs: 5000 });
      assert.equal(sha(await roundTrip(s, body)), sha(body));
    }
    assert.deepEqual(socks4.requests.slice(before), [
      { host: 'localhost', port: echo.port, is4a: true },
      { host: '127.0.0.1', port: echo.port, is4a: false },
    ]);
    assert.deepEqual(socks4.userIds.slice(before), ['bob', 'bob']);
  });

  test('SOCKS4a cannot reach an IPv6 literal: a clear HopError before any connection is made', async () => {
    const before = socks4.requests.length;
    const e = await hopError(openChain([hop('socks4a', socks4)], { host: '2001:db8::1', port: 443 }, { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase, e.code], [1, 'handshake', 'E_HOP_UNSUPPORTED']);
    assert.match(e.message, /SOCKS4a cannot carry the IPv6 address 2001:db8::1/);
    assert.equal(socks4.requests.length, before);
  });
});

describe('bytes that come with the last reply', { skip, timeout: 60_000 }, () => {
  /**
   * A proxy (a real socket server) that answers the request and the destination's first bytes
   * in one write, then ends: the case where the last reply and the stream share a segment.
   */
  async function eagerProxy(kind: 'http' | 'socks5'): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      let buf = Buffer.alloc(0);
      let stage = kind === 'socks5' ? 0 : 1;
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (stage === 0 && buf.length >= 3) {
          buf = buf.subarray(3);
          stage = 1;
          s.write(Buffer.from([5, 0]));
        }
        if (stage === 1 && kind === 'socks5' && buf.length >= 10) {
          stage = 2;
          s.end(Buffer.concat([Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]), Buffer.from('HELLO from the destination')]));
        }
        if (stage === 1 && kind === 'http' && buf.includes('\r\n\r\n')) {
          stage = 2;
          s.end('HTTP/1.1 200 Connection established\r\n\r\nHELLO from the destination');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as net.AddressInfo).port,
      close: () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    };
  }

  for (const kind of ['http', 'socks5'] as const) {
    test(`${kind}: bytes in the reply's segment reach a 'data' listener, then 'end'`, async () => {
      const p = await eagerProxy(kind);
      try {
        const s = await openChain([{ kind, host: '127.0.0.1', port: p.port }], target(), { timeoutMs: 5000 });
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('error', () => {});
        await within(once(s, 'end'), 5000, 'the end');
        s.destroy();
        assert.equal(Buffer.concat(chunks).toString(), 'HELLO from the destination');
      } finally {
        await p.close();
      }
    });
  }

  test('bytes in the reply\'s segment reach a pipe() too', async () => {
    const p = await eagerProxy('socks5');
    try {
      const s = await openChain([{ kind: 'socks5', host: '127.0.0.1', port: p.port }], target(), { timeoutMs: 5000 });
      const chunks: Buffer[] = [];
      const sink = new PassThrough();
      sink.on('data', (c: Buffer) => chunks.push(c));
      s.pipe(sink);
      await within(once(sink, 'end'), 5000, 'the end');
      s.destroy();
      assert.equal(Buffer.concat(chunks).toString(), 'HELLO from the destination');
    } finally {
      await p.close();
    }
  });

  test('the first bytes a destination sends right after the handshake are not lost, through every kind of hop', async () => {
    const greeting = Buffer.from('220 greeting from the destination\r\n');
    const speaker = await startEchoServer({ greeting });
    try {
      const hopsList: Hop[][] = [[hop('http', squid)], [hop('socks5', socks)], [hop('socks5', dante)], [hop('socks4a', socks4)], [hop('socks5', socks), hop('http', squid)]];
      for (const hops of hopsList) {
        const s = await openChain(hops, { host: '127.0.0.1', port: speaker.port }, { timeoutMs: 5000 });
        // listen only after a pause: the greeting is already waiting when the first listener comes
        await new Promise((r) => setTimeout(r, 50));
        const got = await roundTrip(s, Buffer.from('ping'), 5000, greeting.length + 4);
        assert.equal(got.toString(), `${greeting}ping`, hops.map((h) => h.kind).join('→'));
      }
    } finally {
      await speaker.close();
    }
  });
});

describe('chains of two', { skip, timeout: 60_000 }, () => {
  test('microsocks → Squid reaches the destination, 1 MiB intact both ways', async () => {
    const body = pattern(1 << 20, 7);
    const s = await openChain([hop('socks5', socksAuth, { user: USER, password: PASSWORD }), hop('http', squidAuth, { user: USER, password: PASSWORD })], target(), { timeoutMs: 5000 });
    assert.equal(sha(await roundTrip(s, body)), sha(body));
  });

  test('Squid → microsocks reaches the destination, 1 MiB intact both ways', async () => {
    const body = pattern(1 << 20, 8);
    const s = await openChain([hop('http', squid), hop('socks5', socksAuth, { user: USER, password: PASSWORD })], target(), { timeoutMs: 5000 });
    assert.equal(sha(await roundTrip(s, body)), sha(body));
  });

  test('half-close goes through Dante → SOCKS4a: after our FIN the echo of every byte still arrives, then the end', async () => {
    const body = pattern(400000, 9);
    const s = await openChain([hop('socks5', dante), hop('socks4a', socks4)], target(), { timeoutMs: 5000 });
    const { back, ended } = await halfCloseTrip(s, body);
    assert.equal(ended, true, 'the other side ended');
    assert.equal(sha(back), sha(body));
  });

  test('the destination ending first ends our read side while we can still send (Dante → SOCKS4a)', async () => {
    // a destination that says its piece and ends, then counts what still comes
    const server = net.createServer({ allowHalfOpen: true });
    const gotAll = new Promise<number>((resolve) => {
      server.once('connection', (c: net.Socket) => {
        let received = 0;
        c.on('error', () => {});
        c.end('bye');
        c.on('data', (d: Buffer) => (received += d.length));
        c.on('end', () => resolve(received));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const s = await openChain([hop('socks5', dante), hop('socks4a', socks4)], { host: '127.0.0.1', port }, { timeoutMs: 5000 });
      try {
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        await within(once(s, 'end'), 5000, 'the end');
        assert.equal(Buffer.concat(chunks).toString(), 'bye');
        s.end(pattern(100000));
        assert.equal(await within(gotAll, 5000, 'the destination reading our bytes'), 100000);
      } finally {
        s.destroy();
      }
    } finally {
      server.close();
    }
  });

  test('hop 2 down (its port closed) is HopError hop 2 phase connect ECONNREFUSED, through SOCKS5 and HTTP', async () => {
    const port = await closedPort();
    for (const first of [hop('socks5', socks), hop('http', squid), hop('socks5', dante)]) {
      const e = await hopError(openChain([first, { kind: 'socks5', host: '127.0.0.1', port }], target(), { timeoutMs: 5000 }));
      assert.deepEqual([e.hop, e.phase, e.code, e.hopUrl], [2, 'connect', 'ECONNREFUSED', `socks5://127.0.0.1:${port}`], e.message);
      assert.match(e.message, new RegExp(`^hop 2 \\(socks5://127\\.0\\.0\\.1:${port}\\): could not be reached: ECONNREFUSED \\(hop 1 ${first.kind}://127\\.0\\.0\\.1:\\d+ reported `));
    }
  });

  test('hop 1 down is HopError hop 1 phase connect with the errno', async () => {
    const port = await closedPort();
    const e = await hopError(openChain([{ kind: 'http', host: '127.0.0.1', port }, hop('socks5', socks)], target(), { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase, e.code], [1, 'connect', 'ECONNREFUSED']);
    assert.equal(e.message, `hop 1 (http://127.0.0.1:${port}): could not connect: ECONNREFUSED`);
  });

  test('a wrong password at hop 2 is HopError hop 2 phase auth', async () => {
    const e = await hopError(openChain([hop('http', squid), hop('socks5', socksAuth, { user: USER, password: 'nope-nope' })], target(), { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase, e.code], [2, 'auth', 'E_HOP_AUTH']);
  });

  test('the last hop unable to reach the destination is that hop, phase refused, with the errno', async () => {
    const port = await closedPort();
    const e = await hopError(openChain([hop('http', squid), hop('socks5', socks)], { host: '127.0.0.1', port }, { timeoutMs: 5000 }));
    assert.deepEqual([e.hop, e.phase, e.code], [2, 'refused', 'ECONNREFUSED']);
    assert.match(e.message, /SOCKS5 reply 0x05 \(connection refused\)/);
  });
});

describe('deadlines and aborts', { skip, timeout: 60_000 }, () => {
  test('a first hop that never answers is HopError hop 1 phase timeout, within the deadline', async () => {
    const silent = await startSilentServer();
    try {
      const t0 = Date.now();
      const e = await hopError(openChain([{ kind: 'socks5', host: '127.0.0.1', port: silent.port }], target(), { timeoutMs: 300 }));
      const took = Date.now() - t0;
      assert.deepEqual([e.hop, e.phase, e.code], [1, 'timeout', 'ETIMEDOUT']);
      assert.match(e.message, /no answer within the chain's 300 ms while waiting for its greeting reply/);
      assert.ok(took >= 290 && took < 3000, `took ${took} ms`);
    } finally {
      await silent.close();
    }
  });

  test('a second hop that never answers is HopError hop 2 phase timeout', async () => {
    const silent = await startSilentServer();
    try {
      const e = await hopError(openChain([hop('socks5', socks), { kind: 'http', host: '127.0.0.1', port: silent.port }], target(), { timeoutMs: 400 }));
      assert.deepEqual([e.hop, e.phase], [2, 'timeout']);
      assert.match(e.message, new RegExp(`waiting for its reply to our request to connect to 127\\.0\\.0\\.1:${echo.port}`));
    } finally {
      await silent.close();
    }
  });

  test('an abort signal ends the attempt with its reason and closes the connection', async () => {
    const silent = await startSilentServer();
    try {
      const ac = new AbortController();
      const p = openChain([{ kind: 'socks5', host: '127.0.0.1', port: silent.port }], target(), { timeoutMs: 5000, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(p, (err: Error) => err.name === 'AbortError');
      const pre = new AbortController();
      pre.abort();
      await assert.rejects(openChain([hop('socks5', socks)], target(), { timeoutMs: 5000, signal: pre.signal }), (err: Error) => err.name === 'AbortError');
    } finally {
      await silent.close();
    }
  });
});

describe('checkChain', { skip, timeout: 60_000 }, () => {
  test('reports each hop of a healthy chain with its latency, and the probe', async () => {
    const r = await checkChain([hop('socks5', socksAuth, { user: USER, password: PASSWORD }), hop('http', squid)], { timeoutMs: 5000, probe: target() });
    messages.push(JSON.stringify(r));
    assert.deepEqual(
      r.map((x) => [x.hop, x.url, x.ok, x.error]),
      [
        [1, `socks5://${USER}@127.0.0.1:${socksAuth.port}`, true, null],
        [2, `http://127.0.0.1:${squid.port}`, true, null],
        [3, `tcp://127.0.0.1:${echo.port}`, true, null],
      ],
    );
    for (const x of r) assert.ok(Number.isFinite(x.ms) && x.ms >= 0, JSON.stringify(x));
  });

  test('a down hop is reported with its error, and the checks after it are not run', async () => {
    const port = await closedPort();
    const r = await checkChain([hop('socks5', socks), { kind: 'socks5', host: '127.0.0.1', port }, hop('http', squid)], { timeoutMs: 5000, probe: target() });
    messages.push(JSON.stringify(r));
    assert.deepEqual(r.map((x) => [x.hop, x.ok]), [[1, true], [2, false], [3, false], [4, false]]);
    assert.match(r[1]!.error!, /^hop 2 \(socks5:\/\/127\.0\.0\.1:\d+\): could not be reached: ECONNREFUSED/);
    assert.equal(r[2]!.error, 'not checked: hop 2 failed');
    assert.equal(r[3]!.error, 'not checked: hop 2 failed');
  });

  test('a wrong password shows at the hop that refused it, without the password', async () => {
    const r = await checkChain([hop('http', squidAuth, { user: USER, password: 'bad-' + PASSWORD.slice(0, 5) }), hop('socks5', socks)], { timeoutMs: 5000, probe: target() });
    messages.push(JSON.stringify(r));
    // HTTP has no sign-in before a request: the first check (TCP) passes, the second finds the 407
    assert.deepEqual(r.map((x) => [x.hop, x.ok]), [[1, false], [2, false], [3, false]]);
    assert.match(r[0]!.error!, /^hop 1 \(http:\/\/alice@127\.0\.0\.1:\d+\): the proxy refused: 407/);
    assert.ok(!JSON.stringify(r).includes('bad-Tr0ub'));
  });

  test('a destination the chain cannot reach is the probe\'s error, the hops stay ok', async () => {
    const port = await closedPort();
    const r = await checkChain([hop('socks5', socks)], { timeoutMs: 5000, probe: { host: '127.0.0.1', port } });
    assert.deepEqual(r.map((x) => [x.hop, x.ok]), [[1, true], [2, false]]);
    assert.match(r[1]!.error!, /connection refused/);
  });
});

describe("Gatehouse's own SOCKS service as an upstream", { skip, timeout: 60_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ 'socks.login': 'optional' });
    const r = await gw.rt.control.call('users.add', { name: 'carol', password: PASSWORD });
    assert.ok(r.ok, JSON.stringify(r));
  });
  after(async () => {
    await gw?.close();
  });

  test('SOCKS4a by name, and SOCKS5 with a sign-in, relay half-close', async () => {
    for (const h of [{ kind: 'socks4a' as const, host: '127.0.0.1', port: gw.socksPort }, { kind: 'socks5' as const, host: '127.0.0.1', port: gw.socksPort, user: 'carol', password: PASSWORD }]) {
      const body = pattern(200000, 10);
      const s = await openChain([h], { host: 'localhost', port: echo.port }, { timeoutMs: 5000 });
      const { back, ended } = await halfCloseTrip(s, body);
      assert.equal(ended, true, h.kind);
      assert.equal(sha(back), sha(body), h.kind);
    }
  });
});
