/**
 * The one admission path, end to end on loopback sockets, for the holes it
 * closed (issue 12): the gateway's own ports through SOCKS, port 25 and the
 * safe ports for plain HTTP, destination ranges that a name resolves into,
 * an HTTP client that half-closes after its request, a SOCKS request cut
 * short by FIN, and UDP from an IPv4 client to an IPv6 destination. What a
 * LAN device and an outside client see is tested from network namespaces in
 * test/lan/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { SocksClient } from 'socks';
import { startHttpOrigin, type Origin } from '../helpers/origin.js';
import { curl, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { EMPTY_RULE, type Rule } from '../../main/contract/index.js';

let origin: Origin;
let gw: TestGateway;
let adminPort: number;

before(async () => {
  origin = await startHttpOrigin();
  gw = await startGateway({}, { admin: true });
  adminPort = Number(new URL(gw.rt.adminUrl!).port);
});
after(async () => {
  await gw.close();
  await origin.close();
});

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await gw.rt.control.call(method, input);
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.value as T;
}

/** A SOCKS5 CONNECT by hand; resolves with the REP byte, or -1 when the proxy closes without a reply. */
function socks5Rep(host: string, port: number, opts: { timeoutMs?: number } = {}): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ port: gw.socksPort, host: '127.0.0.1' });
    let got = Buffer.alloc(0);
    let stage = 0;
    const done = (v: number) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(-2), opts.timeoutMs ?? 5000);
    s.on('connect', () => s.write(Buffer.from([5, 1, 0])));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (stage === 0 && got.length >= 2) {
        stage = 1;
        got = got.subarray(2);
        const name = Buffer.from(host);
        const ip = net.isIPv4(host) ? Buffer.from(host.split('.').map(Number)) : null;
        const addr = ip ? Buffer.concat([Buffer.from([1]), ip]) : Buffer.concat([Buffer.from([3, name.length]), name]);
        s.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, Buffer.from([port >> 8, port & 255])]));
      }
      if (stage === 1 && got.length >= 2) done(got[1]!);
    });
    s.on('error', () => done(-1));
    s.on('close', () => done(-1));
  });
}

describe("the gateway's own ports are refused to everyone, through every service", () => {
  test('SOCKS5 CONNECT to its SOCKS port, HTTP proxy port and web admin port gets 0x02, rule own-port (issue 12.1)', async () => {
    for (const port of [gw.socksPort, gw.port, adminPort]) {
      assert.equal(await socks5Rep('127.0.0.1', port), 2, `port ${port}`);
      const row = await gw.waitForRow((r) => r.port === port && r.method === 'CONNECT' && r.service.startsWith('socks'));
      assert.equal(row.rule, 'own-port');
      assert.equal(row.allowed, false);
    }
  });

  test('so are the admin through the HTTP proxy, as GET and as CONNECT (even with the port opened for tunnels)', async () => {
    await call('settings.setText', { key: 'http.connectPorts', value: `443,${adminPort}` });
    try {
      const get = await rawExchange(gw.port, `GET http://127.0.0.1:${adminPort}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(get), 403);
      const tunnel = await rawExchange(gw.port, `CONNECT localhost:${adminPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(statusOf(tunnel), 403);
      assert.match(tunnel, /localhost resolves to/);
    } finally {
      await call('settings.setText', { key: 'http.connectPorts', value: '443,563,8443' });
    }
  });
});

describe('ports no service may reach', () => {
  test('port 25 is refused for plain HTTP and SOCKS with the rule blocked-ports (issue 12.3)', async () => {
    const get = await rawExchange(gw.port, 'GET http://127.0.0.1:25/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(get), 403);
    assert.match(get, /port 25 is blocked for every service/);
    assert.equal(await socks5Rep('127.0.0.1', 25), 2);
    const rows = [
      await gw.waitForRow((r) => r.port === 25 && r.method === 'GET'),
      await gw.waitForRow((r) => r.port === 25 && r.method === 'CONNECT' && r.service.startsWith('socks')),
    ];
    for (const r of rows) assert.equal(r.rule, 'blocked-ports');
  });

  test('a blocked port never gets a connection, and plain HTTP outside http.safePorts is refused with safe-ports', async () => {
    const before = origin.seen.length;
    await call('settings.setText', { key: 'access.blockedPorts', value: `25,${origin.port}` });
    try {
      const r = await curl(['-x', gw.proxy, '-s', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/blocked`]);
      assert.equal(r.stdout, '403');
      assert.equal(await socks5Rep('127.0.0.1', origin.port), 2);
    } finally {
      await call('settings.setText', { key: 'access.blockedPorts', value: '25' });
    }
    await call('settings.setText', { key: 'http.safePorts', value: '80,443' });
    try {
      const r = await curl(['-x', gw.proxy, '-s', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/unsafe`]);
      assert.equal(r.stdout, '403');
      const row = await gw.waitForRow((x) => x.url.endsWith('/unsafe'));
      assert.equal(row.rule, 'safe-ports');
      // SOCKS has no safe-ports list
      const s = await curl(['--socks5', `127.0.0.1:${gw.socksPort}`, `${origin.url}/socks-any-port`]);
      assert.equal(JSON.parse(s.stdout).path, '/socks-any-port');
    } finally {
      await call('settings.setText', { key: 'http.safePorts', value: '21,70,80,210,280,443,488,591,777,1025-65535' });
    }
    assert.equal(origin.seen.length - before, 1, 'only the SOCKS request reached the origin');
  });
});

describe('destination ranges hold for names that resolve into them (issue 12.5)', () => {
  let rule: Rule;
  before(async () => {
    rule = await call<Rule>('rules.add', { rule: { ...EMPTY_RULE, name: 'No loopback', action: 'deny', destinations: ['127.0.0.0/8', '::1/128'] }, position: 0 });
  });
  after(async () => {
    await call('rules.remove', { id: rule.id });
  });

  test('localhost is refused by a 127.0.0.0/8 rule through HTTP, CONNECT and SOCKS5 (by name), and the row names the address', async () => {
    const get = await curl(['-x', gw.proxy, '-s', '-w', '\n%{http_code}', `http://localhost:${origin.port}/by-name`]);
    assert.match(get.stdout, /403$/);
    assert.match(get.stdout, /localhost resolves to (127\.0\.0\.1|::1)/);
    const row = await gw.waitForRow((r) => r.url.endsWith('/by-name'));
    assert.equal(row.rule, 'No loopback');
    assert.equal(await socks5Rep('localhost', origin.port), 2);
    const srow = await gw.waitForRow((r) => r.host === 'localhost' && r.service.startsWith('socks'));
    assert.equal(srow.rule, 'No loopback');
  });

  test('a host-pattern rule refuses a name before any lookup (a name that cannot resolve gets 403, not a DNS error)', async () => {
    const deny = await call<Rule>('rules.add', { rule: { ...EMPTY_RULE, name: 'No invalid', action: 'deny', destinations: ['*.invalid'] }, position: 0 });
    try {
      const r = await curl(['-x', gw.proxy, '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://never.invalid/']);
      assert.equal(r.stdout, '403');
      const row = await gw.waitForRow((x) => x.host === 'never.invalid');
      assert.equal(row.rule, 'No invalid');
    } finally {
      await call('rules.remove', { id: deny.id });
    }
  });
});

describe('protocol edges', () => {
  test('an HTTP client that sends its request and then shuts down its sending side gets the answer (issue 12.7)', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ port: gw.port, host: '127.0.0.1', allowHalfOpen: true });
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no complete answer; got ${JSON.stringify(out)}`)), 5000);
      s.on('connect', () => {
        s.write(`GET ${origin.url}/half-closed HTTP/1.1\r\nHost: x\r\n\r\n`);
        s.end(); // shutdown(SHUT_WR)
      });
      s.on('data', (d) => (out += d.toString()));
      s.on('error', reject);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
    assert.equal(statusOf(answer), 200);
    assert.match(answer, /\/half-closed/);
  });

  test('a SOCKS5 request cut short and followed by FIN is closed at once, not at the handshake deadline (issue 12.8)', async () => {
    const start = Date.now();
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port: gw.socksPort, host: '127.0.0.1', allowHalfOpen: true });
      const timer = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 5000);
      s.on('connect', () => s.write(Buffer.from([5, 1, 0])));
      s.once('data', () => s.end(Buffer.from([5, 1, 0, 1, 127, 0])));
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      s.resume();
    });
    assert.ok(closed, 'the proxy closed the session');
    assert.ok(Date.now() - start < 5000);
    const row = await gw.waitForRow((r) => r.error === 'client closed with an incomplete request');
    assert.equal(row.service, 'socks5');
  });

  test('UDP ASSOCIATE from an IPv4 client reaches an IPv6 destination and the answer comes back (issue 12.9)', async (t) => {
    const echo = dgram.createSocket('udp6');
    try {
      await new Promise<void>((r, j) => {
        echo.once('error', j);
        echo.bind(0, '::1', r);
      });
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    echo.on('message', (m, rinfo) => echo.send(m, rinfo.port, rinfo.address));
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const info = await new Promise<{ socket: net.Socket; remoteHost?: { host: string; port: number } }>((resolve, reject) => {
      const c = new SocksClient({ proxy: { host: '127.0.0.1', port: gw.socksPort, type: 5 }, command: 'associate', destination: { host: '0.0.0.0', port: 0 }, timeout: 5000 });
      c.once('established', resolve);
      c.once('error', reject);
      c.connect();
    });
    try {
      const reply = new Promise<{ host: string; data: string } | null>((res) => {
        const timer = setTimeout(() => res(null), 3000);
        client.once('message', (m) => {
          clearTimeout(timer);
          const f = SocksClient.parseUDPFrame(m);
          res({ host: f.remoteHost.host, data: f.data.toString() });
        });
      });
      client.send(SocksClient.createUDPFrame({ remoteHost: { host: '::1', port: echo.address().port }, data: Buffer.from('over v6') }), info.remoteHost!.port, info.remoteHost!.host);
      const r = await reply;
      assert.ok(r, 'an answer came back');
      assert.equal(r.data, 'over v6');
      assert.equal(new URL(`http://[${r.host}]/`).hostname, '[::1]', 'the reply names its IPv6 source');
    } finally {
      info.socket.destroy();
      echo.close();
      client.close();
    }
  });
});
