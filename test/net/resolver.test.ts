// The DNS cache every engine resolves through (main/net/resolver.ts), asking a small
// authoritative DNS server on 127.0.0.1 over real UDP, with a fake clock for the TTLs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { createResolver, type Resolver, type ResolverOptions } from '../../main/net/resolver.js';

// RFC 1035 §3.2.2 TYPE values, §4.1.1 RCODE values
const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE_NOERROR = 0;
const RCODE_NXDOMAIN = 3;
/** RFC 1035 §4.1.4: a pointer to the question's name, which starts right after the 12-byte header */
const NAME_POINTER = 0xc00c;

type RrType = 'A' | 'AAAA';
interface Rec {
  address: string;
  ttl: number;
}
/** Records by name; a name not here gets NXDOMAIN, a type it lacks an empty NOERROR (NODATA). */
type Zone = Record<string, Partial<Record<RrType, Rec[]>>>;

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The question of a query (RFC 1035 §4.1.2): its name, QTYPE, and where the question ends. */
function parseQuestion(msg: Buffer): { name: string; qtype: number; end: number } {
  const labels: string[] = [];
  let o = 12;
  while (msg[o] !== 0) {
    const len = msg[o]!;
    labels.push(msg.toString('latin1', o + 1, o + 1 + len));
    o += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), qtype: msg.readUInt16BE(o + 1), end: o + 5 };
}

/** An answer to `query`: its ID and question echoed, then one resource record per address (RFC 1035 §4.1.3). */
function answer(query: Buffer, questionEnd: number, rcode: number, type: number, records: Rec[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  const rd = query.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2); // QR, AA, RD as asked, RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const rrs = records.map((r) => {
    const rdata = type === TYPE_A ? Buffer.from(r.address.split('.').map(Number)) : ipv6Bytes(r.address);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(NAME_POINTER, 0);
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // CLASS IN
    rr.writeUInt32BE(r.ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...rrs]);
}

interface DnsServer {
  /** "127.0.0.1:port", for the resolver's `servers` */
  address: string;
  /** queries received, for one name and/or type */
  count(name?: string, type?: RrType): number;
  /** sends the answers held back so far */
  release(): void;
  close(): Promise<void>;
}

/** An authoritative server for `zone` on a random loopback port; answers to the `hold` type wait for release(). */
async function dnsServer(zone: Zone, hold?: RrType): Promise<DnsServer> {
  const sock = dgram.createSocket('udp4');
  const queries: Array<{ name: string; type: RrType | null }> = [];
  const held: Array<() => void> = [];
  sock.on('message', (msg, from) => {
    const q = parseQuestion(msg);
    const type = q.qtype === TYPE_A ? 'A' : q.qtype === TYPE_AAAA ? 'AAAA' : null;
    queries.push({ name: q.name, type });
    const names = zone[q.name];
    const reply = names ? answer(msg, q.end, RCODE_NOERROR, q.qtype, (type && names[type]) || []) : answer(msg, q.end, RCODE_NXDOMAIN, q.qtype, []);
    const send = () => sock.send(reply, from.port, from.address);
    if (type && type === hold) held.push(send);
    else send();
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return {
    address: `127.0.0.1:${sock.address().port}`,
    count: (name, type) => queries.filter((q) => (!name || q.name === name) && (!type || q.type === type)).length,
    release: () => held.splice(0).forEach((send) => send()),
    close: () => new Promise((r) => sock.close(() => r())),
  };
}

function resolve(r: Resolver, host: string): Promise<{ err: NodeJS.ErrnoException | null; addresses: string[] }> {
  return new Promise((ok) => r.resolve(host, (err, addresses) => ok({ err, addresses })));
}

/** A resolver that asks only `server`, on a clock the test moves. */
function resolverFor(server: DnsServer, opts: ResolverOptions = {}): { r: Resolver; at: (ms: number) => void } {
  let now = 0;
  const r = createResolver({ servers: [server.address], clock: () => now, preferIPv6: true, ...opts });
  return { r, at: (ms) => void (now = ms) };
}

const isLoopback = (a: string) => a === '::1' || a.startsWith('127.');

test('keeps an answer for the smallest TTL among its records, then asks again', async (t) => {
  const dns = await dnsServer({ 'a.test': { A: [{ address: '10.0.0.1', ttl: 60 }, { address: '10.0.0.2', ttl: 20 }], AAAA: [{ address: '2001:db8::1', ttl: 120 }] } });
  t.after(() => dns.close());
  const { r, at } = resolverFor(dns);
  assert.equal((await resolve(r, 'a.test')).addresses.length, 3);
  assert.equal(dns.count(), 2, 'one A and one AAAA query');
  at(19_999);
  assert.equal((await resolve(r, 'a.test')).addresses.length, 3);
  assert.equal(dns.count(), 2, 'within 20 s: no query');
  assert.deepEqual([r.stats().hits, r.stats().misses], [1, 1]);
  at(20_000);
  assert.equal((await resolve(r, 'a.test')).addresses.length, 3);
  assert.equal(dns.count(), 4, 'after 20 s: asked again');
  assert.deepEqual([r.stats().hits, r.stats().misses], [1, 2]);
});

test('a TTL below minTtlMs is kept minTtlMs, and the query after it reaches the server', async (t) => {
  const dns = await dnsServer({ 'zero.test': { A: [{ address: '10.0.0.9', ttl: 0 }] } });
  t.after(() => dns.close());
  const { r, at } = resolverFor(dns, { minTtlMs: 2_000 });
  await resolve(r, 'zero.test');
  at(1_999);
  await resolve(r, 'zero.test');
  assert.equal(dns.count('zero.test', 'A'), 1);
  at(2_000);
  assert.deepEqual((await resolve(r, 'zero.test')).addresses, ['10.0.0.9']);
  assert.equal(dns.count('zero.test', 'A'), 2);
});

test('a TTL above maxTtlMs is kept only maxTtlMs', async (t) => {
  const dns = await dnsServer({ 'long.test': { A: [{ address: '10.0.0.3', ttl: 86_400 }] } });
  t.after(() => dns.close());
  const { r, at } = resolverFor(dns, { maxTtlMs: 300_000 });
  await resolve(r, 'long.test');
  at(299_999);
  await resolve(r, 'long.test');
  assert.equal(dns.count('long.test', 'A'), 1);
  at(300_000);
  await resolve(r, 'long.test');
  assert.equal(dns.count('long.test', 'A'), 2);
});

test('answers with both families, alternating, the preferred family first', async (t) => {
  const zone: Zone = {
    'both.test': {
      A: [{ address: '10.0.0.1', ttl: 60 }, { address: '10.0.0.2', ttl: 60 }],
      AAAA: [{ address: '2001:db8::1', ttl: 60 }],
    },
  };
  const dns = await dnsServer(zone);
  t.after(() => dns.close());
  assert.deepEqual((await resolve(resolverFor(dns, { preferIPv6: true }).r, 'both.test')).addresses, ['2001:db8::1', '10.0.0.1', '10.0.0.2']);
  assert.deepEqual((await resolve(resolverFor(dns, { preferIPv6: false }).r, 'both.test')).addresses, ['10.0.0.1', '2001:db8::1', '10.0.0.2']);
});

test('a name with A records only answers with them (no AAAA is not a failure, and no fallback)', async (t) => {
  const dns = await dnsServer({ 'v4only.test': { A: [{ address: '10.0.0.4', ttl: 60 }] } });
  t.after(() => dns.close());
  const { err, addresses } = await resolve(resolverFor(dns).r, 'v4only.test');
  assert.equal(err, null);
  assert.deepEqual(addresses, ['10.0.0.4']);
});

test('goes on with one family when the other is slow to answer (RFC 8305 §3 resolution delay)', async (t) => {
  const dns = await dnsServer({ 'slow6.test': { A: [{ address: '10.0.0.5', ttl: 60 }], AAAA: [{ address: '2001:db8::5', ttl: 60 }] } }, 'AAAA');
  t.after(() => dns.close());
  const { addresses } = await resolve(resolverFor(dns).r, 'slow6.test');
  assert.deepEqual(addresses, ['10.0.0.5']);
  assert.equal(dns.count('slow6.test', 'AAAA'), 1, 'the AAAA query was asked and is still unanswered');
  dns.release();
});

test('asks the system resolver alone for localhost (RFC 6761; DNS is not asked), and keeps it ttlMs', async (t) => {
  const dns = await dnsServer({});
  t.after(() => dns.close());
  const { r, at } = resolverFor(dns, { ttlMs: 10_000 });
  const { err, addresses } = await resolve(r, 'localhost');
  assert.equal(err, null);
  assert.ok(addresses.length > 0 && addresses.every(isLoopback), `localhost gave ${addresses.join(', ')}`);
  assert.equal(dns.count('localhost'), 0, 'DNS is not asked for localhost');
  at(9_999);
  assert.deepEqual((await resolve(r, 'localhost')).addresses, addresses);
  assert.equal(r.stats().hits, 1);
  at(10_000);
  await resolve(r, 'localhost');
  assert.equal(r.stats().misses, 2);
});

test('falls back to the system resolver for localhost when no DNS server answers (port refused)', async () => {
  const probe = dgram.createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const r = createResolver({ servers: [`127.0.0.1:${port}`] });
  const { err, addresses } = await resolve(r, 'localhost');
  assert.equal(err, null);
  assert.ok(addresses.length > 0 && addresses.every(isLoopback), `localhost gave ${addresses.join(', ')}`);
});

test('keeps a failure negativeTtlMs: a name neither DNS nor the system knows fails again without a query', async (t) => {
  const dns = await dnsServer({});
  t.after(() => dns.close());
  const { r, at } = resolverFor(dns, { negativeTtlMs: 5_000 });
  // RFC 6761 §6.4: no resolver knows .invalid names
  const first = await resolve(r, 'nowhere.invalid');
  assert.ok(first.err?.code, 'fails with a code');
  assert.deepEqual(first.addresses, []);
  assert.equal(dns.count(), 2);
  at(4_999);
  const again = await resolve(r, 'nowhere.invalid');
  assert.equal(again.err, first.err);
  assert.equal(dns.count(), 2);
  at(5_000);
  await resolve(r, 'nowhere.invalid');
  assert.equal(dns.count(), 4);
});

test('ten resolves of one name at once share one query per family', async (t) => {
  const dns = await dnsServer({ 'shared.test': { A: [{ address: '10.0.0.6', ttl: 60 }], AAAA: [{ address: '2001:db8::6', ttl: 60 }] } });
  t.after(() => dns.close());
  const { r } = resolverFor(dns);
  const answers = await Promise.all(Array.from({ length: 10 }, () => resolve(r, 'shared.test')));
  assert.ok(answers.every((a) => a.err === null && a.addresses.join() === '2001:db8::6,10.0.0.6'));
  assert.equal(dns.count('shared.test', 'A'), 1);
  assert.equal(dns.count('shared.test', 'AAAA'), 1);
  assert.deepEqual([r.stats().hits, r.stats().misses], [0, 10]);
});

test('holds maxEntries names, dropping the least recently used', async (t) => {
  const zone: Zone = {};
  for (let i = 1; i <= 5; i++) zone[`n${i}.test`] = { A: [{ address: `10.0.1.${i}`, ttl: 60 }] };
  const dns = await dnsServer(zone);
  t.after(() => dns.close());
  const { r } = resolverFor(dns, { maxEntries: 3 });
  for (const n of ['n1', 'n2', 'n3']) await resolve(r, `${n}.test`);
  await resolve(r, 'n1.test'); // n1 now the most recently used, n2 the least
  await resolve(r, 'n4.test');
  await resolve(r, 'n5.test');
  assert.equal(r.stats().entries, 3);
  await resolve(r, 'n1.test');
  assert.equal(dns.count('n1.test', 'A'), 1, 'n1 stayed');
  await resolve(r, 'n2.test');
  assert.equal(dns.count('n2.test', 'A'), 2, 'n2 was dropped and asked again');
});

test('counts hits and misses and gives the hit ratio; entries leave when they expire', async (t) => {
  const dns = await dnsServer({ 'a.test': { A: [{ address: '10.0.0.1', ttl: 10 }] }, 'b.test': { A: [{ address: '10.0.0.2', ttl: 20 }] } });
  t.after(() => dns.close());
  const { r, at } = resolverFor(dns);
  assert.deepEqual(r.stats(), { hits: 0, misses: 0, entries: 0, hitRatio: 0 });
  await resolve(r, 'a.test');
  await resolve(r, 'a.test');
  await resolve(r, 'b.test');
  await resolve(r, '10.9.9.9');
  assert.deepEqual(r.stats(), { hits: 1, misses: 2, entries: 2, hitRatio: 1 / 3 });
  at(10_000);
  assert.equal(r.stats().entries, 1, 'a.test expired');
});

test('returns IP literals as they are, without a query, counted neither hit nor miss', async (t) => {
  const dns = await dnsServer({});
  t.after(() => dns.close());
  const { r } = resolverFor(dns);
  assert.deepEqual((await resolve(r, '10.1.2.3')).addresses, ['10.1.2.3']);
  assert.deepEqual((await resolve(r, '[2001:DB8::5]')).addresses, ['2001:db8::5']);
  assert.deepEqual((await resolve(r, '::1')).addresses, ['::1']);
  assert.equal(dns.count(), 0);
  assert.deepEqual(r.stats(), { hits: 0, misses: 0, entries: 0, hitRatio: 0 });
});

test('a lookup option replaces the whole query step, its answers kept ttlMs', async () => {
  let calls = 0;
  let now = 0;
  const r = createResolver({ lookup: (host, cb) => (calls++, cb(null, ['192.0.2.7'])), ttlMs: 1_000, clock: () => now });
  assert.deepEqual((await resolve(r, 'fake.test')).addresses, ['192.0.2.7']);
  now = 999;
  await resolve(r, 'fake.test');
  assert.equal(calls, 1);
  now = 1_000;
  await resolve(r, 'fake.test');
  assert.equal(calls, 2);
  assert.ok(net.isIP((await resolve(r, 'fake.test')).addresses[0]!));
});
