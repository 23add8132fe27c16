/**
 * Port mappings end to end on loopback: a real gateway, real TCP and UDP
 * destinations, the control API as the UI and the CLI use it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { EMPTY_RULE, type Mapping } from '../../main/contract/index.js';
import { silentLogger } from '../../main/logger.js';
import { UdpMap } from '../../main/engines/portmap/udp.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort, startEchoServer } from '../helpers/upstreams.js';
import { sleep, waitFor } from '../helpers/http-raw.js';

async function call<T>(g: TestGateway, method: string, input: unknown): Promise<T> {
  const r = await g.rt.control.call(method as never, input as never);
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
  return r.value as T;
}

/** Sends `data`, half-closes, and reads everything the other side sends until it ends (bounded). */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer in 5 s'));
    }, 5000);
    s.on('connect', () => s.end(data));
    s.on('data', (c) => got.push(c));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
  });
}

function udpEcho(): Promise<{ port: number; close(): void }> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve({ port: (s.address() as AddressInfo).port, close: () => s.close() })));
}

/** One datagram out, the first answer back (or null after `ms`). */
function udpAsk(sock: dgram.Socket, port: number, msg: string, ms = 3000): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sock.removeListener('message', on);
      resolve(null);
    }, ms);
    const on = (m: Buffer) => {
      clearTimeout(timer);
      sock.removeListener('message', on);
      resolve(m.toString());
    };
    sock.on('message', on);
    sock.send(msg, port, '127.0.0.1');
  });
}

test('a TCP mapping relays every connection to its destination and logs one row per connection', async () => {
  const echo = await startEchoServer();
  const g = await startGateway();
  try {
    const port = await freePort();
    const m = await call<Mapping>(g, 'mappings.add', { mapping: { name: 'mail', proto: 'tcp', port, to: `127.0.0.1:${echo.port}` } });
    assert.equal(m.state, 'running');
    assert.deepEqual(m.addresses, [`127.0.0.1:${port}`]);
    const out = await roundTrip(port, Buffer.from('hello mapping'));
    assert.equal(out.toString(), 'hello mapping');
    const row = await g.waitForRow((r) => r.service === 'mapping');
    assert.equal(row.mapping, 'mail');
    assert.equal(row.method, 'TCP');
    assert.equal(row.host, '127.0.0.1');
    assert.equal(row.port, echo.port);
    assert.equal(row.allowed, true);
    assert.equal(row.bytesUp, 13);
    assert.equal(row.bytesDown, 13);
    assert.equal(row.chain, '');

    // disabled: it stops listening; enabled again: it listens again
    const off = await call<Mapping>(g, 'mappings.update', { id: m.id, mapping: { enabled: false } });
    assert.equal(off.state, 'stopped');
    await assert.rejects(roundTrip(port, Buffer.from('x')), /ECONNREFUSED/);
    await call<Mapping>(g, 'mappings.update', { id: m.id, mapping: { enabled: true } });
    assert.equal((await roundTrip(port, Buffer.from('again'))).toString(), 'again');

    // sharing off: no mapping listens
    await call(g, 'sharing.set', { enabled: false });
    const [listed] = await call<Mapping[]>(g, 'mappings.list', {});
    assert.equal(listed!.state, 'stopped');
    await assert.rejects(roundTrip(port, Buffer.from('x')), /ECONNREFUSED/);
    await call(g, 'sharing.set', { enabled: true });
    assert.equal((await roundTrip(port, Buffer.from('back'))).toString(), 'back');
  } finally {
    await g.close();
    await echo.close();
  }
});

test('a rule can refuse one mapping by name; the refusal is logged with its rule', async () => {
  const echo = await startEchoServer();
  const g = await startGateway();
  try {
    const port = await freePort();
    await call(g, 'mappings.add', { mapping: { name: 'rdp', proto: 'tcp', port, to: `127.0.0.1:${echo.port}` } });
    await call(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'no rdp', action: 'deny', services: ['mapping:rdp'] }, position: 0 });
    const out = await roundTrip(port, Buffer.from('x'));
    assert.equal(out.length, 0);
    const row = await g.waitForRow((r) => r.service === 'mapping');
    assert.equal(row.allowed, false);
    assert.equal(row.rule, 'no rdp');
    assert.equal(echo.connections, 0);
  } finally {
    await g.close();
    await echo.close();
  }
});

test("a mapping on a port that is taken is refused, naming the port and who holds it", async () => {
  const g = await startGateway();
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const held = (holder.address() as AddressInfo).port;
  try {
    await assert.rejects(call(g, 'mappings.add', { mapping: { name: 'web', proto: 'tcp', port: g.port, to: '127.0.0.1:80' } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_PORT_IN_USE');
      assert.match(e.message, new RegExp(`port ${g.port}/tcp is used by the HTTP`));
      return true;
    });
    await assert.rejects(call(g, 'mappings.add', { mapping: { name: 'taken', proto: 'tcp', port: held, to: '127.0.0.1:80' } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_PORT_IN_USE');
      assert.match(e.message, new RegExp(`port ${held}/tcp is already in use by another program`));
      return true;
    });
    // nothing was kept of the refused mappings
    assert.deepEqual(await call(g, 'mappings.list', {}), []);
    const one = await freePort();
    await call(g, 'mappings.add', { mapping: { name: 'a', proto: 'udp', port: one, to: '127.0.0.1:53' } });
    await assert.rejects(call(g, 'mappings.add', { mapping: { name: 'b', proto: 'udp', port: one, to: '127.0.0.1:54' } }), /already used by mapping "a"/);
  } finally {
    holder.close();
    await g.close();
  }
});

test('a UDP mapping keeps one flow per client, answers the client that sent, and logs each flow when it ends', async () => {
  const echo = await udpEcho();
  const g = await startGateway();
  const a = dgram.createSocket('udp4');
  const b = dgram.createSocket('udp4');
  try {
    const port = await freePort();
    await call(g, 'mappings.add', { mapping: { name: 'dns', proto: 'udp', port, to: `127.0.0.1:${echo.port}` } });
    assert.equal(await udpAsk(a, port, 'one'), 'echo:one');
    assert.equal(await udpAsk(b, port, 'two'), 'echo:two');
    assert.equal(await udpAsk(a, port, 'three'), 'echo:three');
    // the flows end with the mapping (removed): one row each
    const [m] = await call<Mapping[]>(g, 'mappings.list', {});
    await call(g, 'mappings.remove', { id: m!.id });
    const rows = (await g.logRows(2)).filter((r) => r.service === 'mapping');
    assert.equal(rows.length, 2);
    const byPort = new Map(rows.map((r) => [r.clientPort, r]));
    const ra = byPort.get((a.address() as AddressInfo).port)!;
    assert.equal(ra.method, 'UDP');
    assert.equal(ra.bytesUp, 'one'.length + 'three'.length);
    assert.equal(ra.bytesDown, 'echo:one'.length + 'echo:three'.length);
  } finally {
    a.close();
    b.close();
    echo.close();
    await g.close();
  }
});

test('UDP flows expire when idle and are bounded in number', async () => {
  const echo = await udpEcho();
  const rows: string[] = [];
  // the engine alone, with a small bound and a short idle time
  const socks: dgram.Socket[] = [];
  try {
    const { Admission } = await import('../../main/engines/admission.js');
    const { GatewayPolicy } = await import('../../main/policy/policy.js');
    const { Router } = await import('../../main/policy/routes.js');
    const { Authenticator } = await import('../../main/policy/auth.js');
    const { Limiter } = await import('../../main/policy/limits.js');
    const { createResolver } = await import('../../main/net/resolver.js');
    const { createRecorder } = await import('../../main/recorder.js');
    const { DEFAULT_SETTINGS } = await import('../../main/contract/index.js');
    const recorder = createRecorder((t) => rows.push(String(t[2])));
    const admission = new Admission({
      policy: new GatewayPolicy({ ...DEFAULT_SETTINGS, 'access.defaultAction': 'allow' }),
      auth: new Authenticator(() => [], { freeFailures: 5, forgetMs: 60_000, maxDelayMs: 1000 }),
      limiter: new Limiter(),
      resolver: createResolver(),
      recorder,
      router: new Router(),
    });
    const map = new UdpMap({ admission, recorder, limits: () => ({ connectTimeoutMs: 2000, idleTimeoutMs: 2000 }) }, { name: 'u', host: '127.0.0.1', port: echo.port }, { maxFlows: 2, idleMs: 1500 });
    const sock = await map.listen('127.0.0.1', 0);
    const port = (sock.address() as AddressInfo).port;
    for (let i = 0; i < 3; i++) socks.push(dgram.createSocket('udp4'));
    assert.equal(await udpAsk(socks[0]!, port, 'a'), 'echo:a');
    assert.equal(await udpAsk(socks[1]!, port, 'b'), 'echo:b');
    // a third client finds no room: its datagram is dropped
    assert.equal(await udpAsk(socks[2]!, port, 'c', 300), null);
    assert.equal(map.flowCount, 2);
    // idle flows end (each logged); then there is room again
    assert.ok(await waitFor(() => map.flowCount === 0, 5000), 'idle flows expire');
    assert.equal(recorder.active, 0);
    assert.equal(await udpAsk(socks[2]!, port, 'c'), 'echo:c');
    map.close();
    await sleep(10);
    assert.equal(recorder.active, 0);
  } finally {
    for (const s of socks) s.close();
    echo.close();
  }
});
