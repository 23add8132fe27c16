/**
 * Name resolution for every service, done once per request: the addresses a
 * name resolves to are what the policy decides and exactly what the dialer
 * connects to (no second lookup, so a rebinding name cannot slip between the
 * two). Answers are cached briefly (the system resolver gives no TTL) and
 * lookups of one name already in flight are shared.
 */
import dns from 'node:dns';
import net from 'node:net';

export type ResolveCallback = (err: NodeJS.ErrnoException | null, addresses: string[]) => void;

export interface Resolver {
  /** Calls back with every address of `host` (an IP literal is its own address), at once when cached. */
  resolve(host: string, cb: ResolveCallback): void;
}

type LookupFn = (host: string, cb: (err: NodeJS.ErrnoException | null, addresses: string[]) => void) => void;

const systemLookup: LookupFn = (host, cb) =>
  dns.lookup(host, { all: true, verbatim: true }, (err, list) => cb(err, err ? [] : list.map((a) => a.address)));

export interface ResolverOptions {
  /** how long an answer is kept (ms) */
  ttlMs?: number;
  /** how long a failure is kept (ms) */
  negativeTtlMs?: number;
  maxEntries?: number;
  lookup?: LookupFn;
  clock?: () => number;
}

interface Entry {
  until: number;
  addresses: string[];
  err: NodeJS.ErrnoException | null;
}

export function createResolver(opts: ResolverOptions = {}): Resolver {
  const ttl = opts.ttlMs ?? 30_000;
  const negTtl = opts.negativeTtlMs ?? 5_000;
  const max = opts.maxEntries ?? 4096;
  const lookup = opts.lookup ?? systemLookup;
  const clock = opts.clock ?? Date.now;
  const cache = new Map<string, Entry>();
  const inFlight = new Map<string, ResolveCallback[]>();
  return {
    resolve(host, cb) {
      let name = host.toLowerCase();
      if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
      if (net.isIP(name)) return cb(null, [name]);
      const hit = cache.get(name);
      if (hit && hit.until > clock()) return cb(hit.err, hit.addresses);
      const waiting = inFlight.get(name);
      if (waiting) return void waiting.push(cb);
      inFlight.set(name, [cb]);
      lookup(name, (err, addresses) => {
        const cbs = inFlight.get(name) ?? [];
        inFlight.delete(name);
        if (!err && addresses.length === 0) err = Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' });
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(name, { until: clock() + (err ? negTtl : ttl), addresses: err ? [] : addresses, err });
        for (const f of cbs) f(err, err ? [] : addresses);
      });
    },
  };
}
