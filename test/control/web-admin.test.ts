/**
 * The web admin (main/control/web-admin.ts) on a real loopback socket, with a
 * real Control whose handlers are defined here and a temp renderer directory:
 * the token and its cookie, cross-site and DNS-rebinding refusals (checking
 * the handler never ran), server-sent events, static files and path
 * traversal, security headers. Two tests run `gatehouse serve` as a child
 * process, because the bugs they pin take the whole process down.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, GatehouseError, type Status } from '../../main/contract/index.js';
import { Control } from '../../main/control/service.js';
import { WebAdmin } from '../../main/control/web-admin.js';
import { silentLogger } from '../../main/logger.js';
import { handlersWith, testStatus } from './handlers.js';

const TOKEN = 'test-token-0123456789abcdef';
const INDEX = '<!doctype html><title>Gatehouse test index</title>';
const SECRET = 'TOP-SECRET-OUTSIDE-RENDERER';
const STATUS = testStatus();

const root = mkdtempSync(join(tmpdir(), 'gh-webadmin-'));
const rendererDir = join(root, 'renderer');
const calls: string[] = [];
let control: Control;
let admin: WebAdmin;
let port = 0;

before(async () => {
  mkdirSync(join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(join(rendererDir, 'index.html'), INDEX);
  writeFileSync(join(rendererDir, 'assets', 'app-1234.js'), 'console.log("app")');
  writeFileSync(join(root, 'secret.txt'), SECRET);
  mkdirSync(join(root, 'renderer-evil'));
  writeFileSync(join(root, 'renderer-evil', 'secret.txt'), SECRET);
  const handlers = handlersWith({
    'status.get': () => (calls.push('status.get'), STATUS),
    'sharing.set': () => (calls.push('sharing.set'), STATUS),
    'settings.get': () => (calls.push('settings.get'), DEFAULT_SETTINGS),
    'settings.describe': () => (calls.push('settings.describe'), []),
    'settings.update': () => (calls.push('settings.update'), DEFAULT_SETTINGS),
    'settings.setText': ({ key, value }) => {
      calls.push('settings.setText');
      throw new GatehouseError('E_VALIDATION', `setting ${key}: "${value}" is not a number`);
    },
    'log.recent': () => (calls.push('log.recent'), []),
  });
  control = new Control(handlers);
  admin = new WebAdmin({ control, token: TOKEN, rendererDir, logger: silentLogger });
  await admin.start('127.0.0.1', 0);
  port = Number(new URL(admin.url!).port);
});

after(async () => {
  await admin?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection; the path is sent as given (no normalization). */
function request(path: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${path} within 5 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const bearer = { Authorization: `Bearer ${TOKEN}` };
const json = { 'Content-Type': 'application/json' };

function callApi(method: string, input: unknown, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return request(`/api/call/${method}`, { method: 'POST', headers: { ...bearer, ...json, ...headers }, body: JSON.stringify(input) });
}

test('answers every route without the token with 401: an HTML page for pages, E_UNAUTHORIZED JSON for /api/*', async () => {
  const before = calls.length;
  for (const path of ['/', '/index.html', '/settings', '/assets/app-1234.js']) {
    const r = await request(path);
    assert.equal(r.status, 401, path);
    assert.match(r.headers['content-type']!, /^text\/html/, path);
    assert.match(r.body, /admin link/, path);
    assert.doesNotMatch(r.body, /Gatehouse test index/, path);
  }
  for (const [path, method] of [['/api/call/status.get', 'POST'], ['/api/events', 'GET'], ['/api/other', 'GET']] as const) {
    const r = await request(path, { method, headers: json, body: method === 'POST' ? '{}' : undefined });
    assert.equal(r.status, 401, path);
    assert.match(r.headers['content-type']!, /^application\/json/, path);
    const b = JSON.parse(r.body);
    assert.equal(b.ok, false);
    assert.equal(b.error.code, 'E_UNAUTHORIZED');
  }
  assert.equal(calls.length, before, 'no handler ran');
});

test('trades the right token in the URL for an HttpOnly SameSite=Strict cookie and a redirect without the token', async () => {
  const r = await request(`/?token=${TOKEN}`);
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/');
  const cookie = r.headers['set-cookie']?.[0] ?? '';
  assert.match(cookie, new RegExp(`^gatehouse_admin=${TOKEN};`));
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Path=\//);

  const deep = await request(`/logs?view=all&token=${TOKEN}`);
  assert.equal(deep.status, 303);
  assert.equal(deep.headers.location, '/logs?view=all');
  assert.doesNotMatch(deep.headers.location!, /token/);
});

test('answers a wrong token in the URL with 401 and sets no cookie', async () => {
  for (const t of ['wrong', TOKEN.slice(0, -1), `${TOKEN}x`, '']) {
    const r = await request(`/?token=${encodeURIComponent(t)}`);
    assert.equal(r.status, 401, t);
    assert.equal(r.headers['set-cookie'], undefined);
  }
});

test('the cookie or a Bearer header authorizes; a wrong one does not', async () => {
  const cookie = (await request(`/?token=${TOKEN}`)).headers['set-cookie']![0]!.split(';')[0]!;
  const withCookie = await request('/', { headers: { Cookie: `theme=dark; ${cookie}` } });
  assert.equal(withCookie.status, 200);
  assert.equal(withCookie.body, INDEX);
  assert.equal((await request('/', { headers: bearer })).status, 200);
  assert.equal((await request('/', { headers: { Cookie: 'gatehouse_admin=wrong' } })).status, 401);
  assert.equal((await request('/', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await request('/', { headers: { Authorization: `Basic ${TOKEN}` } })).status, 401);
});

test('POST /api/call/<method> with JSON runs the method and answers {ok:true, value}', async () => {
  const before = calls.length;
  const r = await callApi('status.get', {}, { Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { ok: true, value: STATUS });
  assert.deepEqual(calls.slice(before), ['status.get']);
  // an empty body counts as {}
  const empty = await request('/api/call/status.get', { method: 'POST', headers: { ...bearer, ...json } });
  assert.equal(empty.status, 200);
});

test('answers an error result with the HTTP status of its code', async () => {
  const bad = await callApi('settings.setText', { key: 'http.port', value: 'eighty' });
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body), { ok: false, error: { code: 'E_VALIDATION', message: 'setting http.port: "eighty" is not a number' } });
  const unknown = await callApi('users.delete', {});
  assert.equal(unknown.status, 404);
  assert.equal(JSON.parse(unknown.body).error.code, 'E_UNKNOWN_METHOD');
  const invalid = await callApi('sharing.set', { enabled: 'yes' });
  assert.equal(invalid.status, 400);
  assert.match(JSON.parse(invalid.body).error.message, /sharing\.set: enabled/);
});

test('refuses a body that is not JSON with 400 and does not run the method', async () => {
  const before = calls.length;
  const r = await request('/api/call/status.get', { method: 'POST', headers: { ...bearer, ...json }, body: '{not json' });
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).error.code, 'E_VALIDATION');
  assert.equal(calls.length, before);
});

test('refuses a body over 1 MiB without running the method', async () => {
  const before = calls.length;
  try {
    const r = await request('/api/call/status.get', { method: 'POST', headers: { ...bearer, ...json }, body: Buffer.alloc((1 << 20) + 4096, 0x20) });
    assert.equal(r.status, 413);
  } catch (err) {
    // the server may cut the upload before the client reads the 413
    assert.match((err as NodeJS.ErrnoException).code ?? '', /ECONNRESET|EPIPE/);
  }
  assert.equal(calls.length, before);
});

test('refuses GET on /api/call/<method> with 405 and does not run the method', async () => {
  const before = calls.length;
  const r = await request('/api/call/status.get', { headers: bearer });
  assert.equal(r.status, 405);
  assert.equal(calls.length, before);
});

test('refuses a cross-site POST with 403 E_FORBIDDEN and does not run the method, even with the token', async () => {
  const before = calls.length;
  const cases: Array<[string, http.OutgoingHttpHeaders]> = [
    ['Origin from another site', { ...json, Origin: 'http://evil.example' }],
    ['Origin on another port', { ...json, Origin: 'http://127.0.0.1:1' }],
    ['Origin null', { ...json, Origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { ...json, 'Sec-Fetch-Site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { ...json, 'Sec-Fetch-Site': 'same-site' }],
    ['text/plain body', { 'Content-Type': 'text/plain' }],
    ['form body', { 'Content-Type': 'application/x-www-form-urlencoded' }],
    ['no content type', {}],
  ];
  for (const [name, headers] of cases) {
    const r = await request('/api/call/sharing.set', { method: 'POST', headers: { ...bearer, ...headers }, body: '{"enabled":true}' });
    assert.equal(r.status, 403, name);
    const b = JSON.parse(r.body);
    assert.equal(b.ok, false, name);
    assert.equal(b.error.code, 'E_FORBIDDEN', name);
  }
  assert.equal(calls.length, before, 'no handler ran');
});

test('answers a Host header with a DNS name with 421 (DNS rebinding), even with the token, and runs nothing', async () => {
  const before = calls.length;
  for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.nip.io:${port}`, '[evil.example]']) {
    const page = await request('/', { headers: { ...bearer, Host: host } });
    assert.equal(page.status, 421, host);
    assert.doesNotMatch(page.body, /Gatehouse test index/);
    const api = await callApi('sharing.set', { enabled: true }, { Host: host });
    assert.equal(api.status, 421, host);
    const login = await request(`/?token=${TOKEN}`, { headers: { Host: host } });
    assert.equal(login.status, 421, host);
    assert.equal(login.headers['set-cookie'], undefined);
  }
  assert.equal(calls.length, before);
});

test('accepts Host headers that are IP literals or localhost', async () => {
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, '192.168.1.10', 'localhost']) {
    assert.equal((await request('/', { headers: { ...bearer, Host: host } })).status, 200, host);
  }
});

test('/api/events streams each emitted event as a data: line', async () => {
  const frames = await new Promise<string>((resolve, reject) => {
    let text = '';
    let emitted = false;
    const req = http.get({ host: '127.0.0.1', port, path: '/api/events', headers: bearer, agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type']!, /^text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (!emitted) {
          // the stream is registered once its first frame arrives
          emitted = true;
          control.emit({ type: 'settings', settings: DEFAULT_SETTINGS });
        }
        if (text.includes('data: ')) {
          clearTimeout(timer);
          req.destroy();
          resolve(text);
        }
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no data: frame within 5 s; got ${JSON.stringify(text)}`));
    }, 5000);
    req.on('error', (e) => {
      if (!text.includes('data: ')) reject(e);
    });
  });
  const line = frames.split('\n').find((l) => l.startsWith('data: '))!;
  assert.deepEqual(JSON.parse(line.slice(6)), { type: 'settings', settings: DEFAULT_SETTINGS });
});

test('stop() ends open event streams', async () => {
  const second = new WebAdmin({ control, token: TOKEN, rendererDir, logger: silentLogger });
  await second.start('127.0.0.1', 0);
  const p = Number(new URL(second.url!).port);
  const ended = new Promise<void>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: p, path: '/api/events', headers: bearer, agent: false }, (res) => {
      res.once('data', () => void second.stop());
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('the event stream was not ended within 5 s')));
  });
  await ended;
  assert.equal(second.url, null);
});

test('never serves a file outside the renderer directory, however the path is written', async () => {
  const paths = [
    '/../secret.txt',
    '/../../../../etc/passwd',
    '/%2e%2e/secret.txt',
    '/%2E%2E/%2e%2e/etc/passwd',
    '/..%2fsecret.txt',
    '/%2e%2e%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/..%5csecret.txt',
    '/..%2frenderer-evil%2fsecret.txt',
    '/%252e%252e/secret.txt',
    '/secret.txt%00.html',
  ];
  for (const path of paths) {
    const r = await request(path, { headers: bearer });
    assert.ok(r.status === 200 || r.status === 404 || r.status === 400, `${path}: status ${r.status}`);
    assert.doesNotMatch(r.body, new RegExp(SECRET), path);
    assert.doesNotMatch(r.body, /root:.*:0:0:/, path);
    if (r.status === 200) assert.equal(r.body, INDEX, path);
  }
});

test('answers a malformed percent-encoding in a page path with 400', async () => {
  const r = await request('/%E0%A4%A', { headers: bearer });
  assert.equal(r.status, 400);
});

test('serves index.html for unknown paths (single-page app) and for directories', async () => {
  for (const path of ['/settings', '/logs/today', '/assets', '/assets/']) {
    const r = await request(path, { headers: bearer });
    assert.equal(r.status, 200, path);
    assert.equal(r.body, INDEX, path);
    assert.match(r.headers['content-type']!, /^text\/html/, path);
  }
});

test('serves a built asset with its type and long-lived caching, and index.html with no-cache', async () => {
  const js = await request('/assets/app-1234.js', { headers: bearer });
  assert.equal(js.status, 200);
  assert.equal(js.body, 'console.log("app")');
  assert.match(js.headers['content-type']!, /^text\/javascript/);
  assert.match(js.headers['cache-control']!, /immutable/);
  const index = await request('/', { headers: bearer });
  assert.equal(index.headers['cache-control'], 'no-cache');
});

test(
  'answers 404 for a missing file under /assets/ instead of caching index.html there for a year',
  async () => {
    const r = await request('/assets/app-OLD.js', { headers: bearer });
    assert.equal(r.status, 404);
    assert.doesNotMatch(r.headers['cache-control'] ?? '', /immutable/);
  },
);

test('sends CSP, nosniff, frame and referrer headers on pages, API answers and refusals', async () => {
  const replies = [
    await request('/', { headers: bearer }),
    await request('/assets/app-1234.js', { headers: bearer }),
    await request('/'),
    await callApi('status.get', {}),
    await callApi('status.get', {}, { Origin: 'http://evil.example' }),
    await request('/', { headers: { Host: 'evil.example' } }),
  ];
  for (const r of replies) {
    const csp = String(r.headers['content-security-policy'] ?? '');
    assert.match(csp, /default-src 'self'/, String(r.status));
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
  }
});

/**
 * A `gatehouse serve` child process with sharing off: for requests that may
 * take the whole process down, which must not take the test runner with it.
 */
async function serveChild(): Promise<{ admin: URL; token: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-webadmin-serve-'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'main/cli.ts', 'serve', '--json', '--data-dir', dataDir, '--sharing', 'off', '--http-port', '0', '--admin-port', '0', '--socks-port', '0', '--listen', '127.0.0.1'],
    { cwd: join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const ready = await new Promise<{ admin: string; adminUrl: string }>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no ready line within 15 s: ${out}`)), 15_000);
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const line = out.split('\n').slice(0, -1).find((l) => l.includes('"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`serve exited before it was ready: ${out}`));
      });
    });
    return { admin: new URL(ready.admin), token: new URL(ready.adminUrl).searchParams.get('token')!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The status code, or the socket error code when no answer came. */
function statusOf(admin: URL, path: string, method: string, headers: http.OutgoingHttpHeaders, body?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request({ host: admin.hostname, port: admin.port, path, method, agent: false, headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    req.end(body);
  });
}

describe('requests that must not stop the gateway (in a serve child process)', { concurrency: true }, () => {
  test(
    'answers a malformed percent-encoding in the admin cookie with 401, without the token, and keeps running',
    async () => {
      const s = await serveChild();
      try {
        assert.equal(await statusOf(s.admin, '/', 'GET', { Cookie: 'gatehouse_admin=%E0' }), 401);
        assert.equal(await statusOf(s.admin, '/api/call/status.get', 'POST', { Authorization: `Bearer ${s.token}`, ...json }, '{}'), 200);
      } finally {
        await s.stop();
      }
    },
  );

  test(
    'answers a malformed percent-encoding in an API method name with an error, and keeps running',
    async () => {
      const s = await serveChild();
      try {
        const auth = { Authorization: `Bearer ${s.token}`, ...json };
        const answer = await statusOf(s.admin, '/api/call/%E0%A4%A', 'POST', auth, '{}');
        assert.ok(answer === 400 || answer === 404, `answer: ${answer}`);
        assert.equal(await statusOf(s.admin, '/api/call/status.get', 'POST', auth, '{}'), 200);
      } finally {
        await s.stop();
      }
    },
  );
});
