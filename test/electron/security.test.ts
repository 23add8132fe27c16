/**
 * What the Electron window may load, run and navigate to (main/electron/security.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  APP_ENTRY_URL,
  CONTENT_SECURITY_POLICY,
  contentTypeFor,
  isAllowedRequest,
  isAppUrl,
  isPermissionAllowed,
  navigationDecision,
  resolveAppFile,
  responseHeaders,
} from '../../main/electron/security.js';

const ROOT = path.resolve('/srv/gatehouse/app/dist/renderer');

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

test('only app://gatehouse/ URLs count as our renderer', () => {
  assert.equal(isAppUrl(APP_ENTRY_URL), true);
  assert.equal(isAppUrl('app://gatehouse/assets/index-1a2b.js'), true);
  for (const url of [
    'app://evil/index.html',
    'app://gatehouse.evil/index.html',
    'app://user:pw@gatehouse/index.html',
    'file:///srv/gatehouse/app/dist/renderer/index.html',
    'https://gatehouse/index.html',
    'about:blank',
    'not a url',
  ]) {
    assert.equal(isAppUrl(url), false, url);
  }
});

test('navigation stays inside the renderer, http(s) goes to the system browser, anything else is refused', () => {
  assert.equal(navigationDecision('app://gatehouse/index.html#/log'), 'allow');
  assert.equal(navigationDecision('https://github.com/gatehouse'), 'external');
  assert.equal(navigationDecision('http://127.0.0.1:8088/'), 'external');
  assert.equal(navigationDecision('file:///etc/passwd'), 'deny');
  assert.equal(navigationDecision('javascript:alert(1)'), 'deny');
  assert.equal(navigationDecision('smb://fileserver/share'), 'deny');
});

test('renderer URLs map to files under the renderer folder; index.html serves the root', () => {
  assert.equal(resolveAppFile(ROOT, 'app://gatehouse/'), path.join(ROOT, 'index.html'));
  assert.equal(resolveAppFile(ROOT, 'app://gatehouse/assets/index-1a2b.js?v=1#x'), path.join(ROOT, 'assets/index-1a2b.js'));
  assert.equal(resolveAppFile(ROOT, 'app://gatehouse/assets/a%20b.css'), path.join(ROOT, 'assets/a b.css'));
});

test('refuses renderer URLs that would leave the renderer folder or are not ours', () => {
  for (const url of [
    'app://gatehouse/../../../etc/passwd',
    'app://gatehouse/%2e%2e/%2e%2e/etc/passwd',
    'app://gatehouse/..%2f..%2f..%2fetc%2fpasswd',
    'app://gatehouse/assets/..%5c..%5csecret',
    'app://gatehouse/index.html%00.png',
    'app://gatehouse/%E0%A4%A',
    'app://other/index.html',
  ]) {
    const file = resolveAppFile(ROOT, url);
    assert.ok(file === null || file.startsWith(ROOT + path.sep), `${url} → ${file}`);
  }
  assert.equal(resolveAppFile(ROOT, 'app://gatehouse/..%2f..%2fetc%2fpasswd'), null);
  assert.equal(resolveAppFile(ROOT, 'app://gatehouse/index.html%00.png'), null);
  assert.equal(resolveAppFile(ROOT, 'app://other/index.html'), null);
});

test('renderer files carry the CSP, nosniff and a content type module scripts accept', () => {
  assert.deepEqual(responseHeaders('/x/index.html'), {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  });
  assert.equal(contentTypeFor('/x/assets/index-1a2b.js'), 'text/javascript; charset=utf-8');
  assert.equal(contentTypeFor('/x/assets/logo.SVG'), 'image/svg+xml');
  assert.equal(contentTypeFor('/x/unknown.bin'), 'application/octet-stream');
});

test('the CSP allows scripts only from our bundle: no inline, no eval, no remote origins', () => {
  const csp = directives(CONTENT_SECURITY_POLICY);
  assert.deepEqual(csp.get('default-src'), ["'self'"]);
  assert.deepEqual(csp.get('script-src'), ["'self'"]);
  assert.deepEqual(csp.get('connect-src'), ["'self'"]);
  assert.deepEqual(csp.get('object-src'), ["'none'"]);
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-eval|https?:|\*/);
});

test("the renderer's meta CSP and the header agree on every directive the meta sets", () => {
  const html = readFileSync(path.resolve('renderer/index.html'), 'utf8');
  const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html)?.[1];
  assert.ok(meta, 'renderer/index.html has a Content-Security-Policy meta tag');
  const header = directives(CONTENT_SECURITY_POLICY);
  for (const [name, values] of directives(meta)) {
    assert.deepEqual(values, header.get(name), `directive ${name} differs between renderer/index.html and security.ts`);
  }
});

test("the window's session lets through only our renderer, data:, blob: and devtools", () => {
  for (const url of [APP_ENTRY_URL, 'data:image/png;base64,AAAA', 'blob:app://gatehouse/123', 'devtools://devtools/bundled/x.html']) {
    assert.equal(isAllowedRequest(url), true, url);
  }
  for (const url of ['https://example.com/', 'http://127.0.0.1:8088/api/events', 'ws://127.0.0.1/', 'file:///etc/passwd', 'app://other/']) {
    assert.equal(isAllowedRequest(url), false, url);
  }
});

test('the page may write the clipboard and nothing else, and only from our renderer', () => {
  assert.equal(isPermissionAllowed('clipboard-sanitized-write', APP_ENTRY_URL), true);
  assert.equal(isPermissionAllowed('clipboard-sanitized-write', 'app://gatehouse'), true);
  assert.equal(isPermissionAllowed('clipboard-sanitized-write', 'https://evil.example/'), false);
  for (const p of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read']) {
    assert.equal(isPermissionAllowed(p, APP_ENTRY_URL), false, p);
  }
});
