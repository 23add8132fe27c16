/**
 * Routes through upstream chains, end to end: a real gateway whose traffic
 * goes through Debian's squid (HTTP CONNECT, with and without Basic sign-in)
 * and microsocks (SOCKS5, with and without RFC 1929 sign-in), one hop or two,
 * for plain HTTP, CONNECT, SOCKS CONNECT and UDP (through Dante) and a port
 * mapping; failover when a
 * hop is stopped; the rule tester's route; the log row's chain.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SocksClient } from 'socks';
import { EMPTY_ROUTE, type DecisionWithRoute, type HopInput } from '../../main/contract/index.js';
import { curl, startGateway, type TestGateway } from '../helpers/gateway.js';
import { DANTED, MICROSOCKS, SQUID, freePort, have, startDante, startEchoServer, startMicrosocks, startSquid, type EchoServer, type Upstream } from '../helpers/upstreams.js';

const missing = [SQUID, MICROSOCKS].filter((p) => !have(p));
const skip = missing.length ? `not installed: ${missing.join(', ')} (apt-get install squid microsocks)` : false;
const USER = 'alice';
const PASS = 'S3cret-never-logged';

async function call<T>(g: TestGateway, method: string, input: unknown): Promise<T> {
  const r = await g.rt.control.call(method as never, input as never);
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
  return r.value as T;
}

const hop = (kind: HopInput['kind'], u: Upstream, auth = false): HopInput => ({ kind, host: u.host, port: u.port, ...(auth ? { user: USER, password: PASS } : {}) });

/** Writes `text` and waits for the same bytes back (no half-close: microsocks and squid end the tunnel at the first FIN). */
function echoOver(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no echo in 5 s (got "${got}")`)), 5000);
    s.on('data', (c) => {
      got += c.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(text);
  });
}

describe('routes through upstream chains', { skip }, () => {
  let echo: EchoServer;
  let origin: http.Server;
  let originPort: number;
  let squid: Upstream;
  let squidAuth: Upstream;
  let socks: Upstream;
  let socksAuth: Upstream;
  let g: TestGateway;

  before(async () => {
    echo = await startEchoServer();
    origin = http.createServer((req, res) => res.end(`origin saw ${req.method} ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originPort = (origin.address() as AddressInfo).port;
    [squid, squidAuth, socks, socksAuth] = await Promise.all([startSquid(), startSquid({ auth: { user: USER, pass: PASS } }), startMicrosocks(), startMicrosocks({ user: USER, pass: PASS })]);
    g = await startGateway({ 'http.connectPorts': '1-65535' });
  });

  after(async () => {
    await g?.close();
    await Promise.all([squid, squidAuth, socks, socksAuth].map((u) => u?.close()));
    await echo?.close();
    origin?.close();
  });

  /** Replaces every route with one that sends everything through `chain`. */
  async function routeAll(chain: string, fallback = 'fail'): Promise<void> {
    const { routes } = await call<{ routes: Array<{ id: number }> }>(g, 'routes.list', {});
    for (const r of routes) await call(g, 'routes.remove', { id: r.id });
    await call(g, 'routes.add', { route: { ...EMPTY_ROUTE, chain, fallback } });
  }

  test('plain HTTP and CONNECT through squid with Basic sign-in; the log row names the chain and no password', async () => {
    await call(g, 'chains.add', { chain: { name: 'corp', hops: [hop('http', squidAuth, true)] } });
    await routeAll('corp');
    const plain = await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/page`]);
    assert.equal(plain.stdout, 'origin saw GET /page', plain.stderr);
    const row = await g.waitForRow((r) => r.url.endsWith('/page'));
    assert.equal(row.chain, 'corp');
    assert.equal(row.status, 200);

    const s = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: g.socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } });
    assert.equal(await echoOver(s.socket, 'through squid'), 'through squid');
    const listed = JSON.stringify(await call(g, 'chains.list', {}));
    assert.ok(!listed.includes(PASS), 'the password never leaves the store');
    const rows = JSON.stringify(await call(g, 'log.recent', { limit: 100 }));
    assert.ok(!rows.includes(PASS));
  });

  test("plain HTTP goes to an HTTP last hop as a proxied request (absolute form, our Basic sign-in), so a proxy that tunnels only to 443 still carries it", async () => {
    const strict = await startSquid({ auth: { user: USER, pass: PASS }, connectOnly443: true });
    try {
      await call(g, 'chains.add', { chain: { name: 'strict', hops: [hop('http', strict, true)] } });
      await call(g, 'chains.add', { chain: { name: 'strict2', hops: [hop('socks5', socks), hop('http', strict, true)] } });
      for (const chain of ['strict', 'strict2']) {
        await routeAll(chain);
        const r = await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/abs-${chain}`]);
        assert.equal(r.stdout, `origin saw GET /abs-${chain}`, r.stderr);
        const row = await g.waitForRow((x) => x.url.endsWith(`/abs-${chain}`));
        assert.equal(row.chain, chain);
        assert.equal(row.status, 200);
      }
      // a tunnel to another port is the upstream's to refuse: 502, naming the hop, and no failover
      const s = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: g.socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } }).catch((e: Error) => e);
      assert.ok(s instanceof Error, 'squid refused the tunnel');
      const row = await g.waitForRow((x) => x.service.startsWith('socks') && x.chain === 'strict2' && x.error !== '');
      assert.match(row.error, /hop 2 \(http:\/\/alice@127\.0\.0\.1:\d+\)/);
    } finally {
      await strict.close();
    }
  });

  test('a wrong password at the hop fails the request with the hop named, and fails over to direct when the route says so', async () => {
    await call(g, 'chains.add', { chain: { name: 'badpass', hops: [{ ...hop('socks5', socksAuth, true), password: 'wrong' }] } });
    await routeAll('badpass');
    const r = await curl(['-x', g.proxy, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${originPort}/denied`]);
    assert.equal(r.stdout, '502');
    const row = await g.waitForRow((x) => x.url.endsWith('/denied'));
    assert.match(row.error, /hop 1 \(socks5:\/\/alice@127\.0\.0\.1:\d+\)/);
    assert.ok(!row.error.includes('wrong'));
    await routeAll('badpass', 'direct');
    const ok = await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/fallback`]);
    assert.equal(ok.stdout, 'origin saw GET /fallback');
    const fb = await g.waitForRow((x) => x.url.endsWith('/fallback'));
    assert.equal(fb.chain, 'badpass → direct');
  });

  test('SOCKS5 hops with and without sign-in, and a chain of two (squid, then microsocks)', async () => {
    await call(g, 'chains.add', { chain: { name: 'sx', hops: [hop('socks5', socks)] } });
    await call(g, 'chains.add', { chain: { name: 'sxauth', hops: [hop('socks5', socksAuth, true)] } });
    await call(g, 'chains.add', { chain: { name: 'two', hops: [hop('http', squid), hop('socks5', socksAuth, true)] } });
    for (const chain of ['sx', 'sxauth', 'two']) {
      await routeAll(chain);
      const viaHttp = await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/${chain}`]);
      assert.equal(viaHttp.stdout, `origin saw GET /${chain}`, `${chain}: ${viaHttp.stderr}`);
      const s = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: g.socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echo.port } });
      assert.equal(await echoOver(s.socket, `via ${chain}`), `via ${chain}`);
      const row = await g.waitForRow((x) => x.url.endsWith(`/${chain}`));
      assert.equal(row.chain, chain);
    }
    const test2 = await call<{ hops: Array<{ ok: boolean; ms: number; url: string }> }>(g, 'chains.test', { name: 'two', probe: `127.0.0.1:${echo.port}` });
    assert.deepEqual(test2.hops.map((h) => h.ok), [true, true, true]);
    assert.ok(test2.hops.every((h) => !h.url.includes(PASS)));
  });

  test('a port mapping goes through the route that names it; other traffic stays direct', async () => {
    const { routes } = await call<{ routes: Array<{ id: number }> }>(g, 'routes.list', {});
    for (const r of routes) await call(g, 'routes.remove', { id: r.id });
    await call(g, 'routes.add', { route: { ...EMPTY_ROUTE, chain: 'sx', services: ['mapping:imap'] } });
    const port = await freePort();
    await call(g, 'mappings.add', { mapping: { name: 'imap', proto: 'tcp', port, to: `127.0.0.1:${echo.port}` } });
    const s = net.connect({ host: '127.0.0.1', port });
    assert.equal(await echoOver(s, 'mail via sx'), 'mail via sx');
    const row = await g.waitForRow((x) => x.service === 'mapping' && x.mapping === 'imap');
    assert.equal(row.chain, 'sx');
    const direct = await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/direct`]);
    assert.equal(direct.stdout, 'origin saw GET /direct');
    assert.equal((await g.waitForRow((x) => x.url.endsWith('/direct'))).chain, '');
    const d = await call<DecisionWithRoute>(g, 'rules.test', { service: 'http', clientAddr: '127.0.0.1', host: '127.0.0.1', port: 80 });
    assert.match(d.route!.text, /^direct/);
  });

  test('failover by stopping a hop: fail closed, or the fallback chain', async () => {
    const doomed = await startMicrosocks();
    await call(g, 'chains.add', { chain: { name: 'doomed', hops: [hop('socks5', doomed)] } });
    await routeAll('doomed', 'sx');
    assert.equal((await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/up`])).stdout, 'origin saw GET /up');
    assert.equal((await g.waitForRow((x) => x.url.endsWith('/up'))).chain, 'doomed');
    await doomed.close();
    assert.equal((await curl(['-x', g.proxy, `http://127.0.0.1:${originPort}/down`])).stdout, 'origin saw GET /down');
    assert.equal((await g.waitForRow((x) => x.url.endsWith('/down'))).chain, 'doomed → sx');
    await routeAll('doomed', 'fail');
    const r = await curl(['-x', g.proxy, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${originPort}/closed`]);
    assert.equal(r.stdout, '502');
    const row = await g.waitForRow((x) => x.url.endsWith('/closed'));
    assert.match(row.error, /hop 1 .*socks5:\/\/127\.0\.0\.1/);
    const d = await call<DecisionWithRoute>(g, 'rules.test', { service: 'socks', clientAddr: '127.0.0.1', host: '192.0.2.1', port: 443 });
    assert.equal(d.route?.chain, 'doomed');
    assert.match(d.route!.text, /the last hop runs on this PC, so names are looked up and decided on this PC/);
  });
});

describe('SOCKS UDP ASSOCIATE through an upstream SOCKS5 hop', { skip: have(DANTED) ? false : 'not installed: dante-server' }, () => {
  test('datagrams go by the hop (Dante) and replies come back to the client; the rows name the chain', async () => {
    const dante = await startDante();
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    echo.on('message', (m, rinfo) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), rinfo.port, rinfo.address));
    const echoPort = echo.address().port;
    const g = await startGateway();
    const client = dgram.createSocket('udp4');
    try {
      await call(g, 'chains.add', { chain: { name: 'dante', hops: [hop('socks5', dante)] } });
      await call(g, 'routes.add', { route: { ...EMPTY_ROUTE, chain: 'dante', services: ['socks'] } });
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const info = await new Promise<{ socket: net.Socket; remoteHost?: { host: string; port: number } }>((resolve, reject) => {
        const c = new SocksClient({ proxy: { host: '127.0.0.1', port: g.socksPort, type: 5 }, command: 'associate', destination: { host: '127.0.0.1', port: client.address().port }, timeout: 5000 });
        c.once('established', resolve);
        c.once('error', reject);
        c.connect();
      });
      const relay = info.remoteHost!;
      const got: string[] = [];
      client.on('message', (m) => {
        const f = SocksClient.parseUDPFrame(m);
        got.push(`${f.remoteHost.host}:${f.remoteHost.port} ${f.data.toString()}`);
      });
      for (let i = 0; i < 3; i++) client.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echoPort }, data: Buffer.from(`ping${i}`) }), relay.port, relay.host);
      for (let i = 0; i < 150 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got.sort(), [0, 1, 2].map((i) => `127.0.0.1:${echoPort} echo:ping${i}`));
      info.socket.end();
      const row = await g.waitForRow((x) => x.method === 'UDP' && x.port === echoPort);
      assert.equal(row.chain, 'dante');
      assert.equal(row.packetsDown, 3);
    } finally {
      client.close();
      echo.close();
      await g.close();
      await dante.close();
    }
  });
});
