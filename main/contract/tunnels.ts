/**
 * Port mappings, upstream chains and routes as data, shared by the storage
 * layer, the gateway, the control API, the CLI and the renderer.
 *
 * A mapping forwards every connection (TCP) or datagram (UDP) on one port of
 * this PC to one fixed destination. A chain is one or more upstream proxies,
 * first hop first (HTTP CONNECT, SOCKS4a, SOCKS5), each reached through the
 * one before. A route says which traffic goes through which chain: ordered,
 * first match wins, and what matches no route goes direct.
 *
 * Hop passwords go in (add, update) and never come out: listings say only
 * that a hop has one.
 */
import { z } from 'zod';
import { isIp } from './addresses.js';
import { DecisionSchema } from './rules.js';
import { parseDestination } from './rule-check.js';
import { GatehouseError } from './errors.js';

export const MAPPING_PROTOS = ['tcp', 'udp'] as const;
export type MappingProto = (typeof MAPPING_PROTOS)[number];

const MappingName = z.string().trim().min(1, 'the name is empty').max(64);

export const MappingInputSchema = z.object({
  name: MappingName,
  proto: z.enum(MAPPING_PROTOS),
  /** the port on this PC that clients are pointed at */
  port: z.number().int().min(1).max(65535),
  /** the fixed destination: "host:port", "[v6]:port" */
  to: z.string().trim().min(1).max(300),
  /** one address of this PC to listen on; "" listens where the proxies do (setting `listen`) */
  listen: z.string().trim().max(100),
  enabled: z.boolean(),
  note: z.string().max(500),
});
export type MappingInput = z.infer<typeof MappingInputSchema>;

export const MappingSchema = MappingInputSchema.extend({
  id: z.number().int(),
  /** the running gateway's view of it (stopped when sharing is off or it is disabled) */
  state: z.enum(['stopped', 'running', 'error']),
  error: z.string().nullable(),
  addresses: z.array(z.string()),
});
export type Mapping = z.infer<typeof MappingSchema>;
/** a mapping as stored */
export type MappingData = MappingInput & { id: number };

export const EMPTY_MAPPING: MappingInput = { name: '', proto: 'tcp', port: 1, to: '', listen: '', enabled: true, note: '' };

export const HOP_KINDS = ['http', 'socks4a', 'socks5'] as const;
export type HopKind = (typeof HOP_KINDS)[number];

export const HopInputSchema = z.object({
  kind: z.enum(HOP_KINDS),
  host: z.string().trim().min(1, 'the host is empty').max(255),
  port: z.number().int().min(1).max(65535),
  user: z.string().max(255).nullable().optional(),
  /** left out on an update: the hop keeps the password it had (same position, same host and user) */
  password: z.string().max(255).nullable().optional(),
});
export type HopInput = z.infer<typeof HopInputSchema>;

export const HopViewSchema = z.object({
  kind: z.enum(HOP_KINDS),
  host: z.string(),
  port: z.number(),
  user: z.string().nullable(),
  hasPassword: z.boolean(),
  /** the hop as a URL without its password: "socks5://alice@proxy:1080" */
  url: z.string(),
});
export type HopView = z.infer<typeof HopViewSchema>;

/** where names are looked up: by the last hop (no DNS leak; the default) or on this PC */
export const CHAIN_RESOLVE = ['remote', 'local'] as const;

const ChainName = z
  .string()
  .trim()
  .min(1, 'the name is empty')
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a chain name is letters, digits, ".", "_" and "-", starting with a letter or digit');

export const ChainInputSchema = z.object({
  name: ChainName,
  hops: z.array(HopInputSchema).min(1, 'a chain needs at least one hop').max(8, 'a chain has at most 8 hops'),
  resolve: z.enum(CHAIN_RESOLVE),
  note: z.string().max(500),
});
export type ChainInput = z.infer<typeof ChainInputSchema>;

export const ChainSchema = z.object({
  name: z.string(),
  hops: z.array(HopViewSchema),
  resolve: z.enum(CHAIN_RESOLVE),
  note: z.string(),
  /** where a destination's name is looked up, in words */
  resolvesAt: z.string(),
});
export type Chain = z.infer<typeof ChainSchema>;

/** a hop as stored and dialled: with its password */
export interface HopData {
  kind: HopKind;
  host: string;
  port: number;
  user: string | null;
  password: string | null;
}
export interface ChainData {
  name: string;
  hops: HopData[];
  resolve: (typeof CHAIN_RESOLVE)[number];
  note: string;
}

export const HopCheckSchema = z.object({ hop: z.number(), url: z.string(), ok: z.boolean(), ms: z.number(), error: z.string().nullable() });
export type HopCheck = z.infer<typeof HopCheckSchema>;

/** "direct": straight to the destination; "fail": refuse when the chain is down; else another chain's name */
export const RouteFallback = z.string().trim().min(1).max(64);

export const RouteInputSchema = z.object({
  /** the chain that carries the traffic, or "direct" (an exception above a broader route) */
  chain: z.string().trim().min(1, 'name the chain').max(64),
  /** when a hop of the chain is down: "fail" (the request fails), "direct", or another chain */
  fallback: RouteFallback,
  destinations: z.array(z.string().max(255)),
  users: z.array(z.string().max(64)),
  groups: z.array(z.string().max(64)),
  /** http, socks, mapping (every mapping) or mapping:NAME; empty: every service */
  services: z.array(z.string().max(80)),
  enabled: z.boolean(),
  note: z.string().max(500),
});
export type RouteInput = z.infer<typeof RouteInputSchema>;
export const RouteSchema = RouteInputSchema.extend({ id: z.number().int() });
export type Route = z.infer<typeof RouteSchema>;

export const EMPTY_ROUTE: RouteInput = { chain: '', fallback: 'fail', destinations: [], users: [], groups: [], services: [], enabled: true, note: '' };

/** Which way a request would go: the rule tester's answer gains this. */
export const RouteChoiceSchema = z.object({
  routeId: z.number().nullable(),
  /** the chain's name; null: direct */
  chain: z.string().nullable(),
  fallback: z.string(),
  /** "through corp (http://proxy:3128 → socks5://tor:9050); names looked up by the last hop" */
  text: z.string(),
});
export type RouteChoice = z.infer<typeof RouteChoiceSchema>;

export const DecisionWithRouteSchema = DecisionSchema.extend({ route: RouteChoiceSchema.optional() });

const Empty = z.object({}).strict();

export const tunnelMethods = {
  'mappings.list': { input: Empty, output: z.array(MappingSchema) },
  'mappings.add': { input: z.object({ mapping: MappingInputSchema.partial({ listen: true, enabled: true, note: true }) }).strict(), output: MappingSchema },
  'mappings.update': { input: z.object({ id: z.number().int(), mapping: MappingInputSchema.partial() }).strict(), output: MappingSchema },
  'mappings.remove': { input: z.object({ id: z.number().int() }).strict(), output: z.object({ removed: z.number() }) },
  'chains.list': { input: Empty, output: z.array(ChainSchema) },
  'chains.add': { input: z.object({ chain: ChainInputSchema.partial({ resolve: true, note: true }) }).strict(), output: ChainSchema },
  'chains.update': { input: z.object({ name: z.string(), chain: ChainInputSchema.partial() }).strict(), output: ChainSchema },
  'chains.remove': { input: z.object({ name: z.string() }).strict(), output: z.object({ removed: z.string() }) },
  /** connects through each hop in turn: latency per hop, or the error; then through the whole chain to `probe` ("host:port") if given */
  'chains.test': { input: z.object({ name: z.string(), probe: z.string().max(300).optional() }).strict(), output: z.object({ hops: z.array(HopCheckSchema) }) },
  'routes.list': { input: Empty, output: z.object({ routes: z.array(RouteSchema) }) },
  'routes.add': { input: z.object({ route: RouteInputSchema.partial({ fallback: true, destinations: true, users: true, groups: true, services: true, enabled: true, note: true }), position: z.number().int().min(0).optional() }).strict(), output: RouteSchema },
  'routes.update': { input: z.object({ id: z.number().int(), route: RouteInputSchema.partial() }).strict(), output: RouteSchema },
  'routes.remove': { input: z.object({ id: z.number().int() }).strict(), output: z.object({ removed: z.number() }) },
  'routes.move': { input: z.object({ id: z.number().int(), position: z.number().int().min(0) }).strict(), output: z.array(RouteSchema) },
} as const;

// ——— parsing and validation, shared by the repositories, the CLI and the UI ———

/** "host:port" or "[v6]:port" → parts; throws E_VALIDATION quoting the text. */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const t = text.trim();
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(t) ?? /^([^\s:/[\]]+):(\d{1,5})$/.exec(t);
  if (!m) throw new GatehouseError('E_VALIDATION', `${what} "${text}" is not host:port (an IPv6 address goes in brackets: [fd00::1]:53)`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new GatehouseError('E_VALIDATION', `${what} "${text}": port ${port} is outside 1-65535`);
  const host = m[1]!;
  if (!isIp(host) && !/^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/.test(host)) {
    throw new GatehouseError('E_VALIDATION', `${what} "${text}": "${host}" is neither a host name nor an IP address`);
  }
  return { host: host.toLowerCase(), port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The ports Gatehouse's own services use, for refusing a mapping on one of them. */
export interface OwnPorts {
  http: number;
  socks: number;
  admin: number;
}

function sameListen(a: string, b: string): boolean {
  return a === '' || b === '' || a === '*' || b === '*' || a === b;
}

/** Validates a mapping against the others and this gateway's own ports; returns it normalized. */
export function validateMapping(input: MappingInput, others: readonly MappingData[], own: OwnPorts): MappingInput {
  const m = MappingInputSchema.parse(input);
  const to = parseHostPort(m.to, `mapping "${m.name}": the destination`);
  if (m.listen !== '' && m.listen !== '*' && !isIp(m.listen.replace(/^\[|\]$/g, ''))) {
    throw new GatehouseError('E_VALIDATION', `mapping "${m.name}": listen address "${m.listen}" is not an IP address (leave it empty to listen where the proxies do)`);
  }
  const lower = m.name.toLowerCase();
  for (const o of others) {
    if (o.name.toLowerCase() === lower) throw new GatehouseError('E_VALIDATION', `a mapping named "${o.name}" already exists`);
    if (o.proto === m.proto && o.port === m.port && sameListen(o.listen, m.listen)) {
      throw new GatehouseError('E_PORT_IN_USE', `port ${m.port}/${m.proto} is already used by mapping "${o.name}"`);
    }
  }
  if (m.proto === 'tcp') {
    const owner = m.port === own.http ? 'the HTTP proxy (http.port)' : m.port === own.socks ? 'the SOCKS proxy (socks.port)' : m.port === own.admin ? 'the web admin (admin.port)' : null;
    if (owner) throw new GatehouseError('E_PORT_IN_USE', `port ${m.port}/tcp is used by ${owner}; choose another port for mapping "${m.name}"`);
  }
  return { ...m, to: formatHostPort(to.host, to.port), listen: m.listen.replace(/^\[|\]$/g, '') };
}

/** "direct", "fail", or a chain name */
export function validateRoute(input: RouteInput, chains: ReadonlySet<string>, known: { users: Set<string>; groups: Set<string> }): RouteInput {
  const r = RouteInputSchema.parse(input);
  const chain = r.chain.toLowerCase();
  if (chain !== 'direct' && !chains.has(chain)) throw new GatehouseError('E_VALIDATION', `no chain named "${r.chain}" (add it first: gatehouse chains add ${r.chain} --hops-stdin)`);
  const fb = r.fallback.toLowerCase();
  if (fb !== 'direct' && fb !== 'fail' && !chains.has(fb)) throw new GatehouseError('E_VALIDATION', `fallback "${r.fallback}" is not "direct", "fail" or a chain's name`);
  if (fb === chain && chain !== 'direct') throw new GatehouseError('E_VALIDATION', `chain "${r.chain}" cannot be its own fallback`);
  for (const u of r.users) if (u !== '*' && !known.users.has(u.toLowerCase())) throw new GatehouseError('E_VALIDATION', `unknown user "${u}"`);
  for (const g of r.groups) if (!known.groups.has(g.toLowerCase())) throw new GatehouseError('E_VALIDATION', `unknown group "${g}"`);
  for (const d of r.destinations) {
    if (!parseDestination(d)) throw new GatehouseError('E_VALIDATION', `destination "${d}" is not a host name, *.domain wildcard, IP address or CIDR range`);
  }
  for (const s of r.services) {
    if (!/^(http|socks|mapping)$/.test(s) && !/^mapping:.+$/.test(s)) throw new GatehouseError('E_VALIDATION', `service "${s}" is not http, socks, mapping or mapping:NAME`);
  }
  return r;
}

/** the hop as text without its password */
export function hopText(h: { kind: HopKind; host: string; port: number; user?: string | null }): string {
  const user = h.user ? `${encodeURIComponent(h.user)}@` : '';
  return `${h.kind}://${user}${formatHostPort(h.host, h.port)}`;
}

/** a host that is this PC by its name or loopback address (its LAN addresses are known only to the gateway) */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127\./.test(h) || h === '::1';
}

export function resolvesAt(c: Pick<ChainData, 'resolve' | 'hops'>): string {
  if (c.resolve === 'local') return 'names are looked up on this PC, and the address is sent to the chain';
  const last = c.hops[c.hops.length - 1];
  if (last && isLoopbackHost(last.host)) return 'the last hop runs on this PC, so names are looked up and decided on this PC, and the address is sent to the chain';
  return `names are looked up by the last hop (${last ? hopText(last) : '?'}): this PC sends no DNS query for them`;
}

export function chainView(c: ChainData): Chain {
  return {
    name: c.name,
    hops: c.hops.map((h) => ({ kind: h.kind, host: h.host, port: h.port, user: h.user, hasPassword: !!h.password, url: hopText(h) })),
    resolve: c.resolve,
    note: c.note,
    resolvesAt: resolvesAt(c),
  };
}
export type DecisionWithRoute = z.infer<typeof DecisionWithRouteSchema>;
