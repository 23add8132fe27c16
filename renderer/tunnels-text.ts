/**
 * Port mappings, chains and routes in words, for the Mappings and the
 * Chains & routes pages: a mapping's state and where it listens, the quick
 * picks of common services, the services a rule or route names, what a route
 * matches and what it does when its chain is down.
 */
import type { Mapping, MappingProto, RouteInput } from '../main/contract/index.js';

export interface MappingPreset {
  label: string;
  name: string;
  port: number;
  proto: MappingProto;
}

/** Services a LAN client often needs forwarded, as quick picks in the mapping dialog. */
export const MAPPING_PRESETS: readonly MappingPreset[] = [
  { label: 'POP3', name: 'pop3', port: 110, proto: 'tcp' },
  { label: 'IMAP', name: 'imap', port: 143, proto: 'tcp' },
  { label: 'SMTP submission', name: 'smtp', port: 587, proto: 'tcp' },
  { label: 'DNS', name: 'dns', port: 53, proto: 'udp' },
  { label: 'NTP', name: 'ntp', port: 123, proto: 'udp' },
  { label: 'RDP', name: 'rdp', port: 3389, proto: 'tcp' },
];

export function presetText(p: MappingPreset): string {
  return `${p.label} ${p.port}${p.proto === 'udp' ? '/udp' : ''}`;
}

/** "to" with its port replaced by `port`, when it already names a host ("mail.example.com:110" → …:143). */
export function withPort(to: string, port: number): string {
  const t = to.trim();
  if (!t) return t;
  const bracket = /^(\[[^\]]+\])(?::\d*)?$/.exec(t);
  if (bracket) return `${bracket[1]}:${port}`;
  if ((t.match(/:/g) ?? []).length > 1) return t; // a bare IPv6 address: leave it for the user to bracket
  return `${t.replace(/:\d*$/, '')}:${port}`;
}

export type MappingStateWord = 'Running' | 'Stopped' | 'Error';

/** The state as the table shows it, and why a stopped mapping is stopped. */
export function mappingState(m: Mapping, sharing: boolean): { word: MappingStateWord; why: string | null } {
  if (m.state === 'running') return { word: 'Running', why: null };
  if (m.state === 'error') return { word: 'Error', why: m.error ?? 'it cannot listen' };
  if (!m.enabled) return { word: 'Stopped', why: 'disabled' };
  if (!sharing) return { word: 'Stopped', why: 'sharing is off' };
  return { word: 'Stopped', why: null };
}

/** Where a mapping listens, in words: its own address, or the proxies' addresses. */
export function listenText(m: Pick<Mapping, 'listen'>): string {
  return m.listen ? m.listen : 'where the proxies listen';
}

/** A service a rule or route names, in words: "HTTP", "SOCKS", "port mappings", "mapping mail". */
export function serviceText(s: string): string {
  if (s === 'http') return 'HTTP';
  if (s === 'socks') return 'SOCKS';
  if (s === 'mapping') return 'port mappings';
  if (s.startsWith('mapping:')) return `mapping ${s.slice('mapping:'.length)}`;
  return s;
}

/** "HTTP", "HTTP and SOCKS", "HTTP, SOCKS and mapping mail". */
export function servicesText(services: readonly string[]): string {
  const named = services.map(serviceText);
  if (named.length <= 1) return named.join('');
  return `${named.slice(0, -1).join(', ')} and ${named[named.length - 1]}`;
}

function list(items: readonly string[], max = 3): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} +${items.length - max} more`;
}

/** What a route matches: "everything", or who → where (over which services). */
export function routeMatchText(r: Pick<RouteInput, 'users' | 'groups' | 'destinations' | 'services'>): string {
  if (!r.users.length && !r.groups.length && !r.destinations.length && !r.services.length) return 'everything';
  const people = [
    ...r.users.map((u) => (u === '*' ? 'any signed-in user' : u)),
    ...(r.groups.length ? [`${r.groups.length === 1 ? 'group' : 'groups'} ${r.groups.join(', ')}`] : []),
  ];
  const who = people.length ? list(people, 4) : 'everyone';
  const where = r.destinations.length ? list(r.destinations) : 'anywhere';
  const via = r.services.length ? ` (${servicesText(r.services)} only)` : '';
  return `${who} → ${where}${via}`;
}

/** The route's way out: "through corp" or "direct". */
export function routeChainText(chain: string): string {
  return chain.toLowerCase() === 'direct' ? 'direct' : `through ${chain}`;
}

/** What happens when a hop of the route's chain is down. */
export function fallbackText(fallback: string): string {
  const f = fallback.toLowerCase();
  if (f === 'fail') return 'the request fails';
  if (f === 'direct') return 'it goes direct';
  return `it goes through ${fallback}`;
}

/** A whole route in one line: "Through corp: alice → *.corp.example; when corp is down the request fails". */
export function summarizeRoute(r: RouteInput): string {
  const way = routeChainText(r.chain);
  const head = `${way[0]!.toUpperCase()}${way.slice(1)}: ${routeMatchText(r)}`;
  if (r.chain.toLowerCase() === 'direct') return head;
  return `${head}; when ${r.chain} is down ${fallbackText(r.fallback)}`;
}
