/**
 * `gatehouse mappings|chains|routes` (main/cli/tunnels.ts) run as a child
 * process against a data directory in a temp dir, as a user runs them: what
 * they print, what they refuse and with which exit code, and that a hop's
 * password never comes back out. Also the hop-URL reader they use
 * (main/contract/hop-url.ts), and `gatehouse logs --service mapping`.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DEFAULT_SETTINGS, GatehouseError, hopText, parseHopInput, parseHopLines, type Chain, type LogRow, type Mapping, type Route } from '../../main/contract/index.js';
import { openDb } from '../../main/storage/db.js';
import { LogWriter } from '../../main/storage/log-writer.js';
import { runCli } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'gh-cli-tunnels-'));
let n = 0;
const freshDir = () => join(tmp, `d${++n}`);
after(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (dir: string, args: string[], input?: string) => runCli([...args, '--data-dir', dir], { defaultDataDir: join(tmp, 'default'), input });

const SECRET = 'hunter2secret';

/** A port nothing listens on now (the kernel's pick, released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('gatehouse mappings', { concurrency: 4 }, () => {
  test('add, list, disable, enable and remove a mapping; the list shows "as proxies" for an empty listen address', async () => {
    const dir = freshDir();
    const port = await closedPort();
    const add = await cli(dir, ['mappings', 'add', '--name', 'Camera', '--proto', 'tcp', '--port', String(port), '--to', '192.168.1.50:554', '--note', 'RTSP']);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, `added mapping [1] "Camera" tcp port ${port} → 192.168.1.50:554\n`);

    const udp = await cli(dir, ['mappings', 'add', '--name', 'dns', '--proto', 'udp', '--port', String(port), '--to', '[FD00::1]:53', '--listen', '127.0.0.1', '--disabled', '--json']);
    assert.equal(udp.code, 0, udp.stderr);
    const m = JSON.parse(udp.stdout) as Mapping;
    assert.deepEqual({ ...m, id: 0 }, { id: 0, name: 'dns', proto: 'udp', port, to: '[fd00::1]:53', listen: '127.0.0.1', enabled: false, note: '', state: 'stopped', error: null, addresses: [] });

    const list = await cli(dir, ['mappings', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+PROTO\s+LISTEN\s+PORT\s+TO\s+ENABLED\s+STATE$/);
    assert.match(lines[1]!, new RegExp(`^1\\s+Camera\\s+tcp\\s+as proxies\\s+${port}\\s+192\\.168\\.1\\.50:554\\s+yes\\s+stopped$`));
    assert.match(lines[2]!, new RegExp(`^${m.id}\\s+dns\\s+udp\\s+127\\.0\\.0\\.1\\s+${port}\\s+\\[fd00::1\\]:53\\s+no\\s+stopped$`));

    const off = await cli(dir, ['mappings', 'disable', '1']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, 'mapping 1 "Camera" disabled\n');
    const on = await cli(dir, ['mappings', 'enable', String(m.id)]);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, `mapping ${m.id} "dns" enabled\n`);
    const json = JSON.parse((await cli(dir, ['mappings', 'list', '--json'])).stdout) as Mapping[];
    assert.deepEqual(
      json.map((x) => [x.name, x.enabled]),
      [
        ['Camera', false],
        ['dns', true],
      ],
    );

    const rm = await cli(dir, ['mappings', 'remove', '1']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'removed mapping 1\n');
    const again = await cli(dir, ['mappings', 'remove', '1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no mapping with id 1/);
    assert.deepEqual((JSON.parse((await cli(dir, ['mappings', 'list', '--json'])).stdout) as Mapping[]).map((x) => x.name), ['dns']);
  });

  test('a mapping on the HTTP proxy\'s port is refused with E_PORT_IN_USE naming the HTTP proxy, and nothing is saved', async () => {
    const dir = freshDir();
    const port = DEFAULT_SETTINGS['http.port'];
    const r = await cli(dir, ['mappings', 'add', '--name', 'web', '--proto', 'tcp', '--port', String(port), '--to', '10.0.0.2:80']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`port ${port}/tcp .*the HTTP proxy \\(http\\.port\\)`));
    assert.match(r.stderr, /\(E_PORT_IN_USE\)/);
    assert.equal((await cli(dir, ['mappings', 'list'])).stdout, 'No port mappings yet. Add one with: gatehouse mappings add --name NAME --proto tcp --port N --to HOST:PORT\n');
  });

  test('a port another program listens on is refused with E_PORT_IN_USE naming the port, and nothing is saved', async (t) => {
    const dir = freshDir();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    t.after(() => holder.close());
    const { port } = holder.address() as net.AddressInfo;
    const r = await cli(dir, ['mappings', 'add', '--name', 'held', '--proto', 'tcp', '--port', String(port), '--to', '10.0.0.2:80', '--listen', '127.0.0.1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^gatehouse: port ${port}/tcp is already in use by another program; choose another port for mapping "held" \\(E_PORT_IN_USE\\)\n$`));
    assert.deepEqual(JSON.parse((await cli(dir, ['mappings', 'list', '--json'])).stdout), []);
  });

  test('bad arguments are usage errors (exit 2) naming the flag; a bad destination is refused by the API (exit 1) quoting it', async () => {
    const dir = freshDir();
    const proto = await cli(dir, ['mappings', 'add', '--name', 'x', '--proto', 'icmp', '--port', '1', '--to', 'h:1']);
    assert.equal(proto.code, 2);
    assert.match(proto.stderr, /--proto must be tcp or udp \(not "icmp"\)/);
    const port = await cli(dir, ['mappings', 'add', '--name', 'x', '--proto', 'tcp', '--port', '70000', '--to', 'h:1']);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /--port: "70000" is not a whole number from 1 to 65535/);
    const to = await cli(dir, ['mappings', 'add', '--name', 'x', '--proto', 'tcp', '--port', String(await closedPort()), '--to', 'nohostport']);
    assert.equal(to.code, 1);
    assert.match(to.stderr, /the destination "nohostport" is not host:port/);
    const id = await cli(dir, ['mappings', 'enable', 'cam']);
    assert.equal(id.code, 2);
    assert.match(id.stderr, /give the mapping's id/);
  });
});

describe('gatehouse chains', { concurrency: 4 }, () => {
  test('`chains add --hops-stdin` reads the hops (comments and blank lines skipped); no listing shows a password', async () => {
    const dir = freshDir();
    const hops = ['# the office proxy first', `http://alice:${SECRET}@proxy.example:3128`, '', `  socks5://bob%40corp:${encodeURIComponent(SECRET + ':@/')}@[2001:DB8::1]:1080/  `, 'socks4a://carol@gw.lan:1080'].join('\n');
    const add = await cli(dir, ['chains', 'add', 'corp', '--hops-stdin', '--note', 'via the office'], hops);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(
      add.stdout,
      [
        'added chain corp  (via the office)',
        '    1. http://alice@proxy.example:3128  (password set)',
        '    2. socks5://bob%40corp@[2001:db8::1]:1080  (password set)',
        '    3. socks4a://carol@gw.lan:1080',
        '    names are looked up by the last hop (socks4a://carol@gw.lan:1080): this PC sends no DNS query for them',
        '',
      ].join('\n'),
    );

    const list = await cli(dir, ['chains', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, add.stdout.replace('added chain ', ''));
    const json = await cli(dir, ['chains', 'list', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const chains = JSON.parse(json.stdout) as Chain[];
    assert.deepEqual(
      chains[0]!.hops.map((h) => [h.url, h.user, h.hasPassword]),
      [
        ['http://alice@proxy.example:3128', 'alice', true],
        ['socks5://bob%40corp@[2001:db8::1]:1080', 'bob@corp', true],
        ['socks4a://carol@gw.lan:1080', 'carol', false],
      ],
    );
    for (const out of [add, list, json]) {
      assert.ok(!out.stdout.includes(SECRET) && !out.stderr.includes(SECRET), 'a listing shows a password');
      assert.ok(!out.stdout.includes(encodeURIComponent(SECRET + ':@/')));
    }

    const local = await cli(dir, ['chains', 'add', 'home', '--hops-stdin', '--resolve', 'local', '--json'], 'socks5://10.0.0.9:1080\n');
    assert.equal(local.code, 0, local.stderr);
    assert.equal((JSON.parse(local.stdout) as Chain).resolvesAt, 'names are looked up on this PC, and the address is sent to the chain');
  });

  test('a bad hop line fails with its line number and what is wrong, never the password, and saves nothing', async () => {
    const dir = freshDir();
    const r = await cli(dir, ['chains', 'add', 'corp', '--hops-stdin'], `# first\nsocks5://h:1080\nsocks9://alice:${SECRET}@h:1\n`);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'gatehouse: line 3: "socks9://alice:***@h:1": unknown scheme "socks9"; a hop is http://[user:pass@]host:port, socks4a://[user@]host:port or socks5://[user:pass@]host:port\n',
    );
    const noPort = await cli(dir, ['chains', 'add', 'corp', '--hops-stdin'], `http://alice:${SECRET}@proxy.example\n`);
    assert.equal(noPort.code, 1);
    assert.equal(noPort.stderr, 'gatehouse: line 1: "http://alice:***@proxy.example": missing port (write host:port, e.g. proxy.example:1080)\n');
    assert.deepEqual(JSON.parse((await cli(dir, ['chains', 'list', '--json'])).stdout), []);
  });

  test('hops are never taken from the command line, and an empty standard input is a usage error', async () => {
    const dir = freshDir();
    const argv = await cli(dir, ['chains', 'add', 'corp', `socks5://a:${SECRET}@h:1`]);
    assert.equal(argv.code, 2);
    assert.match(argv.stderr, /give the hops on standard input with --hops-stdin/);
    assert.ok(!argv.stderr.includes(SECRET));
    const none = await cli(dir, ['chains', 'add', 'corp', '--hops-stdin'], '# nothing\n\n');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no hops on standard input/);
    const resolve = await cli(dir, ['chains', 'add', 'corp', '--hops-stdin', '--resolve', 'here'], 'socks5://h:1\n');
    assert.equal(resolve.code, 2);
    assert.match(resolve.stderr, /--resolve: "here" must be remote .* or local/);
  });

  test('`chains test` against a hop on a closed local port reports FAILED with exit code 1', async () => {
    const dir = freshDir();
    const port = await closedPort();
    assert.equal((await cli(dir, ['chains', 'add', 'dead', '--hops-stdin'], `socks5://alice:${SECRET}@127.0.0.1:${port}\nhttp://next.example:3128\n`)).code, 0);
    const r = await cli(dir, ['chains', 'test', 'dead']);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^HOP\s+URL\s+RESULT\s+TIME\s+ERROR$/);
    assert.match(lines[1]!, new RegExp(`^1\\s+socks5://alice@127\\.0\\.0\\.1:${port}\\s+FAILED\\s+[\\d.]+ ms\\s+.*ECONNREFUSED`));
    assert.match(lines[2]!, /^2\s+http:\/\/next\.example:3128\s+FAILED\s+-\s+not checked: hop 1 failed$/);
    assert.ok(!r.stdout.includes(SECRET));

    const json = await cli(dir, ['chains', 'test', 'dead', '--json', '--probe', 'example.com:80']);
    assert.equal(json.code, 1);
    const out = JSON.parse(json.stdout) as { ok: boolean; hops: Array<{ hop: number; ok: boolean }> };
    assert.equal(out.ok, false);
    assert.deepEqual(
      out.hops.map((h) => [h.hop, h.ok]),
      [
        [1, false],
        [2, false],
        [3, false],
      ],
    );

    const missing = await cli(dir, ['chains', 'test', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no chain named "nope"/);
  });

  test('`chains remove` removes a chain, and refuses one a route uses', async () => {
    const dir = freshDir();
    assert.equal((await cli(dir, ['chains', 'add', 'corp', '--hops-stdin'], 'http://proxy.example:3128\n')).code, 0);
    assert.equal((await cli(dir, ['routes', 'add', '--chain', 'corp'])).code, 0);
    const used = await cli(dir, ['chains', 'remove', 'corp']);
    assert.equal(used.code, 1);
    assert.match(used.stderr, /chain "corp" is used by the route at position #1/);
    assert.equal((await cli(dir, ['routes', 'remove', '1'])).code, 0);
    const rm = await cli(dir, ['chains', 'remove', 'corp']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'removed chain corp\n');
  });
});

describe('gatehouse routes', { concurrency: 4 }, () => {
  test('add (repeated and comma-separated flags), list in order, move and remove', async () => {
    const dir = freshDir();
    assert.equal((await cli(dir, ['chains', 'add', 'corp', '--hops-stdin'], 'http://proxy.example:3128\n')).code, 0);
    assert.equal((await cli(dir, ['chains', 'add', 'tor', '--hops-stdin'], 'socks5://127.0.0.1:9050\n')).code, 0);
    assert.equal((await cli(dir, ['users', 'add', 'alice', '--password-stdin'], 'pw-alice')).code, 0);

    const a = await cli(dir, ['routes', 'add', '--chain', 'corp', '--dest', '*.example.com,10.0.0.0/8', '--dest', 'intranet', '--user', 'alice', '--service', 'http', '--service', 'mapping:cam,socks', '--fallback', 'tor', '--note', 'office']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^added route 1\n/);
    const b = await cli(dir, ['routes', 'add', '--chain', 'direct', '--dest', 'wiki.example.com', '--position', '1', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const rb = JSON.parse(b.stdout) as Route;
    assert.deepEqual({ ...rb, id: 0 }, { id: 0, chain: 'direct', fallback: 'fail', destinations: ['wiki.example.com'], users: [], groups: [], services: [], enabled: true, note: '' });

    const list = await cli(dir, ['routes', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^POS\s+ID\s+CHAIN\s+FALLBACK\s+DESTINATIONS\s+USERS\s+GROUPS\s+SERVICES\s+ENABLED$/);
    assert.match(lines[1]!, new RegExp(`^1\\s+${rb.id}\\s+direct\\s+fail\\s+wiki\\.example\\.com\\s+\\*\\s+\\*\\s+\\*\\s+yes$`));
    assert.match(lines[2]!, /^2\s+1\s+corp\s+tor\s+\*\.example\.com,10\.0\.0\.0\/8,intranet\s+alice\s+\*\s+http,mapping:cam,socks\s+yes$/);
    assert.match(lines[3]!, /first route that matches wins/);

    const move = await cli(dir, ['routes', 'move', '1', '1']);
    assert.equal(move.code, 0, move.stderr);
    const order = JSON.parse((await cli(dir, ['routes', 'list', '--json'])).stdout) as { routes: Route[] };
    assert.deepEqual(
      order.routes.map((r) => r.id),
      [1, rb.id],
    );

    const off = await cli(dir, ['routes', 'disable', '1']);
    assert.equal(off.stdout, 'route 1 disabled\n');

    const rm = await cli(dir, ['routes', 'remove', '1']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'removed route 1\n');
    const after = JSON.parse((await cli(dir, ['routes', 'list', '--json'])).stdout) as { routes: Route[] };
    assert.deepEqual(
      after.routes.map((r) => r.id),
      [rb.id],
    );
  });

  test('a route through an unknown chain, user or service is refused (exit 1) naming it, and nothing is saved', async () => {
    const dir = freshDir();
    const chain = await cli(dir, ['routes', 'add', '--chain', 'nope', '--dest', 'example.com']);
    assert.equal(chain.code, 1);
    assert.equal(chain.stderr, 'gatehouse: no chain named "nope" (add it first: gatehouse chains add nope --hops-stdin)\n');
    const user = await cli(dir, ['routes', 'add', '--chain', 'direct', '--user', 'mallory']);
    assert.equal(user.code, 1);
    assert.match(user.stderr, /unknown user "mallory"/);
    const service = await cli(dir, ['routes', 'add', '--chain', 'direct', '--service', 'ftp']);
    assert.equal(service.code, 1);
    assert.match(service.stderr, /service "ftp" is not http, socks, mapping or mapping:NAME/);
    assert.equal((await cli(dir, ['routes', 'list'])).stdout, 'No routes: everything goes direct. Add one with: gatehouse routes add --chain NAME [--dest PATTERN]...\n');
    const move = await cli(dir, ['routes', 'move', '1', '0']);
    assert.equal(move.code, 2);
    assert.match(move.stderr, /POSITION: "0" is not a whole number from 1/);
  });
});

describe('gatehouse logs of mappings', () => {
  test('`logs --service mapping --json` finds only the mappings\' rows, each with its chain and mapping', async () => {
    const dir = freshDir();
    const base: Omit<LogRow, 'id'> = {
      ts: Date.UTC(2026, 0, 2, 3, 4, 5),
      service: 'http',
      clientAddr: '192.168.1.20',
      clientPort: 50000,
      user: '',
      method: 'GET',
      url: 'http://example.com/',
      host: 'example.com',
      port: 80,
      status: 200,
      bytesUp: 100,
      bytesDown: 2048,
      packetsUp: 0,
      packetsDown: 0,
      durationMs: 12,
      allowed: true,
      rule: 'default',
      error: '',
      chain: '',
      mapping: '',
    };
    const db = openDb(dir);
    const w = new LogWriter(db, { delayMs: 60_000 });
    w.push(base);
    w.push({ ...base, ts: base.ts + 1000, service: 'mapping', method: 'TCP', url: '192.168.1.50:554', host: '192.168.1.50', port: 554, status: 0, mapping: 'Camera', chain: 'corp' });
    w.push({ ...base, ts: base.ts + 2000, service: 'mapping', method: 'UDP', url: 'udp://[fd00::1]:53', host: 'fd00::1', port: 53, status: 0, packetsUp: 1, packetsDown: 1, mapping: 'dns' });
    w.close();
    db.close();

    const r = await cli(dir, ['logs', '--service', 'mapping', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as LogRow);
    assert.deepEqual(
      rows.map((x) => [x.service, x.method, x.mapping, x.chain]),
      [
        ['mapping', 'TCP', 'Camera', 'corp'],
        ['mapping', 'UDP', 'dns', ''],
      ],
    );
    const table = await cli(dir, ['logs', '--service', 'mapping']);
    assert.equal(table.code, 0, table.stderr);
    assert.ok(!table.stdout.includes('example.com'));
  });
});

describe('hop URLs (contract/hop-url.ts)', () => {
  test('reads the three kinds; decodes user and password; an IPv6 host loses its brackets; socks5h is socks5', () => {
    assert.deepEqual(parseHopInput('http://proxy.example:3128'), { kind: 'http', host: 'proxy.example', port: 3128 });
    assert.deepEqual(parseHopInput('HTTP://Alice:s3cret@10.0.0.1:8080/'), { kind: 'http', host: '10.0.0.1', port: 8080, user: 'Alice', password: 's3cret' });
    assert.deepEqual(parseHopInput('socks4a://bob@gw.lan:1080'), { kind: 'socks4a', host: 'gw.lan', port: 1080, user: 'bob' });
    assert.deepEqual(parseHopInput('socks5://d%C3%A9j%C3%A0%40corp:p%3Aw%40rd%2F@[2001:DB8::1]:1080'), { kind: 'socks5', host: '2001:db8::1', port: 1080, user: 'déjà@corp', password: 'p:w@rd/' });
    assert.deepEqual(parseHopInput('socks5h://h:1'), { kind: 'socks5', host: 'h', port: 1 });
    assert.deepEqual(parseHopLines('# first\r\n\r\nsocks5://h:1\n  # indented comment\nhttp://g:2\n'), [
      { kind: 'socks5', host: 'h', port: 1 },
      { kind: 'http', host: 'g', port: 2 },
    ]);
  });

  test('each bad line is refused with E_VALIDATION saying what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['socks9://h:1', /unknown scheme "socks9"; a hop is http:\/\/\[user:pass@\]host:port, socks4a:\/\/\[user@\]host:port or socks5:\/\/\[user:pass@\]host:port$/],
      ['https://h:443', /unknown scheme "https": a TLS connection to the proxy is not supported/],
      ['proxy.example:3128', /not a proxy URL; write http:\/\//],
      ['http://proxy.example', /missing port/],
      ['socks5://h:0', /port 0 is out of range \(1-65535\)$/],
      ['socks5://h:http', /the port is not a number$/],
      ['socks5://2001:db8::1:1080', /an IPv6 address goes in brackets/],
      ['socks5://[example.com]:1080', /"example.com" in brackets is not an IPv6 address$/],
      ['http://h:1/path', /only scheme:\/\/host:port is allowed/],
      ['http://:1', /missing host$/],
      ['http://h_!:1', /"h_!" is not a host name or address$/],
      ['socks5://%zz@h:1', /the user name has a bad percent-encoding/],
      ['socks5://@h:1', /the user name before "@" is empty$/],
      ['http://a%3Ab:c@h:1', /cannot contain ":"/],
      ['socks4a://bob:pw@h:1', /SOCKS4a has no passwords/],
      [`socks5://${'u'.repeat(256)}@h:1`, /at most 255 bytes each \(RFC 1929\)$/],
    ];
    for (const [line, message] of cases) {
      assert.throws(
        () => parseHopInput(line, 7),
        (err: unknown) => err instanceof GatehouseError && err.code === 'E_VALIDATION' && err.message.startsWith('line 7: "') && message.test(err.message),
        line,
      );
    }
  });

  test('no message shows the password, wherever the line puts it', () => {
    const bad = [
      `http://alice:${SECRET}@h`,
      `http://alice:${SECRET}@h:0`,
      `socks9://alice:${SECRET}@h:1`,
      `socks5://alice:${SECRET}@[zz]:1`,
      `socks5://alice:${SECRET}@h:1/x`,
      `socks4a://alice:${SECRET}@h:1`,
      `socks5://alice:${SECRET}`,
      `socks5://alice:${SECRET}:h:1`,
      `socks5://alice@h:${SECRET}`,
      `alice:${SECRET}@h:1`,
      `alice:${SECRET}`,
    ];
    for (const line of bad) assert.throws(() => parseHopInput(line, 1), (err: Error) => !err.message.includes(SECRET), line);
  });

  test('random lines with a password either parse to it or fail without showing it; a parsed hop reads back from its text', () => {
    // what follows "@": mostly near-valid host:port, some random text
    const tails = fc.oneof(
      fc.tuple(fc.constantFrom('h.example', '10.0.0.1', '[::1]', '[2001:db8::1]', '2001:db8::1', '', '[x]'), fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.string({ maxLength: 4 })), fc.constantFrom('', '/', '/p')).map(([h, p, end]) => `${h}:${p}${end}`),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.constantFrom('http', 'socks4a', 'socks5', 'socks9', ''), fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), tails, (scheme, user, pw, tail) => {
        fc.pre(!tail.includes('@')); // an "@" in the host part is read as the end of the user info
        const password = `${SECRET}${pw}`;
        const line = `${scheme ? `${scheme}://` : ''}${encodeURIComponent(user)}:${encodeURIComponent(password)}@${tail}`;
        try {
          const hop = parseHopInput(line, 1);
          assert.equal(hop.password, password);
          const { password: _pw, ...rest } = hop;
          assert.deepEqual(parseHopInput(hopText({ ...rest, user: rest.user ?? null })), rest);
        } catch (err) {
          assert.ok(err instanceof GatehouseError, String(err));
          assert.ok(!err.message.includes(SECRET), err.message);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
