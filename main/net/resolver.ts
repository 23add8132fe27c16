/**
 * Name resolution for every service, done once per request: the addresses a
 * name resolves to are what the policy decides and exactly what the dialer
 * connects to (no second lookup, so a rebinding name cannot slip between the
 * two).
 *
 * A name is asked of the DNS servers for A and AAAA at once (node's
 * dns.Resolver) and the answer kept for the smallest TTL of its records, within
 * [minTtlMs, maxTtlMs]. When the servers do not know the name, or cannot be
 * reached, the system resolver answers instead (getaddrinfo: /etc/hosts, mDNS,
 * search domains), kept for ttlMs, since it gives no TTL. A failure is kept for
 * negativeTtlMs. The cache holds maxEntries names (the least recently used goes
 * first), lookups of one name in flight are shared, and hits and misses are
 * counted for Statistics. (The only cache on the way: node keeps c-ares's own
 * off, nodejs/node#57640.)
 */
import dns from 'node:dns';
import net from 'node:net';
import os from 'node:os';

export type ResolveCallback = (err: NodeJS.ErrnoException | null, addresses: string[]) => void;

export interface ResolverStats {
  /** resolves answered from the cache, a kept failure included */
  hits: number;
  /** resolves that waited for a query, their own or one already in flight */
  misses: number;
  /** names cached now (answers and failures, expired ones not counted) */
  entries: number;
  /** hits / (hits + misses); 0 before the first */
  hitRatio: number;
}

export interface Resolver {
  /** Calls back with every address of `host` (an IP literal is its own address), at once when cached. */
  resolve(host: string, cb: ResolveCallback): void;
  /** Counts since creation; an IP literal is neither a hit nor a miss. */
  stats(): ResolverStats;
}

export type LookupFn = (host: string, cb: (err: NodeJS.ErrnoException | null, addresses: string[]) => void) => void;

export interface ResolverOptions {
  /** how long an answer that carries no TTL is kept: the system resolver's, `lookup`'s (ms; 30 s) */
  ttlMs?: number;
  /** the least and most time a DNS answer is kept, whatever its records' TTL (ms; 1 s and 300 s) */
  minTtlMs?: number;
  maxTtlMs?: number;
  /** how long a failure is kept (ms; 5 s) */
  negativeTtlMs?: number;
  /** names kept at most (4096) */
  maxEntries?: number;
  /** DNS servers to ask ("127.0.0.1:5300", "[::1]:53") instead of the system's */
  servers?: string[];
  /** IPv6 first in an answer; by default when this host has a global IPv6 address */
  preferIPv6?: boolean;
  /** replaces the whole query step, DNS and system resolver (for tests); its answers are kept ttlMs */
  lookup?: LookupFn;
  clock?: () => number;
}

/** RFC 8305 §3: once one family has addresses, wait this long for the other before going on without it. */
const RESOLUTION_DELAY_MS = 50;
/** Per-try timeout and tries per server, so that dead servers give way to the system resolver in seconds. */
const QUERY_TIMEOUT_MS = 2000;
const QUERY_TRIES = 2;
/** c-ares errors that blame the name itself: the system resolver would do no better. */
const NAME_AT_FAULT = new Set(['EBADNAME', 'EBADQUERY', 'ECANCELLED', 'EDESTRUCTION']);
/** c-ares errors that say a server answered: the name does not exist, or has no such records. */
const ANSWERED = new Set(['ENOTFOUND', 'ENODATA']);

/** names asked of the system resolver alone: localhost, *.localhost, *.local (mDNS), names without a dot */
const SYSTEM_ONLY = /^(localhost|[^.]+|.*\.localhost|.*\.local)\.?$/;

const systemLookup: LookupFn = (host, cb) =>
  dns.lookup(host, { all: true, verbatim: true }, (err, list) => cb(err, err ? [] : list.map((a) => a.address)));

interface Answer {
  err: NodeJS.ErrnoException | null;
  addresses: string[];
  ttlMs: number;
}

interface Family {
  err: NodeJS.ErrnoException | null;
  records: dns.RecordWithTtl[];
}

/** Asks A and AAAA at once; calls back once both are in, or RESOLUTION_DELAY_MS after the first with addresses. */
function askBoth(channel: dns.Resolver, name: string, cb: (v6: Family | undefined, v4: Family | undefined) => void): void {
  const got: { 4?: Family; 6?: Family } = {};
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    cb(got[6], got[4]);
  };
  const on = (family: 4 | 6) => (err: NodeJS.ErrnoException | null, records: dns.RecordWithTtl[]) => {
    got[family] = { err, records: err ? [] : records };
    if (got[4] && got[6]) finish();
    else if (!err && records.length > 0 && !timer) timer = setTimeout(finish, RESOLUTION_DELAY_MS);
  };
  channel.resolve4(name, { ttl: true }, on(4));
  channel.resolve6(name, { ttl: true }, on(6));
}

/** Both families, alternating, the preferred one first (RFC 8305 §4, First Address Family Count 1). */
function interleave(first: string[], second: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) {
    if (i < first.length) out.push(first[i]!);
    if (i < second.length) out.push(second[i]!);
  }
  return out;
}

/** RFC 6724 §6 puts IPv6 first only when there is an IPv6 source of matching scope: a global one, 2000::/3. */
function hasGlobalIPv6(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && !a.internal && /^[23]/.test(a.address)));
}

interface Entry {
  until: number;
  addresses: string[];
  err: NodeJS.ErrnoException | null;
}

export function createResolver(opts: ResolverOptions = {}): Resolver {
  const ttl = opts.ttlMs ?? 30_000;
  const minTtl = opts.minTtlMs ?? 1_000;
  const maxTtl = opts.maxTtlMs ?? 300_000;
  const negTtl = opts.negativeTtlMs ?? 5_000;
  const max = opts.maxEntries ?? 4096;
  const clock = opts.clock ?? Date.now;
  const cache = new Map<string, Entry>();
  const inFlight = new Map<string, ResolveCallback[]>();
  let hits = 0;
  let misses = 0;

  const newChannel = () => {
    const channel = new dns.Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
    if (opts.servers) channel.setServers(opts.servers);
    return channel;
  };
  let channel: dns.Resolver | undefined;

  const query = (name: string, cb: (a: Answer) => void): void => {
    if (opts.lookup) return opts.lookup(name, (err, addresses) => cb({ err, addresses, ttlMs: ttl }));
    // names DNS does not serve (RFC 6761 localhost, RFC 6762 .local, a LAN's single-label hosts-file names)
    if (SYSTEM_ONLY.test(name)) return systemLookup(name, (err, addresses) => cb({ err, addresses, ttlMs: ttl }));
    channel ??= newChannel();
    askBoth(channel, name, (v6, v4) => {
      const records = [...(v6?.records ?? []), ...(v4?.records ?? [])];
      if (records.length > 0) {
        const v6s = (v6?.records ?? []).map((r) => r.address);
        const v4s = (v4?.records ?? []).map((r) => r.address);
        const ttlMs = Math.min(maxTtl, Math.max(minTtl, Math.min(...records.map((r) => r.ttl)) * 1000));
        const addresses = (opts.preferIPv6 ?? hasGlobalIPv6()) ? interleave(v6s, v4s) : interleave(v4s, v6s);
        return cb({ err: null, addresses, ttlMs });
      }
      // Neither family has an address, so both have answered.
      const errs = [v4!.err, v6!.err];
      const blamed = errs.find((e) => e && NAME_AT_FAULT.has(e.code ?? ''));
      if (blamed) return cb({ err: blamed, addresses: [], ttlMs: negTtl });
      // Servers that cannot be reached may be ones the system no longer uses (another network):
      // the next query reads the system's afresh.
      if (errs.some((e) => !ANSWERED.has(e?.code ?? ''))) channel = undefined;
      systemLookup(name, (err, addresses) => cb({ err, addresses, ttlMs: ttl }));
    });
  };

  return {
    resolve(host, cb) {
      let name = host.toLowerCase();
      if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
      if (net.isIP(name)) return cb(null, [name]);
      const hit = cache.get(name);
      if (hit && hit.until > clock()) {
        hits++;
        cache.delete(name); // a Map iterates in insertion order: re-inserting makes it the most recently used
        cache.set(name, hit);
        return cb(hit.err, hit.addresses);
      }
      misses++;
      const waiting = inFlight.get(name);
      if (waiting) return void waiting.push(cb);
      inFlight.set(name, [cb]);
      query(name, ({ err, addresses, ttlMs }) => {
        const cbs = inFlight.get(name) ?? [];
        inFlight.delete(name);
        if (!err && addresses.length === 0) err = Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' });
        cache.delete(name);
        while (cache.size > 0 && cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(name, { until: clock() + (err ? negTtl : ttlMs), addresses: err ? [] : addresses, err });
        for (const f of cbs) f(err, err ? [] : addresses);
      });
    },
    stats() {
      const now = clock();
      for (const [name, e] of cache) if (e.until <= now) cache.delete(name);
      return { hits, misses, entries: cache.size, hitRatio: hits + misses === 0 ? 0 : hits / (hits + misses) };
    },
  };
}
