/**
 * The HTTP/HTTPS proxy end to end: a real gateway on loopback, real origins
 * (HTTP and HTTPS), real clients (curl, node:http, undici's ProxyAgent).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { startHttpOrigin, startHttpsOrigin, startSilentServer, closedPort, type Origin } from '../../helpers/origin.js';
import { curl, startGateway, readLog, type TestGateway } from '../../helpers/gateway.js';
import { rawExchange, statusOf } from '../../helpers/raw.js';

let origin: Origin;
let tls: Origin & { cert: Buffer };
let gw: TestGateway;
let tmp: string;

before(async () => {
  origin = await startHttpOrigin();
  tls = await startHttpsOrigin();
  tmp = mkdtempSync(join(tmpdir(), 'gh-proxy-'));
  gw = await startGateway({ 'http.connectPorts': `443,${tls.port},${origin.port}` });
});

after(async () => {
  await gw.close();
  await origin.close();
  await tls.close();
  rmSync(tmp, { recursive: true, force: true });
});

function proxied(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer; agent?: http.Agent; localAddress?: string } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; reused: boolean }>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: gw.port,
      method: init.method ?? 'GET',
      path: origin.url + path,
      headers: init.headers,
      agent: init.agent ?? false,
      localAddress: init.localAddress,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('plain HTTP forwarding', () => {
  test('curl -x fetches a page through the proxy and the origin sees Via and the right Host', async () => {
    const r = await curl(['-x', gw.proxy, `${origin.url}/hello?x=1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).path, '/hello?x=1');
    const seen = origin.seen.at(-1)!;
    assert.equal(seen.headers.host, `127.0.0.1:${origin.port}`);
    assert.match(String(seen.headers.via), /^1\.1 gatehouse-[0-9a-f]+$/);
  });

  test('removes hop-by-hop headers, including those named in Connection, both ways', async () => {
    const r = await proxied('/hop', {
      headers: { Connection: 'keep-alive, X-Private', 'X-Private': 'secret', 'Proxy-Authorization': 'Basic Zm9vOmJhcg==', 'X-Kept': 'yes', TE: 'trailers' },
    });
    assert.equal(r.status, 200);
    const seen = origin.seen.at(-1)!;
    assert.equal(seen.headers['x-private'], undefined);
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(seen.headers['x-kept'], 'yes');
    // the origin named X-Origin-Secret in its Connection header
    assert.equal(r.headers['x-origin-secret'], undefined);
    assert.match(String(r.headers.via), /gatehouse-/);
  });

  test('relays a POST body with Content-Length intact', async () => {
    const body = randomBytes(300_000);
    const r = await proxied('/echo', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) } });
    const j = JSON.parse(r.body.toString());
    assert.equal(j.bodyLength, body.length);
    assert.equal(j.bodySha, createHash('sha256').update(body).digest('hex'));
  });

  test('relays a chunked upload from curl (and Expect: 100-continue) byte for byte', async () => {
    const file = join(tmp, 'upload.bin');
    const body = randomBytes(3 * 1024 * 1024);
    writeFileSync(file, body);
    const r = await curl(['-x', gw.proxy, '-H', 'Transfer-Encoding: chunked', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, `${origin.url}/echo`]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.bodyLength, body.length);
    assert.equal(j.bodySha, createHash('sha256').update(body).digest('hex'));
    assert.equal(origin.seen.at(-1)!.headers['transfer-encoding'], 'chunked');
  });

  test('relays the origin\'s 100 Continue before the client sends its body (RFC 9110 §10.1.1)', async () => {
    const s = net.connect(gw.port, '127.0.0.1');
    let got = '';
    s.on('data', (c) => (got += c));
    s.write(`POST ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    for (let i = 0; i < 100 && !got.includes('100 Continue'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(got, /^HTTP\/1\.1 100 Continue\r\n(Via: [^\r]+\r\n)?\r\n/);
    s.write('hello');
    for (let i = 0; i < 100 && !got.includes('bodyLength'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(got, /"bodyLength":5/);
    s.destroy();
  });

  test('streams a large response (64 MiB) without changing a byte', async () => {
    const r = await curl(['-x', gw.proxy, '-o', '/dev/null', '-w', '%{size_download} %{http_code}', `${origin.url}/big?mb=64`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${64 * 1024 * 1024} 200`);
  });

  test('streams a chunked response of unknown length', async () => {
    const r = await curl(['-x', gw.proxy, '-o', '/dev/null', '-w', '%{size_download}', `${origin.url}/big?mb=3&chunked`]);
    assert.equal(r.stdout, String(3 * 1024 * 1024));
  });

  test('HEAD gets headers and no body; 204 and 304 pass through', async () => {
    const h = await proxied('/big?mb=1', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], String(1024 * 1024));
    assert.equal(h.body.length, 0);
    assert.equal((await proxied('/status/204')).status, 204);
    assert.equal((await proxied('/status/304')).status, 304);
  });

  test('relays 103 Early Hints before the final response', async () => {
    const hints: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: gw.port, path: `${origin.url}/early-hints`, agent: false });
      req.on('information', (i) => hints.push(i.statusCode));
      req.on('response', (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(hints, [103]);
  });

  test('keeps client connections alive and pools origin connections', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = origin.connections;
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await proxied(`/ka/${i}`, { agent }));
    agent.destroy();
    assert.deepEqual(results.map((r) => r.reused), [false, true, true, true, true]);
    assert.ok(origin.connections - before <= 1, `origin saw ${origin.connections - before} new connections`);
  });

  test('undici ProxyAgent reaches an HTTP origin and an HTTPS origin (through CONNECT)', async () => {
    const dispatcher = new ProxyAgent({ uri: gw.proxy, requestTls: { ca: tls.cert } });
    try {
      const a = await undiciFetch(`${origin.url}/undici`, { dispatcher });
      assert.equal(a.status, 200);
      assert.equal((await a.json() as { path: string }).path, '/undici');
      const b = await undiciFetch(`${tls.url}/secure`, { dispatcher });
      assert.equal(b.status, 200);
      assert.equal((await b.json() as { path: string }).path, '/secure');
    } finally {
      await dispatcher.close();
    }
  });

  test('relays a WebSocket-style Upgrade and then bytes both ways', async () => {
    const s = net.connect(gw.port, '127.0.0.1');
    let got = '';
    s.on('data', (c) => (got += c.toString()));
    s.write(`GET ${origin.url}/ws HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    for (let i = 0; i < 100 && !got.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(got, /^HTTP\/1\.1 101 /);
    got = '';
    s.write('ping-through-tunnel');
    for (let i = 0; i < 100 && !got.includes('ping-through-tunnel'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got, 'ping-through-tunnel');
    s.destroy();
  });
});

describe('CONNECT tunnels', () => {
  test('curl reaches an HTTPS origin through CONNECT to an allowed port', async () => {
    const r = await curl(['-x', gw.proxy, '-k', `${tls.url}/over-tls`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).path, '/over-tls');
  });

  test('curl -p tunnels plain HTTP through CONNECT', async () => {
    const r = await curl(['-p', '-x', gw.proxy, `${origin.url}/tunneled`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).path, '/tunneled');
  });

  test('refuses CONNECT to port 25 (blocked for every service) with 403 and logs the rule that denied it', async () => {
    const res = await rawExchange(gw.port, 'CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n\r\n');
    assert.equal(statusOf(res), 403);
    assert.match(res, /port 25 is blocked for every service/);
    const row = await gw.waitForRow((r) => r.method === 'CONNECT' && r.port === 25);
    assert.equal(row.allowed, false);
    assert.equal(row.rule, 'blocked-ports');
    assert.equal(row.status, 403);
  });

  test('refuses CONNECT to a port outside http.connectPorts with 403 and logs the rule', async () => {
    const res = await rawExchange(gw.port, 'CONNECT 127.0.0.1:8081 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\r\n');
    assert.equal(statusOf(res), 403);
    assert.match(res, /tunnels to port 8081 are not allowed/);
    const row = await gw.waitForRow((r) => r.method === 'CONNECT' && r.port === 8081);
    assert.equal(row.rule, 'connect-ports');
  });

  test('accepts an IPv6 literal target [::1]:port', async (t) => {
    const v6 = http.createServer((_, res) => res.end('v6 ok'));
    const ok = await new Promise<boolean>((resolve) => {
      v6.once('error', () => resolve(false));
      v6.listen(origin.port + 0 === 0 ? 0 : 0, '::1', () => resolve(true));
    });
    if (!ok) return t.skip('no IPv6 loopback on this machine');
    const port = (v6.address() as net.AddressInfo).port;
    try {
      await gw.rt.control.call('settings.setText', { key: 'http.connectPorts', value: `443,${tls.port},${origin.port},${port}` });
      const plain = await curl(['-x', gw.proxy, `http://[::1]:${port}/`]);
      assert.equal(plain.stdout, 'v6 ok');
      const tunnel = await curl(['-p', '-x', gw.proxy, `http://[::1]:${port}/`]);
      assert.equal(tunnel.stdout, 'v6 ok', tunnel.stderr);
    } finally {
      v6.close();
    }
  });

  test('answers 502 when the tunnel target refuses the connection', async () => {
    const port = await closedPort();
    await gw.rt.control.call('settings.setText', { key: 'http.connectPorts', value: `443,${tls.port},${origin.port},${port}` });
    const res = await rawExchange(gw.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(statusOf(res), 502);
    assert.match(res, /refused the connection/);
  });
});

describe('error pages', () => {
  test('a name that does not resolve gets 502 (a gateway error, RFC 9209 dns_error) with a readable page', async () => {
    const r = await curl(['-x', gw.proxy, '-D', '-', '-w', '\n%{http_code}', 'http://no-such-host.invalid/']);
    assert.match(r.stdout, /could not be resolved/);
    assert.match(r.stdout, /Proxy-Status: gatehouse; error=dns_error/i);
    assert.match(r.stdout, /502$/);
  });

  test('a refused origin gets 502, with a Proxy-Status header', async () => {
    const port = await closedPort();
    const r = await proxiedTo(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 502);
    assert.match(String(r.headers['proxy-status']), /connection_refused/);
    assert.match(r.body, /refused the connection/);
  });

  test('an origin that never answers gets 504 after the response timeout', async () => {
    const silent = await startSilentServer();
    await gw.rt.control.call('settings.setText', { key: 'http.responseTimeout', value: '0.3' });
    try {
      const r = await proxiedTo(`http://127.0.0.1:${silent.port}/`);
      assert.equal(r.status, 504);
      assert.match(r.body, /did not start its response in time/);
    } finally {
      await gw.rt.control.call('settings.setText', { key: 'http.responseTimeout', value: '120' });
      await silent.close();
    }
  });

  test('a request for the proxy itself (origin-form) gets 400 explaining how to configure a proxy', async () => {
    const res = await rawExchange(gw.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(res), 400);
    assert.match(res, /This is a proxy server/);
  });

  test('a request aimed back at the proxy is refused (403, rule own-port) instead of looping', async () => {
    const res = await rawExchange(gw.port, `GET http://127.0.0.1:${gw.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(res), 403);
    const row = await gw.waitForRow((r) => r.port === gw.port && r.method === 'GET');
    assert.equal(row.rule, 'own-port');
  });

  test('a request that comes back through the proxy (our own Via pseudonym) gets 508 instead of looping; another proxy\'s Via passes', async () => {
    // our pseudonym, as the origin sees it in Via
    await curl(['-x', gw.proxy, `${origin.url}/via-probe`]);
    const via = String(origin.seen.find((x) => x.url === '/via-probe')!.headers.via);
    const ours = /gatehouse-[0-9a-f]+/.exec(via)![0];
    const looped = await rawExchange(gw.port, `GET ${origin.url}/loop HTTP/1.1\r\nHost: x\r\nVia: 1.1 other, 1.1 ${ours}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(looped), 508);
    assert.ok(!origin.seen.some((x) => x.url === '/loop'), 'the looping request went nowhere');
    const other = await rawExchange(gw.port, `GET ${origin.url}/other-proxy HTTP/1.1\r\nHost: x\r\nVia: 1.1 gatehouse-000000\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(other), 200);
  });

  test('a URL over the length limit gets 414', async () => {
    const res = await rawExchange(gw.port, `GET ${origin.url}/${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(res), 414);
  });

  test('a request head over the size limit gets 431', async () => {
    const res = await rawExchange(gw.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40000)}\r\n\r\n`);
    assert.equal(statusOf(res), 431);
  });

  test('garbage instead of HTTP gets 400', async () => {
    const res = await rawExchange(gw.port, 'HELLO THERE\r\n\r\n');
    assert.equal(statusOf(res), 400);
  });
});

async function proxiedTo(url: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.port, path: url, agent: false });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('source addresses', () => {
  test('refuses a client outside the allowed ranges with 403 and logs why, and still serves one inside', async () => {
    const g = await startGateway({ 'access.allowedSources': ['127.0.0.1/32'] });
    try {
      const out = await curl(['-x', g.proxy, '--interface', '127.0.0.2', '-w', '\n%{http_code}', `${origin.url}/outside`]);
      assert.match(out.stdout, /403$/);
      assert.match(out.stdout, /outside the allowed source ranges/);
      const inside = await curl(['-x', g.proxy, '--interface', '127.0.0.1', `${origin.url}/inside`]);
      assert.equal(JSON.parse(inside.stdout).path, '/inside');
      const tunnel = await rawExchange(g.port, `CONNECT 127.0.0.1:${tls.port} HTTP/1.1\r\nHost: x\r\n\r\n`, { localAddress: '127.0.0.2' });
      assert.equal(statusOf(tunnel), 403);
      const rows = await g.logRows(3);
      const denied = rows.filter((r) => !r.allowed);
      assert.equal(denied.length, 2);
      for (const r of denied) {
        assert.equal(r.clientAddr, '127.0.0.2');
        assert.equal(r.rule, 'allowed-sources');
        assert.equal(r.status, 403);
      }
      assert.ok(origin.seen.every((s) => s.url !== '/outside'), 'the refused request never reached the origin');
    } finally {
      await g.close();
    }
  });

  test('the default allows loopback and private ranges only', async () => {
    const g = await startGateway();
    try {
      const r = await curl(['-x', g.proxy, '--interface', '127.0.0.3', `${origin.url}/default`]);
      assert.equal(JSON.parse(r.stdout).path, '/default');
      const s = (await g.rt.control.call('settings.get', {})) as { ok: true; value: Record<string, unknown> };
      assert.deepEqual(s.value['access.allowedSources'], ['local']);
    } finally {
      await g.close();
    }
  });
});

describe('request log', () => {
  test('writes one row per request with client, method, URL, status, bytes and duration', async () => {
    const g = await startGateway({ 'http.connectPorts': `443,${tls.port}` });
    try {
      const r = await curl(['-x', g.proxy, '--interface', '127.0.0.1', '-d', 'x'.repeat(1000), `${origin.url}/logged?q=1`]);
      assert.equal(r.code, 0, r.stderr);
      await curl(['-x', g.proxy, '-k', `${tls.url}/logged-tls`]);
      const rows = await g.logRows(2);
      const post = rows.find((x) => x.method === 'POST')!;
      assert.equal(post.service, 'http');
      assert.equal(post.clientAddr, '127.0.0.1');
      assert.ok(post.clientPort > 0);
      assert.equal(post.url, `${origin.url}/logged?q=1`);
      assert.equal(post.host, '127.0.0.1');
      assert.equal(post.port, origin.port);
      assert.equal(post.status, 200);
      assert.ok(post.bytesUp >= 1000, `bytesUp ${post.bytesUp}`);
      assert.ok(post.bytesDown > 100, `bytesDown ${post.bytesDown}`);
      assert.equal(post.allowed, true);
      assert.equal(post.user, '');
      assert.equal(post.error, '');
      const tunnel = rows.find((x) => x.method === 'CONNECT')!;
      assert.equal(tunnel.url, `127.0.0.1:${tls.port}`);
      assert.equal(tunnel.status, 200);
      assert.ok(tunnel.bytesDown > 500, 'TLS handshake bytes counted');
    } finally {
      await g.close();
    }
  });

  test('a clean stop lets an in-flight request finish and loses no log row', async () => {
    const g = await startGateway();
    const inflight = curl(['-x', g.proxy, '--limit-rate', '2M', '-o', '/dev/null', '-w', '%{size_download}', `${origin.url}/big?mb=1`]);
    await new Promise((r) => setTimeout(r, 150));
    const n = 20;
    await Promise.all(Array.from({ length: n }, (_, i) => curl(['-x', g.proxy, `${origin.url}/burst/${i}`])));
    await g.rt.stop(3000);
    const r = await inflight;
    assert.equal(r.stdout, String(1024 * 1024));
    const rows = readLog(g.dataDir);
    assert.equal(rows.filter((x) => x.url.includes('/burst/')).length, n);
    assert.ok(rows.some((x) => x.url.endsWith('/big?mb=1') && x.status === 200));
    await g.close();
  });
});

/**
 * A loopback port whose accept queue is full: Linux then drops new SYNs, so a
 * connection attempt hangs, as one to an unreachable host does. python3 holds
 * the listening socket without ever accepting (node accepts by itself).
 */
async function fullBacklogPort(): Promise<{ port: number; close(): void }> {
  const { spawn } = await import('node:child_process');
  const py = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => py.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const f = net.connect(port, '127.0.0.1');
    f.on('error', () => {});
    fillers.push(f);
  }
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    close() {
      for (const f of fillers) f.destroy();
      py.kill();
    },
  };
}

describe('timeouts', () => {
  test('an origin that does not accept the connection gets 504 after the connect timeout (HTTP and CONNECT)', async () => {
    const g = await startGateway({ 'http.connectTimeout': 0.3 });
    const hole = await fullBacklogPort();
    try {
      await g.rt.control.call('settings.setText', { key: 'http.connectPorts', value: `443,${hole.port}` });
      const r = await curl(['-x', g.proxy, '-w', '\n%{http_code}', `http://127.0.0.1:${hole.port}/`]);
      assert.match(r.stdout, /did not accept the connection in time/);
      assert.match(r.stdout, /504$/);
      const t = await rawExchange(g.port, `CONNECT 127.0.0.1:${hole.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(statusOf(t), 504);
    } finally {
      hole.close();
      await g.close();
    }
  });

  test('an idle keep-alive client connection is closed after the idle timeout', async () => {
    const g = await startGateway({ 'http.idleTimeout': 0.3 });
    try {
      const s = net.connect(g.port, '127.0.0.1');
      let got = '';
      s.on('data', (c) => (got += c));
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      s.write(`GET ${origin.url}/keep HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await closed;
      assert.match(got, /^HTTP\/1\.1 200 /, 'the request was answered, then the idle connection closed');
    } finally {
      await g.close();
    }
  });

  test('a client that never finishes its request head is cut off (slowloris)', async () => {
    const g = await startGateway({ 'http.headerTimeout': 0.3 });
    try {
      const res = await rawExchange(g.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nX-Slow: `, { timeoutMs: 5000 });
      assert.equal(statusOf(res), 408);
    } finally {
      await g.close();
    }
  });
});
