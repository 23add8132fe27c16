/**
 * The web admin transport against a real HTTP server on loopback: how it
 * posts calls and how it turns every kind of answer (ok, error result, 401,
 * a proxy's HTML error page, nobody listening) into a Result. Also the
 * Electron bridge transport, over an object shaped like window.gatehouse.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBridgeTransport, createHttpTransport } from '../../renderer/api/transport.js';

const seen: Array<{ method: string; url: string; type: string; body: string }> = [];
let server: http.Server;
let base = '';

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type'] ?? '', body });
      const json = (code: number, v: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      switch (req.url) {
        case '/api/call/status.get':
          return json(200, { ok: true, value: { sharing: false } });
        case '/api/call/settings.setText':
          return json(400, { ok: false, error: { code: 'E_VALIDATION', message: 'setting http.port: "x" is not a number' } });
        case '/api/call/log.recent':
          res.writeHead(401);
          return res.end('unauthorized');
        default:
          res.writeHead(502, { 'content-type': 'text/html' });
          return res.end('<html>Bad gateway</html>');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((r) => server.close(() => r())));

test('posts the input as JSON to /api/call/<method> and returns the ok result', async () => {
  const t = createHttpTransport({ baseUrl: base });
  const r = await t.call('status.get', {});
  assert.deepEqual(r, { ok: true, value: { sharing: false } });
  const req = seen.find((s) => s.url === '/api/call/status.get')!;
  assert.equal(req.method, 'POST');
  assert.equal(req.type, 'application/json');
  assert.equal(req.body, '{}');
});

test('passes an error result through with its code and message', async () => {
  const t = createHttpTransport({ baseUrl: base });
  const r = await t.call('settings.setText', { key: 'http.port', value: 'x' });
  assert.deepEqual(r, { ok: false, error: { code: 'E_VALIDATION', message: 'setting http.port: "x" is not a number' } });
});

test('turns HTTP 401 into E_UNAUTHORIZED', async () => {
  const t = createHttpTransport({ baseUrl: base });
  const r = await t.call('log.recent', { limit: 10 });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'E_UNAUTHORIZED');
});

test('turns a non-JSON error page into E_UNAVAILABLE quoting the status', async () => {
  const t = createHttpTransport({ baseUrl: base });
  const r = await t.call('settings.get', {});
  assert.equal(!r.ok && r.error.code, 'E_UNAVAILABLE');
  assert.match(!r.ok ? r.error.message : '', /HTTP 502/);
});

test('turns a refused connection into E_UNAVAILABLE', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const t = createHttpTransport({ baseUrl: `http://127.0.0.1:${port}` });
  const r = await t.call('status.get', {});
  assert.equal(!r.ok && r.error.code, 'E_UNAVAILABLE');
  assert.match(!r.ok ? r.error.message : '', /Cannot reach Gatehouse/);
});

test('the Electron bridge transport forwards calls and events, and turns a rejected call into data', async () => {
  let emit: (e: unknown) => void = () => {};
  const bridge = {
    call: async (method: string, input: unknown) =>
      method === 'boom' ? Promise.reject(new Error('object could not be cloned')) : { ok: true as const, value: { method, input } },
    onEvent(cb: (e: any) => void) {
      emit = cb;
      return () => (emit = () => {});
    },
  };
  const t = createBridgeTransport(bridge);
  assert.deepEqual(await t.call('status.get', {}), { ok: true, value: { method: 'status.get', input: {} } });
  const failed = await t.call('boom', {});
  assert.equal(!failed.ok && failed.error.code, 'E_UNAVAILABLE');
  assert.match(!failed.ok ? failed.error.message : '', /object could not be cloned/);
  const got: unknown[] = [];
  const off = t.subscribe((e) => got.push(e));
  emit({ type: 'log', rows: [] });
  off();
  emit({ type: 'log', rows: [] });
  assert.equal(got.length, 1);
  const states: string[] = [];
  t.onStreamState((s) => states.push(s));
  assert.deepEqual(states, ['connected']);
});
