/**
 * What a LAN device and an outside client see of Gatehouse, from real other machines:
 * network namespaces (test/helpers/netns.ts) joined to this PC by veth pairs. The gateway
 * runs in this process on every interface, beside two services this PC runs for itself
 * (one on loopback only, one on every interface). Clients are curl and a raw SOCKS5
 * client inside the namespaces, and loopback clients in this process for "this PC itself".
 * Needs root and `ip netns`; skips with the reason otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SocksClient } from 'socks';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/upstreams.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { canUseNetns, createLan, type Lan, type NsOrigin } from '../helpers/netns.js';
import { EMPTY_RULE, type LogRow, type Rule } from '../../main/contract/index.js';

const skip = canUseNetns();

/** A service this PC runs for itself: answers every request with `text`. */
async function startService(host: string, text: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end(text));
  await new Promise<void>((res) => server.listen(0, host, res));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

describe('a LAN made of network namespaces sees Gatehouse as a safe gateway', { skip: skip ?? false }, () => {
  let lan: Lan;
  let gw: TestGateway;
  let origin: NsOrigin;
  let loopbackOnly: Awaited<ReturnType<typeof startService>>;
  let everyInterface: Awaited<ReturnType<typeof startService>>;
  let adminPort: number;
  /** the gateway's LAN address, as a LAN device addresses it */
  let gwLan: string;
  let device: string;

  before(async () => {
    // the namespaces first, so the gateway knows its LAN address as its own from the start
    lan = await createLan();
    gwLan = lan.addr.lanGateway;
    device = lan.addr.lanDevice;
    origin = await lan.startOrigin([18080, 25, 444]);
    loopbackOnly = await startService('127.0.0.1', 'loopback-only service');
    everyInterface = await startService('0.0.0.0', 'every-interface service');
    gw = await startGateway({ listen: ['*'] }, { admin: true });
    assert.ok(gw.rt.adminUrl, 'the web admin runs');
    adminPort = Number(new URL(gw.rt.adminUrl).port);
    assert.ok(adminPort > 0, `admin port from ${gw.rt.adminUrl}`);
  });

  after(async () => {
    // each step on its own, so one failing still lets the others clean up
    for (const step of [() => gw?.close(), () => loopbackOnly?.close(), () => everyInterface?.close(), () => lan?.destroy()]) {
      try {
        await step();
      } catch (e) {
        console.error('teardown:', e);
      }
    }
  });

  async function call<T>(method: string, input: unknown): Promise<T> {
    const r = await gw.rt.control.call(method, input);
    if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
    return r.value as T;
  }

  /** the id of the newest log row, so a test can wait for rows of its own */
  async function lastLogId(): Promise<number> {
    const rows = await call<LogRow[]>('log.recent', { limit: 1 });
    return rows[0]?.id ?? 0;
  }

  const httpProxy = () => `http://${gwLan}:${gw.port}`;
  const socksProxy = () => ({ host: gwLan, port: gw.socksPort });
  const isSocks = (r: LogRow) => r.service.startsWith('socks');

  /** the row of a SOCKS request from `client` to host:port written after `since` */
  const socksRow = (since: number, client: string, host: string, port: number) =>
    gw.waitForRow((r) => r.id > since && isSocks(r) && r.clientAddr === client && r.host === host && r.port === port);
  /** the row of an HTTP proxy request whose URL ends with `tail`, written after `since` */
  const httpRow = (since: number, client: string, tail: string) => gw.waitForRow((r) => r.id > since && r.service === 'http' && r.clientAddr === client && r.url.endsWith(tail));

  function assertRefused(row: LogRow, rule: string, what: string) {
    assert.equal(row.allowed, false, `${what}: logged as allowed (rule ${row.rule})`);
    assert.equal(row.rule, rule, `${what}: refused by rule "${row.rule}" (${row.error}), expected "${rule}"`);
  }

  test('a LAN device reaches a server out there through the HTTP proxy and SOCKS5 (by address and by name), and only through them', async () => {
    const url = `http://${lan.addr.outServer}:18080/`;
    const viaHttp = await lan.curl('lan', ['-x', httpProxy(), url]);
    assert.equal(viaHttp.status, 200, `HTTP proxy: ${viaHttp.stderr}${viaHttp.body}`);
    assert.equal(viaHttp.body, 'hello from outside 18080');
    for (const flag of ['--socks5', '--socks5-hostname']) {
      const viaSocks = await lan.curl('lan', [flag, `${gwLan}:${gw.socksPort}`, url]);
      assert.equal(viaSocks.code, 0, `${flag}: curl exit ${viaSocks.code}: ${viaSocks.stderr}`);
      assert.equal(viaSocks.body, 'hello from outside 18080', flag);
    }
    const raw = await lan.socks5('lan', socksProxy(), { target: { host: lan.addr.outServer, port: 18080 } });
    assert.equal(raw.result, 'rep 0');
    if (!lan.ipForward) {
      // this PC does not route between its interfaces: the proxies are the only way out
      const direct = await lan.curl('lan', ['--connect-timeout', '1', url]);
      assert.notEqual(direct.code, 0, 'a LAN device reached the server out there without a proxy');
    }
  });

  test("a LAN device cannot reach the gateway PC's loopback-only service through either proxy (403 / REP 0x02, rule gateway-itself)", async () => {
    const since = await lastLogId();
    const p = loopbackOnly.port;
    for (const host of ['127.0.0.1', 'localhost']) {
      const r = await lan.curl('lan', ['-x', httpProxy(), `http://${host}:${p}/loopback-only-${host}`]);
      assert.equal(r.status, 403, `HTTP proxy to ${host}:${p} answered ${r.status}: ${r.body}`);
      assert.doesNotMatch(r.body, /loopback-only service/);
      assertRefused(await httpRow(since, device, `/loopback-only-${host}`), 'gateway-itself', `HTTP ${host}`);
    }
    for (const host of ['127.0.0.1', 'localhost']) {
      const s = await lan.socks5('lan', socksProxy(), { target: { host, port: p } });
      assert.equal(s.result, 'rep 2', `SOCKS5 CONNECT ${host}:${p}`);
      assertRefused(await socksRow(since, device, host, p), 'gateway-itself', `SOCKS5 ${host}`);
    }
    const c = await lan.curl('lan', ['--socks5', `${gwLan}:${gw.socksPort}`, `http://127.0.0.1:${p}/`]);
    assert.equal(c.code, 97, `curl --socks5 exit ${c.code}: ${c.stderr}`);
  });

  test("a LAN device cannot reach a service the gateway PC runs on every interface via the gateway's LAN address (403 / REP 0x02, rule gateway-itself)", async () => {
    const q = everyInterface.port;
    const direct = await lan.curl('lan', [`http://${gwLan}:${q}/`]);
    assert.equal(direct.body, 'every-interface service', 'the service answers LAN devices directly (so a refusal below is the proxy)');
    const since = await lastLogId();
    const r = await lan.curl('lan', ['-x', httpProxy(), `http://${gwLan}:${q}/every-interface`]);
    assert.equal(r.status, 403, `HTTP proxy answered ${r.status}: ${r.body}`);
    assertRefused(await httpRow(since, device, '/every-interface'), 'gateway-itself', 'HTTP');
    const s = await lan.socks5('lan', socksProxy(), { target: { host: gwLan, port: q } });
    assert.equal(s.result, 'rep 2');
    assertRefused(await socksRow(since, device, gwLan, q), 'gateway-itself', 'SOCKS5');
  });

  test("nobody reaches Gatehouse's own ports (SOCKS, HTTP proxy, web admin) through its proxies, by 127.0.0.1 or its LAN address (403 / REP 0x02, rule own-port)", async () => {
    const since = await lastLogId();
    const own = { socks: gw.socksPort, http: gw.port, admin: adminPort };
    const cases = Object.entries(own).flatMap(([name, port]) => ['127.0.0.1', gwLan].map((host) => ({ name, host, port })));
    await Promise.all(
      cases.map(async ({ name, host, port }) => {
        const what = `${name} port as ${host}:${port} from the LAN`;
        const r = await lan.curl('lan', ['-x', httpProxy(), `http://${host}:${port}/own-${name}-${host}`]);
        assert.equal(r.status, 403, `HTTP proxy to the ${what} answered ${r.status}: ${r.body}`);
        assertRefused(await httpRow(since, device, `/own-${name}-${host}`), 'own-port', `HTTP to the ${what}`);
        const s = await lan.socks5('lan', socksProxy(), { target: { host, port } });
        assert.equal(s.result, 'rep 2', `SOCKS5 to the ${what}`);
        assertRefused(await socksRow(since, device, host, port), 'own-port', `SOCKS5 to the ${what}`);
      }),
    );

    // this PC itself: the socks client package, and a raw request to the HTTP proxy
    await assert.rejects(
      SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: gw.socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: adminPort }, timeout: 5000 }),
      /NotAllowed/,
      'SOCKS5 CONNECT from this PC to the web admin gets REP 0x02',
    );
    assertRefused(await socksRow(since, '127.0.0.1', '127.0.0.1', adminPort), 'own-port', 'SOCKS5 from this PC to the web admin');
    const get = await rawExchange(gw.port, `GET http://127.0.0.1:${adminPort}/own-admin-from-self HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(get), 403, get.slice(0, 200));
    assertRefused(await httpRow(since, '127.0.0.1', '/own-admin-from-self'), 'own-port', 'HTTP from this PC to the web admin');
  });

  test('the gateway PC itself may reach its own loopback-only service through both proxies (200 / REP 0x00)', async () => {
    const p = loopbackOnly.port;
    const get = await rawExchange(gw.port, `GET http://127.0.0.1:${p}/self HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(get), 200, get.slice(0, 300));
    assert.match(get, /loopback-only service$/);
    const { socket } = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: gw.socksPort, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: p }, timeout: 5000 });
    const answer = await new Promise<string>((resolve, reject) => {
      let out = '';
      socket.on('data', (d) => (out += d.toString()));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
      socket.end(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    assert.match(answer, /loopback-only service$/);
  });

  test("a rule that names the destination lets a LAN device reach the gateway PC's loopback service, but never Gatehouse's own ports", async () => {
    const rule = await call<Rule>('rules.add', { rule: { ...EMPTY_RULE, name: 'LAN to loopback services', action: 'allow', destinations: ['127.0.0.0/8'] }, position: 0 });
    try {
      const since = await lastLogId();
      const r = await lan.curl('lan', ['-x', httpProxy(), `http://127.0.0.1:${loopbackOnly.port}/named`]);
      assert.equal(r.status, 200, `HTTP proxy answered ${r.status}: ${r.body}`);
      assert.equal(r.body, 'loopback-only service');
      const ok = await httpRow(since, device, '/named');
      assert.equal(ok.allowed, true);
      assert.equal(ok.rule, 'LAN to loopback services');

      const admin = await lan.curl('lan', ['-x', httpProxy(), `http://127.0.0.1:${adminPort}/named-admin`]);
      assert.equal(admin.status, 403, `HTTP proxy to the web admin answered ${admin.status}: ${admin.body}`);
      assertRefused(await httpRow(since, device, '/named-admin'), 'own-port', 'HTTP to the web admin');
      const s = await lan.socks5('lan', socksProxy(), { target: { host: '127.0.0.1', port: gw.socksPort } });
      assert.equal(s.result, 'rep 2', 'SOCKS5 to the SOCKS port');
      assertRefused(await socksRow(since, device, '127.0.0.1', gw.socksPort), 'own-port', 'SOCKS5 to the SOCKS port');

      // the rule names 127.0.0.0/8 only: this PC's LAN address is still refused
      const lanSide = await lan.curl('lan', ['-x', httpProxy(), `http://${gwLan}:${everyInterface.port}/named-lan-side`]);
      assert.equal(lanSide.status, 403, `HTTP proxy to this PC's LAN address answered ${lanSide.status}: ${lanSide.body}`);
      assertRefused(await httpRow(since, device, '/named-lan-side'), 'gateway-itself', 'HTTP to the LAN address');
    } finally {
      await call('rules.remove', { id: rule.id });
    }
  });

  test('port 25 is blocked for every service and plain HTTP to a port outside http.safePorts is refused, and the origin never sees a connection', async () => {
    const out = lan.addr.outServer;
    await origin.fence();
    const before25 = origin.connections(25);
    const before444 = origin.connections(444);
    const since = await lastLogId();

    const get25 = await lan.curl('lan', ['-x', httpProxy(), `http://${out}:25/`]);
    assert.equal(get25.status, 403, `HTTP proxy to port 25 answered ${get25.status}: ${get25.body}`);
    assertRefused(await gw.waitForRow((r) => r.id > since && r.service === 'http' && r.clientAddr === device && r.port === 25), 'blocked-ports', 'HTTP to port 25');
    const s25 = await lan.socks5('lan', socksProxy(), { target: { host: out, port: 25 } });
    assert.equal(s25.result, 'rep 2', 'SOCKS5 to port 25');
    assertRefused(await socksRow(since, device, out, 25), 'blocked-ports', 'SOCKS5 to port 25');

    const get444 = await lan.curl('lan', ['-x', httpProxy(), `http://${out}:444/unsafe`]);
    assert.equal(get444.status, 403, `HTTP proxy to port 444 answered ${get444.status}: ${get444.body}`);
    assertRefused(await httpRow(since, device, ':444/unsafe'), 'safe-ports', 'plain HTTP to port 444');

    await origin.fence();
    assert.equal(origin.connections(25) - before25, 0, 'the origin saw a connection on port 25');
    assert.equal(origin.connections(444) - before444, 0, 'the origin saw a connection on port 444');

    // SOCKS has no safe-ports list: 444 is reachable that way, which shows the counting works
    const s444 = await lan.curl('lan', ['--socks5', `${gwLan}:${gw.socksPort}`, `http://${out}:444/`]);
    assert.equal(s444.body, 'hello from outside 444', `SOCKS5 to port 444: ${s444.stderr}`);
    await origin.fence();
    assert.equal(origin.connections(444) - before444, 1);
  });

  test('a client outside the allowed sources is refused before any sign-in: no 407, no SOCKS5 method reply, rule allowed-sources', async () => {
    const ext = lan.addr.extClient;
    const gwExt = lan.addr.extGateway;
    await call('settings.update', { changes: { 'http.login': 'required', 'socks.login': 'required' } });
    try {
      await origin.fence();
      const before = origin.connections(18080);
      const since = await lastLogId();

      const r = await lan.curl('ext', ['-x', `http://${gwExt}:${gw.port}`, `http://${lan.addr.outServer}:18080/from-outside`]);
      assert.notEqual(r.status, 407, 'the HTTP proxy asked an outside client to sign in');
      assert.notEqual(r.status, 200, 'the HTTP proxy served an outside client');
      const hello = await lan.socks5('ext', { host: gwExt, port: gw.socksPort }, { methods: [2] });
      assert.equal(hello.result, 'closed', 'SOCKS5 greeting offering username/password from an outside client');
      const c = await lan.curl('ext', ['--socks5', `${gwExt}:${gw.socksPort}`, `http://${lan.addr.outServer}:18080/`]);
      assert.equal(c.code, 97, `curl --socks5 exit ${c.code}: ${c.stderr}`);

      await gw.waitForRow((x) => x.id > since && x.clientAddr === ext && x.service === 'http');
      await gw.waitForRow((x) => x.id > since && x.clientAddr === ext && isSocks(x));
      const rows = (await call<LogRow[]>('log.recent', { limit: 1000 })).filter((x) => x.id > since && x.clientAddr === ext);
      for (const row of rows) {
        assert.notEqual(row.rule, 'login', `a ${row.service} row for the outside client names the sign-in`);
        assertRefused(row, 'allowed-sources', `${row.service} row for the outside client`);
      }
      await origin.fence();
      assert.equal(origin.connections(18080) - before, 0, 'the origin saw a connection for the outside client');
    } finally {
      await call('settings.update', { changes: { 'http.login': 'off', 'socks.login': 'off' } });
    }
  });

  test('a port mapping serves a LAN device, refuses an outside client at the gate, and never forwards a LAN device to this PC itself', async () => {
    const since = await lastLogId();
    const out = await freePort();
    const self = await freePort();
    await call('mappings.add', { mapping: { name: 'out-web', proto: 'tcp', port: out, to: `${lan.addr.outServer}:18080` } });
    await call('mappings.add', { mapping: { name: 'self-web', proto: 'tcp', port: self, to: `127.0.0.1:${loopbackOnly.port}` } });
    try {
      const ok = await lan.curl('lan', [`http://${gwLan}:${out}/mapped`]);
      assert.equal(ok.status, 200, `mapping from the LAN: ${ok.stderr}`);
      assert.equal(ok.body, 'hello from outside 18080');
      const row = await gw.waitForRow((r) => r.id > since && r.service === 'mapping' && r.clientAddr === device && r.mapping === 'out-web');
      assert.equal(row.allowed, true);
      assert.ok(row.bytesDown > 0);

      const ext = await lan.curl('ext', ['--connect-timeout', '3', `http://${lan.addr.extGateway}:${out}/mapped`]);
      assert.notEqual(ext.status, 200, 'an outside client used a port mapping');
      assertRefused(await gw.waitForRow((r) => r.id > since && r.service === 'mapping' && r.clientAddr === lan.addr.extClient), 'allowed-sources', 'mapping from outside');

      const toSelf = await lan.curl('lan', ['--max-time', '3', `http://${gwLan}:${self}/self`]);
      assert.doesNotMatch(toSelf.body, /loopback-only service/);
      assertRefused(await gw.waitForRow((r) => r.id > since && r.mapping === 'self-web' && r.clientAddr === device), 'gateway-itself', 'mapping to this PC');
    } finally {
      for (const m of await call<Array<{ id: number }>>('mappings.list', {})) await call('mappings.remove', { id: m.id });
    }
  });
});
