/**
 * The SOCKS service end to end on loopback: curl for SOCKS4/4a/5/5h with and
 * without logins, the `socks` client package for BIND and UDP ASSOCIATE
 * against loopback echo servers, and raw bytes for the refusals.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { SocksClient } from 'socks';
import { startHttpOrigin, closedPort, type Origin } from '../../helpers/origin.js';
import { curl, startGateway, type TestGateway } from '../../helpers/gateway.js';
import type { LogRow } from '../../../main/contract/index.js';

let origin: Origin;
let gw: TestGateway;
let S: string;

before(async () => {
  origin = await startHttpOrigin();
  gw = await startGateway({ 'socks.login': 'optional', 'auth.maxFailures': 50 });
  S = `127.0.0.1:${gw.socksPort}`;
  const r = await gw.rt.control.call('users.add', { name: 'alice', password: 'correct horse' });
  assert.ok(r.ok, JSON.stringify(r));
});

after(async () => {
  await gw.close();
  await origin.close();
});

function sendRaw(bytes: Buffer, opts: { localAddress?: string; port?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: opts.port ?? gw.socksPort, host: '127.0.0.1', localAddress: opts.localAddress });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      s.destroy();
      resolve(Buffer.concat(chunks));
    }, 3000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
    s.on('error', reject);
  });
}

describe('curl through every SOCKS flavour', () => {
  for (const [flag, host] of [
    ['--socks4', '127.0.0.1'],
    ['--socks4a', 'localhost'],
    ['--socks5', '127.0.0.1'],
    ['--socks5-hostname', 'localhost'],
  ] as const) {
    test(`${flag} reaches the origin and is logged as one row`, async () => {
      const path = `/via${flag.replace(/-/g, '')}`;
      const r = await curl([flag, S, `http://${host}:${origin.port}${path}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).path, path);
      const row = await gw.waitForRow((x) => x.service.startsWith('socks') && x.host === host && x.bytesDown > 100 && x.durationMs >= 0 && x.method === 'CONNECT' && !seen.has(x.id));
      seen.add(row.id);
      assert.equal(row.service, flag.startsWith('--socks4') ? 'socks4' : 'socks5');
      assert.equal(row.port, origin.port);
      assert.equal(row.allowed, true);
      assert.equal(row.status, flag.startsWith('--socks4') ? 0x5a : 0);
      assert.ok(row.bytesUp > 50);
    });
  }

  test('--socks5 with --proxy-user and the right password signs in and logs the user', async () => {
    const r = await curl(['--socks5', S, '--proxy-user', 'alice:correct horse', `${origin.url}/signed-in`]);
    assert.equal(r.code, 0, r.stderr);
    const row = await gw.waitForRow((x) => x.user === 'alice' && x.service === 'socks5' && x.allowed);
    assert.equal(row.status, 0);
  });

  test('--socks5 with a wrong password is refused and the failure is logged', async () => {
    const r = await curl(['--socks5', S, '--proxy-user', 'alice:wrong', `${origin.url}/bad-pw`]);
    assert.notEqual(r.code, 0);
    const row = await gw.waitForRow((x) => x.user === 'alice' && !x.allowed);
    assert.match(row.error, /wrong password/);
    assert.equal(row.rule, 'login');
  });

  test('reaches an IPv6 target ([::1]) with --socks5 and --socks5-hostname', async (t) => {
    const v6 = net.createServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nv6 okay'));
    const ok = await new Promise<boolean>((res) => {
      v6.once('error', () => res(false));
      v6.listen(0, '::1', () => res(true));
    });
    if (!ok) return t.skip('no IPv6 loopback here');
    const port = (v6.address() as net.AddressInfo).port;
    try {
      for (const flag of ['--socks5', '--socks5-hostname']) {
        const r = await curl([flag, S, `http://[::1]:${port}/`]);
        assert.equal(r.stdout, 'v6 okay', `${flag}: ${r.stderr}`);
      }
    } finally {
      v6.close();
    }
  });
});
const seen = new Set<number>();

/** UDP ASSOCIATE through the `socks` client (its createConnection takes only connect). */
function associate(destination: { host: string; port: number }) {
  return new Promise<{ socket: net.Socket; remoteHost?: { host: string; port: number } }>((resolve, reject) => {
    const c = new SocksClient({ proxy: { host: '127.0.0.1', port: gw.socksPort, type: 5 }, command: 'associate', destination, timeout: 5000 });
    c.once('established', resolve);
    c.once('error', reject);
    c.connect();
  });
}

describe('logins required', () => {
  test('with socks.login=required: no credentials → no acceptable method (0xFF); SOCKS4 → 0x5B; good credentials pass', async () => {
    const g = await startGateway({ 'socks.login': 'required' });
    try {
      await g.rt.control.call('users.add', { name: 'bob', password: 's3cret' });
      const none = await sendRaw(Buffer.from([5, 1, 0]), { port: g.socksPort });
      assert.deepEqual([...none], [5, 0xff]);
      const v4 = await sendRaw(Buffer.from([4, 1, 0, 80, 127, 0, 0, 1, 0]), { port: g.socksPort });
      assert.equal(v4[1], 0x5b);
      const good = await curl(['--socks5', `127.0.0.1:${g.socksPort}`, '--proxy-user', 'bob:s3cret', `${origin.url}/required`]);
      assert.equal(good.code, 0, good.stderr);
      const noUser = await curl(['--socks5', `127.0.0.1:${g.socksPort}`, `${origin.url}/required`]);
      assert.notEqual(noUser.code, 0);
      const row = await g.waitForRow((x) => x.service === 'socks4');
      assert.match(row.error, /SOCKS4 cannot carry a password/);
    } finally {
      await g.close();
    }
  });

  test('slows repeated failures down (RFC 1929 failure after the delay), yet the right password gets in within the cap; another address is not affected (issue 12.6)', async () => {
    const g = await startGateway({ 'socks.login': 'required', 'auth.maxFailures': 2, 'auth.maxDelaySeconds': 1 });
    try {
      await g.rt.control.call('users.add', { name: 'carol', password: 'pw' });
      const P = `127.0.0.1:${g.socksPort}`;
      for (let i = 0; i < 3; i++) await curl(['--socks5', P, '--interface', '127.0.0.5', '--proxy-user', 'carol:nope', `${origin.url}/x`]);
      // ten guesses at once: at most one is checked per delay window, the rest are answered as throttled
      await Promise.all(Array.from({ length: 10 }, () => curl(['--socks5', P, '--interface', '127.0.0.5', '--proxy-user', 'carol:nope', `${origin.url}/x`])));
      const row = await g.waitForRow((x) => x.rule === 'throttle');
      assert.equal(row.clientAddr, '127.0.0.5');
      assert.match(row.error, /slowed down/);
      const good = await curl(['--socks5', P, '--interface', '127.0.0.5', '--proxy-user', 'carol:pw', `${origin.url}/in-after-delay`]);
      assert.equal(good.code, 0, `the right password is accepted once its turn comes: ${good.stderr}`);
      const other = await curl(['--socks5', P, '--interface', '127.0.0.6', '--proxy-user', 'carol:pw', `${origin.url}/other`]);
      assert.equal(other.code, 0, other.stderr);
    } finally {
      await g.close();
    }
  });
});

describe('refusals and reply codes', () => {
  test('a source outside the allowed ranges is closed before any method offer (no sign-in), with a log row saying why', async () => {
    const g = await startGateway({ 'access.allowedSources': ['127.0.0.1/32'], 'socks.login': 'required' });
    try {
      const r = await curl(['--socks5', `127.0.0.1:${g.socksPort}`, '--proxy-user', 'a:b', '--interface', '127.0.0.2', `${origin.url}/outside`]);
      assert.equal(r.code, 97);
      assert.match(r.stderr, /closed|reset/);
      const row = await g.waitForRow((x) => x.clientAddr === '127.0.0.2');
      assert.equal(row.rule, 'allowed-sources');
      assert.equal(row.allowed, false);
      assert.equal(row.user, '', 'no sign-in was read');
    } finally {
      await g.close();
    }
  });

  test('a refused target gets 0x05, an unresolvable name 0x04', async () => {
    const port = await closedPort();
    const refused = await curl(['--socks5', S, `http://127.0.0.1:${port}/`]);
    assert.match(refused.stderr, /\(5\)/);
    const dns = await curl(['--socks5-hostname', S, 'http://no-such-host.invalid/']);
    assert.match(dns.stderr, /\(4\)/);
  });

  test('an unsupported command gets 0x07 and an unsupported address type 0x08', async () => {
    const cmd = await sendRaw(Buffer.from([5, 1, 0, 5, 9, 0, 1, 127, 0, 0, 1, 0, 80]));
    assert.deepEqual([...cmd.subarray(0, 4)], [5, 0, 5, 7]);
    const atyp = await sendRaw(Buffer.from([5, 1, 0, 5, 1, 0, 9, 127, 0, 0, 1, 0, 80]));
    assert.deepEqual([...atyp.subarray(0, 4)], [5, 0, 5, 8]);
  });

  test('a truncated greeting is closed at the handshake deadline and logged', async () => {
    const g = await startGateway({ 'socks.handshakeTimeout': 0.3 });
    try {
      const out = await sendRaw(Buffer.from([5, 2, 0]), { port: g.socksPort });
      assert.equal(out.length, 0);
      const row = await g.waitForRow((x) => x.service === 'socks5');
      assert.match(row.error, /handshake did not finish/);
    } finally {
      await g.close();
    }
  });

  test('a first byte that is not SOCKS closes the connection', async () => {
    const out = await sendRaw(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    assert.equal(out.length, 0);
  });
});

describe('BIND', () => {
  for (const type of [4, 5] as const) {
    test(`SOCKS${type} BIND: first reply gives the listening address, second the peer; bytes flow both ways`, async () => {
      const client = new SocksClient({
        proxy: { host: '127.0.0.1', port: gw.socksPort, type },
        command: 'bind',
        destination: { host: '0.0.0.0', port: 0 },
        timeout: 5000,
      });
      const bound = new Promise<{ remoteHost?: { host: string; port: number } }>((res, rej) => {
        client.once('bound', res);
        client.once('error', rej);
      });
      const established = new Promise<{ socket: net.Socket; remoteHost?: { host: string; port: number } }>((res, rej) => {
        client.once('established', res);
        client.once('error', rej);
      });
      client.connect();
      const b = await bound;
      assert.equal(b.remoteHost!.host, '127.0.0.1');
      assert.ok(b.remoteHost!.port > 0);
      const peer = net.connect(b.remoteHost!.port, '127.0.0.1');
      await new Promise((r) => peer.once('connect', r));
      const e = await established;
      assert.equal(e.remoteHost!.port, peer.localPort);
      const fromPeer = new Promise<string>((r) => e.socket.once('data', (d) => r(d.toString())));
      peer.write('hello from peer');
      assert.equal(await fromPeer, 'hello from peer');
      const fromClient = new Promise<string>((r) => peer.once('data', (d) => r(d.toString())));
      e.socket.write('hello from client');
      assert.equal(await fromClient, 'hello from client');
      e.socket.end();
      peer.end();
      const row = await gw.waitForRow((x) => x.method === 'BIND' && x.service === `socks${type}`);
      assert.ok(row.bytesDown >= 'hello from peer'.length);
    });
  }

  test('BIND with no peer times out with 0x06', async () => {
    const g = await startGateway({ 'socks.bindTimeout': 0.3 });
    try {
      const out = await sendRaw(Buffer.from([5, 1, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0]), { port: g.socksPort });
      // method reply, first BIND reply (10 bytes), then the failure reply
      assert.equal(out[3], 0);
      assert.equal(out[12 + 1], 6);
    } finally {
      await g.close();
    }
  });
});

describe('UDP ASSOCIATE', () => {
  test('relays datagrams to a UDP echo server, drops a foreign source, and logs per destination', async () => {
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    echo.on('message', (m, rinfo) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), rinfo.port, rinfo.address));
    const echoPort = echo.address().port;
    const other = dgram.createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', r));
    const otherGot: Buffer[] = [];
    other.on('message', (m) => otherGot.push(m));

    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const info = await associate({ host: '127.0.0.1', port: client.address().port });
    const relay = info.remoteHost!;
    assert.ok(relay.port > 0);
    const got: string[] = [];
    client.on('message', (m) => {
      const f = SocksClient.parseUDPFrame(m);
      got.push(`${f.remoteHost.host}:${f.remoteHost.port} ${f.data.toString()}`);
    });
    for (let i = 0; i < 3; i++) {
      client.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echoPort }, data: Buffer.from(`ping${i}`) }), relay.port, relay.host);
    }
    // a fragment must be dropped
    const frag = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echoPort }, data: Buffer.from('fragment') });
    frag[2] = 1;
    client.send(frag, relay.port, relay.host);
    // a foreign source must be dropped: it is neither the client nor a destination the client used
    other.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echoPort }, data: Buffer.from('intruder') }), relay.port, relay.host);
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got.sort(), [0, 1, 2].map((i) => `127.0.0.1:${echoPort} echo:ping${i}`));
    assert.equal(otherGot.length, 0);
    info.socket.end();
    const row = await gw.waitForRow((x: LogRow) => x.method === 'UDP' && x.port === echoPort);
    assert.equal(row.packetsUp, 3);
    assert.equal(row.packetsDown, 3);
    assert.equal(row.bytesUp, 15);
    assert.equal(row.bytesDown, 30);
    assert.equal(row.url, `udp://127.0.0.1:${echoPort}`);
    echo.close();
    other.close();
    client.close();
  });

  test('resolves a domain target and wraps the reply with the source address', async () => {
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    echo.on('message', (m, rinfo) => echo.send(m, rinfo.port, rinfo.address));
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const info = await associate({ host: '0.0.0.0', port: 0 });
    const reply = new Promise<{ host: string; data: string }>((res) =>
      client.once('message', (m) => {
        const f = SocksClient.parseUDPFrame(m);
        res({ host: f.remoteHost.host, data: f.data.toString() });
      }),
    );
    client.send(SocksClient.createUDPFrame({ remoteHost: { host: 'localhost', port: echo.address().port }, data: Buffer.from('by-name') }), info.remoteHost!.port, info.remoteHost!.host);
    const r = await reply;
    assert.equal(r.data, 'by-name');
    assert.equal(r.host, '127.0.0.1');
    info.socket.destroy();
    echo.close();
    client.close();
  });
});

describe('CONNECT half-close', () => {
  /** A SOCKS5 CONNECT by hand on a socket that allows half-open, so either side can end first. */
  async function connect5(port: number): Promise<{ s: net.Socket; rest: string }> {
    const s = net.connect({ port: gw.socksPort, host: '127.0.0.1', allowHalfOpen: true });
    let got = Buffer.alloc(0);
    const need = (n: number) =>
      new Promise<Buffer>((resolve, reject) => {
        const check = () => {
          if (got.length < n) return;
          // paused: bytes after the reply wait for the test's own reader
          s.pause();
          s.removeListener('data', onData);
          const out = got.subarray(0, n);
          got = got.subarray(n);
          resolve(out);
        };
        const onData = (d: Buffer) => {
          got = Buffer.concat([got, d]);
          check();
        };
        s.on('data', onData);
        s.resume();
        s.once('error', reject);
        check();
      });
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([5, 1, 0]));
    assert.deepEqual([...(await need(2))], [5, 0]);
    s.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255]));
    assert.equal((await need(10))[1], 0);
    return { s, rest: got.toString() };
  }

  /** Everything a socket reads until its peer's FIN (after `first`, read before). */
  const readToEnd = (s: net.Socket, first = '') =>
    new Promise<string>((resolve) => {
      let text = first;
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.once('end', () => resolve(text));
      s.resume();
    });

  test("the client's FIN reaches the origin, which still answers; then the origin's FIN reaches the client", async () => {
    const server = net.createServer({ allowHalfOpen: true }, (c) => {
      void readToEnd(c).then((got) => c.end(`after your end I got: ${got}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { s, rest } = await connect5((server.address() as net.AddressInfo).port);
      const answer = readToEnd(s, rest);
      s.end('question');
      assert.equal(await answer, 'after your end I got: question');
      const row = await gw.waitForRow((x) => x.service === 'socks5' && x.port === (server.address() as net.AddressInfo).port);
      assert.equal(row.bytesDown, 10 + 2 + 'after your end I got: question'.length);
      assert.equal(row.bytesUp, 3 + 10 + 'question'.length);
    } finally {
      server.close();
    }
  });

  test("the origin's FIN reaches the client, which still sends; then the client's FIN reaches the origin", async () => {
    let upload: Promise<string> = Promise.resolve('');
    const server = net.createServer({ allowHalfOpen: true }, (c) => {
      upload = readToEnd(c);
      c.end('bye');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { s, rest } = await connect5((server.address() as net.AddressInfo).port);
      const closed = new Promise((r) => s.once('close', r));
      assert.equal(await readToEnd(s, rest), 'bye');
      s.end('still here');
      assert.equal(await upload, 'still here');
      await closed;
    } finally {
      server.close();
    }
  });
});
