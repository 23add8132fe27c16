/**
 * Checking a rule before it is stored, and the syntax of its fields: the
 * destinations (a host name, "*.domain", an IP address or a CIDR range) and
 * the schedule's times. Messages name the rule, the field and the bad value
 * (`rule "Block": destination "a b" is not a host name, …`).
 *
 * It lives in the contract so that storage (which refuses a bad rule), the
 * policy (which compiles the same syntax into matchers, policy/rules.ts) and
 * the renderer share one definition and none imports another.
 */
import { parseCidr, parseSourceList, type Cidr } from './addresses.js';
import { GatehouseError } from './errors.js';
import { parsePortList } from './ports.js';
import type { RuleInput } from './rules.js';

/** A DNS name: dot-separated labels of letters, digits, '-' and '_' (up to 63 each), 253 characters at most. */
const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;

export function isHostName(s: string): boolean {
  return HOST_RE.test(s);
}

/** A rule's destination, read: names are lower case and without a trailing dot. */
export type Destination =
  /** exactly this name */
  | { kind: 'host'; host: string }
  /** "*.example.com": the domain and every name under it */
  | { kind: 'domain'; domain: string }
  /** an IP address or CIDR range (matches IP targets only) */
  | { kind: 'range'; cidr: Cidr };

/** A destination as a rule gives it, or null when it is none of the four forms. */
export function parseDestination(text: string): Destination | null {
  const t = text.trim().toLowerCase().replace(/\.$/, '');
  if (!t) return null;
  if (t.startsWith('*.')) {
    const domain = t.slice(2);
    return HOST_RE.test(domain) ? { kind: 'domain', domain } : null;
  }
  const cidr = parseCidr(t);
  if (cidr) return { kind: 'range', cidr };
  if (t.includes('/') || !HOST_RE.test(t)) return null;
  return { kind: 'host', host: t };
}

/** A schedule time ("8:30", "17:00", "24:00") as minutes after midnight, or null. */
export function parseScheduleTime(text: string): number | null {
  const t = text.trim();
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(t);
  if (!m) return t === '24:00' ? 24 * 60 : null;
  return Number(m[1]) * 60 + Number(m[2]);
}

/** How messages name a rule: by its name, else by its place in the order (1-based). */
function ruleLabel(r: Pick<RuleInput, 'name'>, index?: number): string {
  return r.name ? `rule "${r.name}"` : index !== undefined ? `rule ${index + 1}` : 'rule';
}

/** The user and group names a rule may use (lower case). */
export interface KnownNames {
  users: Set<string>;
  groups: Set<string>;
}

/** Checks a rule; returns it cleaned up (trimmed lists), or throws E_VALIDATION. */
export function validateRule(input: RuleInput, known: KnownNames, index?: number): RuleInput {
  const who = ruleLabel(input, index);
  const fail = (msg: string): never => {
    throw new GatehouseError('E_VALIDATION', `${who}: ${msg}`);
  };
  const clean = (xs: string[]) => xs.map((x) => x.trim()).filter(Boolean);
  const r: RuleInput = {
    ...input,
    name: input.name.trim(),
    sources: clean(input.sources),
    users: clean(input.users),
    groups: clean(input.groups),
    destinations: clean(input.destinations),
    ports: input.ports.trim(),
  };
  if (!r.name) fail('the name is empty');
  for (const s of r.sources) {
    try {
      parseSourceList([s]);
    } catch (e) {
      fail(`source ${(e as Error).message}`);
    }
  }
  for (const u of r.users) if (u !== '*' && !known.users.has(u.toLowerCase())) fail(`unknown user "${u}"`);
  for (const g of r.groups) if (!known.groups.has(g.toLowerCase())) fail(`unknown group "${g}"`);
  for (const d of r.destinations) {
    if (!parseDestination(d)) fail(`destination "${d}" is not a host name, *.domain wildcard, IP address or CIDR range`);
  }
  if (r.ports) {
    try {
      parsePortList(r.ports);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  if (r.schedule) {
    const s = r.schedule;
    if (s.days.length === 0) fail('the schedule has no weekday');
    const from = parseScheduleTime(s.from);
    const to = parseScheduleTime(s.to);
    if (from === null) fail(`schedule start "${s.from}" is not a time like 08:30`);
    if (to === null) fail(`schedule end "${s.to}" is not a time like 17:00`);
    if (from === to) fail(`the schedule starts and ends at the same time (${s.from})`);
    r.schedule = { days: [...new Set(s.days)].sort(), from: s.from.trim(), to: s.to.trim() };
  }
  if (r.limits && r.limits.maxConnections === null && r.limits.upKBps === null && r.limits.downKBps === null) r.limits = null;
  return r;
}
