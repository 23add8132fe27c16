/**
 * Users, logins and rules end to end: curl through the HTTP and SOCKS5
 * proxies with good, bad and missing credentials; deny rules by destination
 * wildcard and by source address; a bandwidth limit measured by a transfer
 * (as a ratio); a connection limit; lock-out and recovery; rules changed by
 * the CLI while the gateway runs; "disconnect now".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startHttpOrigin, type Origin } from '../helpers/origin.js';
import { curl, startGateway, type TestGateway } from '../helpers/gateway.js';
import { EMPTY_RULE, type Rule } from '../../main/contract/index.js';

const execFileP = promisify(execFile);
let origin: Origin;

before(async () => {
  origin = await startHttpOrigin();
});
after(async () => {
  await origin.close();
});

async function call<T>(g: TestGateway, method: string, input: unknown): Promise<T> {
  const r = await g.rt.control.call(method, input);
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.value as T;
}

describe('HTTP proxy logins', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ 'http.login': 'required', 'auth.maxFailures': 3, 'auth.lockoutSeconds': 2.5 });
    await call(g, 'users.add', { name: 'alice', password: 'wonderland' });
  });
  after(() => g.close());

  test('asks for a login with 407 and a Basic challenge when none is given', async () => {
    const r = await curl(['-x', g.proxy, '-D', '-', '-o', '/dev/null', `${origin.url}/no-login`]);
    assert.match(r.stdout, /^HTTP\/1\.1 407 /);
    assert.match(r.stdout, /Proxy-Authenticate: Basic realm="Gatehouse"/i);
  });

  test('lets a good login through and logs the user; a CONNECT tunnel too', async () => {
    const r = await curl(['-x', g.proxy, '-U', 'alice:wonderland', `${origin.url}/with-login`]);
    assert.equal(JSON.parse(r.stdout).path, '/with-login');
    assert.equal(origin.seen.at(-1)!.headers['proxy-authorization'], undefined, 'credentials never reach the origin');
    const row = await g.waitForRow((x) => x.url.endsWith('/with-login'));
    assert.equal(row.user, 'alice');
    await call(g, 'settings.setText', { key: 'http.connectPorts', value: `443,${origin.port}` });
    const t = await curl(['-p', '-x', g.proxy, '-U', 'alice:wonderland', `${origin.url}/tunnel-login`]);
    assert.equal(JSON.parse(t.stdout).path, '/tunnel-login');
  });

  test('answers wrong passwords with 407, then slows the address down with 429 and Retry-After; a known-good login still passes (issue 12.6)', async () => {
    const bad = () => curl(['-x', g.proxy, '--interface', '127.0.0.7', '-U', 'alice:nope', '-s', '-D', '-', '-o', '/dev/null', `${origin.url}/bad`]);
    assert.match((await bad()).stdout, /^HTTP\/1\.1 407 /);
    let throttled = '';
    for (let i = 0; i < 20 && !throttled; i++) {
      const r = (await bad()).stdout;
      if (/^HTTP\/1\.1 429 /.test(r)) throttled = r;
    }
    assert.ok(throttled, 'repeated failures are slowed down');
    const st = await call<{ throttles?: Array<{ clientAddr: string }> }>(g, 'status.get', {});
    assert.ok(st.throttles?.some((t) => t.clientAddr === '127.0.0.7'), 'the throttle shows in the status (the dashboard)');
    assert.match(throttled, /Retry-After: \d+/i);
    const row = await g.waitForRow((x) => x.rule === 'throttle' && x.clientAddr === '127.0.0.7');
    assert.match(row.error, /slowed down/);
    // alice signed in before (the test above): her pair is known good, never held up by the guesses
    const good = await curl(['-x', g.proxy, '--interface', '127.0.0.7', '-U', 'alice:wonderland', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/still-in`]);
    assert.equal(good.stdout, '200', 'a valid user is not locked out by the guesses from their address');
    const other = await curl(['-x', g.proxy, '--interface', '127.0.0.8', '-U', 'alice:wonderland', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/other`]);
    assert.equal(other.stdout, '200', 'another address is not affected');
  });

  test('a disabled user is refused, and enabling them lets them in', async () => {
    await call(g, 'users.update', { name: 'alice', enabled: false });
    const off = await curl(['-x', g.proxy, '--interface', '127.0.0.9', '-U', 'alice:wonderland', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/disabled`]);
    assert.equal(off.stdout, '407');
    await call(g, 'users.update', { name: 'alice', enabled: true });
    const on = await curl(['-x', g.proxy, '--interface', '127.0.0.9', '-U', 'alice:wonderland', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/enabled`]);
    assert.equal(on.stdout, '200');
  });
});

describe('rules', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ 'socks.login': 'optional' });
    await call(g, 'users.add', { name: 'bob', password: 'builder' });
    await call(g, 'groups.add', { name: 'staff', members: ['bob'] });
  });
  after(() => g.close());

  test('a deny rule by destination wildcard refuses HTTP and SOCKS, and the log names the rule', async () => {
    const rule = await call<Rule>(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'No localhost names', action: 'deny', destinations: ['*.localhost', 'localhost'] }, position: 0 });
    try {
      const h = await curl(['-x', g.proxy, '-o', '/dev/null', '-w', '%{http_code}', `http://localhost:${origin.port}/wild`]);
      assert.equal(h.stdout, '403');
      const s = await curl(['--socks5-hostname', `127.0.0.1:${g.socksPort}`, `http://localhost:${origin.port}/wild`]);
      assert.equal(s.code, 97);
      const row = await g.waitForRow((x) => x.service === 'socks5' && !x.allowed);
      assert.equal(row.rule, 'No localhost names');
      const ok = await curl(['-x', g.proxy, '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/by-ip`]);
      assert.equal(ok.stdout, '200', 'other destinations still pass');
    } finally {
      await call(g, 'rules.remove', { id: rule.id });
    }
  });

  test('a rule by source address (client bound to 127.0.0.2) refuses only that client', async () => {
    const rule = await call<Rule>(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'Kiosk', action: 'deny', sources: ['127.0.0.2'] }, position: 0 });
    try {
      const kiosk = await curl(['-x', g.proxy, '--interface', '127.0.0.2', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/kiosk`]);
      assert.equal(kiosk.stdout, '403');
      const other = await curl(['-x', g.proxy, '--interface', '127.0.0.3', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/desk`]);
      assert.equal(other.stdout, '200');
    } finally {
      await call(g, 'rules.remove', { id: rule.id });
    }
  });

  test('a group rule applies to a SOCKS5 user who signed in', async () => {
    const rule = await call<Rule>(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'Staff not on this port', action: 'deny', groups: ['staff'], ports: String(origin.port) }, position: 0 });
    try {
      const bob = await curl(['--socks5', `127.0.0.1:${g.socksPort}`, '-U', 'bob:builder', `${origin.url}/staff`]);
      assert.equal(bob.code, 97);
      const anon = await curl(['--socks5', `127.0.0.1:${g.socksPort}`, `${origin.url}/anon`]);
      assert.equal(anon.code, 0, anon.stderr);
    } finally {
      await call(g, 'rules.remove', { id: rule.id });
    }
  });

  test('"Would this be allowed?" names the deciding rule', async () => {
    const d = await call<{ allow: boolean; rule: string }>(g, 'rules.test', { service: 'http', clientAddr: '192.168.1.9', host: '203.0.113.10', port: 80 });
    assert.deepEqual([d.allow, d.rule], [true, 'Local network']);
    const outside = await call<{ allow: boolean; rule: string }>(g, 'rules.test', { service: 'socks', clientAddr: '8.8.8.8', host: '203.0.113.10', port: 80 });
    assert.deepEqual([outside.allow, outside.rule], [false, 'allowed-sources']);
  });

  test('a bad rule is refused with a message naming the field, and nothing is saved', async () => {
    const before = await call<{ rules: Rule[] }>(g, 'rules.list', {});
    const r = await g.rt.control.call('rules.add', { rule: { ...EMPTY_RULE, name: 'Broken', ports: '90-80' } });
    assert.equal(!r.ok && r.error.code, 'E_VALIDATION');
    assert.match(!r.ok ? r.error.message : '', /rule "Broken": port range "90-80" is reversed/);
    assert.deepEqual(await call(g, 'rules.list', {}), before);
  });

  test('a rule added with the CLI while the gateway runs takes effect within a second', async () => {
    await execFileP(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'rules', 'add', '--name', 'CLI block', '--action', 'deny', '--dest', '127.0.0.1', '--port', String(origin.port), '--position', '1', '--data-dir', g.dataDir]);
    let code = '';
    for (let i = 0; i < 30 && code !== '403'; i++) {
      code = (await curl(['-x', g.proxy, '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/cli`])).stdout;
      if (code !== '403') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(code, '403');
    const list = await call<{ rules: Rule[] }>(g, 'rules.list', {});
    const cliRule = list.rules.find((x) => x.name === 'CLI block')!;
    assert.equal(list.rules[0]!.id, cliRule.id);
    await call(g, 'rules.remove', { id: cliRule.id });
  });
});

describe('limits', () => {
  test('a bandwidth limit slows a transfer to about its rate (ratio against an unlimited one)', async () => {
    const g = await startGateway();
    try {
      const timed = async () => {
        const r = await curl(['-x', g.proxy, '-o', '/dev/null', '-w', '%{speed_download}', `${origin.url}/big?mb=1`]);
        return Number(r.stdout);
      };
      const free = await timed();
      await call(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'Slow lane', limits: { maxConnections: null, upKBps: null, downKBps: 256 } }, position: 0 });
      const slow = await timed();
      // 1 MiB at 256 KiB/s: the limited speed is near 256 KiB/s and far below the free one
      assert.ok(slow < 256 * 1024 * 1.6, `limited speed ${Math.round(slow / 1024)} KiB/s`);
      assert.ok(slow > 256 * 1024 * 0.5, `limited speed ${Math.round(slow / 1024)} KiB/s`);
      assert.ok(free / slow > 3, `free ${Math.round(free / 1024)} KiB/s vs limited ${Math.round(slow / 1024)} KiB/s`);
    } finally {
      await g.close();
    }
  });

  test('a connection limit refuses the connection over it with 429, and "disconnect now" ends a user\'s connections', async () => {
    const g = await startGateway({ 'http.login': 'optional' });
    try {
      await call(g, 'users.add', { name: 'dora', password: 'explorer' });
      await call(g, 'settings.setText', { key: 'http.connectPorts', value: `443,${origin.port}` });
      await call(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'One at a time', users: ['dora'], limits: { maxConnections: 1, upKBps: null, downKBps: null } }, position: 0 });
      const auth = 'Basic ' + Buffer.from('dora:explorer').toString('base64');
      // a tunnel holds dora's one connection open
      const tunnel = await new Promise<import('node:net').Socket>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: g.port, method: 'CONNECT', path: `127.0.0.1:${origin.port}`, headers: { 'Proxy-Authorization': auth } });
        req.on('connect', (res, socket) => (res.statusCode === 200 ? resolve(socket) : reject(new Error(String(res.statusCode)))));
        req.on('error', reject);
        req.end();
      });
      const second = await curl(['-x', g.proxy, '-U', 'dora:explorer', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/second`]);
      assert.equal(second.stdout, '429');
      const live = await call<{ user: string }[]>(g, 'connections.list', {});
      assert.ok(live.some((c) => c.user === 'dora'));
      const closed = new Promise((r) => tunnel.once('close', r));
      const k = await call<{ killed: number }>(g, 'connections.kill', { user: 'dora' });
      assert.equal(k.killed, 1);
      await closed;
      const third = await curl(['-x', g.proxy, '-U', 'dora:explorer', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/third`]);
      assert.equal(third.stdout, '200', 'the slot is free again');
    } finally {
      await g.close();
    }
  });
});

describe('rules and the users they name', () => {
  test('a user or group named by a rule cannot be deleted, and the rule can still be switched off', async () => {
    const g = await startGateway({ 'http.login': 'optional' });
    try {
      await call(g, 'users.add', { name: 'erin', password: 'pw' });
      await call(g, 'groups.add', { name: 'night', members: ['erin'] });
      const rule = await call<Rule>(g, 'rules.add', { rule: { ...EMPTY_RULE, name: 'Erin at night', users: ['erin'], groups: ['night'] } });
      const r = await g.rt.control.call('users.remove', { name: 'erin' });
      assert.match(!r.ok ? r.error.message : '', /user "erin" is named by rule "Erin at night"/);
      const gr = await g.rt.control.call('groups.remove', { name: 'night' });
      assert.match(!gr.ok ? gr.error.message : '', /group "night" is named by rule "Erin at night"/);
      // a rule keeps the names it had, even ones no longer known, when it is edited
      const off = await call<Rule>(g, 'rules.update', { id: rule.id, rule: { enabled: false } });
      assert.equal(off.enabled, false);
    } finally {
      await g.close();
    }
  });

  test('the tester answers for a disabled user, a required sign-in, and an HTTPS tunnel port', async () => {
    const g = await startGateway({ 'http.login': 'required' });
    try {
      await call(g, 'users.add', { name: 'finn', password: 'pw', enabled: false });
      const disabled = await call<{ allow: boolean; reason: string }>(g, 'rules.test', { service: 'http', clientAddr: '10.0.0.2', user: 'finn', host: '203.0.113.10', port: 80 });
      assert.equal(disabled.allow, false);
      assert.match(disabled.reason, /disabled/);
      const anon = await call<{ allow: boolean; rule: string }>(g, 'rules.test', { service: 'http', clientAddr: '10.0.0.2', host: '203.0.113.10', port: 80 });
      assert.deepEqual([anon.allow, anon.rule], [false, 'login']);
      await call(g, 'users.update', { name: 'finn', enabled: true });
      const tunnel = await call<{ allow: boolean; rule: string }>(g, 'rules.test', { service: 'http', clientAddr: '10.0.0.2', user: 'finn', host: '203.0.113.10', port: 8443, method: 'CONNECT' });
      assert.equal(tunnel.allow, true);
      const smtp = await call<{ allow: boolean; rule: string }>(g, 'rules.test', { service: 'http', clientAddr: '10.0.0.2', user: 'finn', host: '203.0.113.10', port: 25, method: 'CONNECT' });
      assert.deepEqual([smtp.allow, smtp.rule], [false, 'blocked-ports']);
      const unresolvable = await call<{ allow: boolean; rule: string; reason: string }>(g, 'rules.test', { service: 'socks', clientAddr: '10.0.0.2', user: 'finn', host: 'no-such-host.invalid', port: 443 });
      assert.deepEqual([unresolvable.allow, unresolvable.rule], [false, 'dns']);
      assert.match(unresolvable.reason, /could not be resolved/);
    } finally {
      await g.close();
    }
  });

  test('users and rules changed with the CLI are announced to open admin pages', async () => {
    const g = await startGateway();
    try {
      const events: string[] = [];
      const off = g.rt.control.subscribe((e) => events.push(e.type));
      await execFileP(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'groups', 'add', 'cli-group', '--data-dir', g.dataDir]);
      for (let i = 0; i < 30 && !events.includes('users'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(events.includes('users'), `events: ${events.join(',')}`);
      await execFileP(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'rules', 'add', '--name', 'From the CLI', '--data-dir', g.dataDir]);
      for (let i = 0; i < 30 && !events.includes('rules'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(events.includes('rules'), `events: ${events.join(',')}`);
      off();
    } finally {
      await g.close();
    }
  });
});
