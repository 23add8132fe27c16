/**
 * IP addresses and CIDR ranges without node's `net` (this module also runs in
 * the renderer). Addresses become a family plus a bigint, so v4 and v6 ranges
 * match the same way; IPv4-mapped IPv6 (::ffff:a.b.c.d, as a dual-stack socket
 * reports a v4 client) is treated as the v4 address.
 */

export interface IpAddr {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
  text: string;
}

export function parseIPv4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

export function parseIPv6(input: string): bigint | null {
  let s = input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return null;
  // an embedded IPv4 in the last 32 bits (RFC 4291 §2.2 form 3) becomes two groups
  const lastColon = s.lastIndexOf(':');
  const lastPart = s.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    const v4 = parseIPv4(lastPart);
    if (v4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const toGroups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = toGroups(halves[0]!);
  const rest = halves.length === 2 ? toGroups(halves[1]!) : [];
  if (!head || !rest) return null;
  const given = head.length + rest.length;
  let groups: number[];
  if (halves.length === 2) {
    if (given > 7) return null;
    groups = [...head, ...new Array(8 - given).fill(0), ...rest];
  } else {
    if (given !== 8) return null;
    groups = head;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

export function parseIp(s: string): IpAddr | null {
  const v4 = parseIPv4(s);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIPv6(s);
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

export function isIp(s: string): boolean {
  return parseIp(s) !== null;
}

export function parseCidr(text: string): Cidr | null {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash >= 0 ? t.slice(0, slash) : t;
  const addr = parseIp(addrText);
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return null;
    bits = Number(b);
    // a mapped v6 prefix such as ::ffff:10.0.0.0/104 becomes its v4 prefix
    if (addr.family === 4 && parseIPv4(addrText) === null) bits -= 96;
    if (bits < 0 || bits > max) return null;
  }
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(max - bits);
  return { family: addr.family, base: addr.value & mask, bits, text: t };
}

export function cidrContains(c: Cidr, a: IpAddr): boolean {
  if (c.family !== a.family) return false;
  const max = c.family === 4 ? 32 : 128;
  const shift = BigInt(max - c.bits);
  return a.value >> shift === c.base >> shift;
}

/** Loopback, RFC 1918, RFC 4193 unique-local and link-local: the "local network". */
export const LOCAL_RANGES = [
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
];

/**
 * Parses a source list ("local", addresses, CIDR ranges) into ranges.
 * Throws an Error naming the entry that is wrong.
 */
export function parseSourceList(entries: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const raw of entries) {
    const e = raw.trim();
    if (e === '') continue;
    if (e.toLowerCase() === 'local') {
      for (const r of LOCAL_RANGES) out.push(parseCidr(r)!);
      continue;
    }
    if (e === '*' || e.toLowerCase() === 'any') {
      out.push(parseCidr('0.0.0.0/0')!, parseCidr('::/0')!);
      continue;
    }
    const c = parseCidr(e);
    if (!c) {
      const hint = e.includes('/') ? 'a malformed CIDR range' : 'not an IP address';
      throw new Error(`"${e}" is ${hint} (use "local", an address, or a range like 192.168.1.0/24)`);
    }
    out.push(c);
  }
  return out;
}

export function matchesAny(ranges: readonly Cidr[], address: string): boolean {
  const a = parseIp(address);
  if (!a) return false;
  for (const r of ranges) if (cidrContains(r, a)) return true;
  return false;
}


/**
 * A set of ranges that remembers its answers: a LAN has few client addresses
 * and every request asks again, so the BigInt arithmetic runs once per address.
 */
export class SourceSet {
  private readonly cache = new Map<string, boolean>();
  constructor(readonly ranges: readonly Cidr[]) {}
  has(address: string): boolean {
    let hit = this.cache.get(address);
    if (hit === undefined) {
      hit = matchesAny(this.ranges, address);
      if (this.cache.size >= 4096) this.cache.clear();
      this.cache.set(address, hit);
    }
    return hit;
  }
}
