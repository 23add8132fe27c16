/**
 * Rules: validation (with messages that name the rule, the field and the bad
 * value) and compilation into matchers that run per request without parsing.
 */
import { SourceSet, parseCidr, parseIp, parseSourceList, cidrContains, type IpAddr } from '../contract/addresses.js';
import { parsePortList, portInList, type PortRange } from '../contract/ports.js';
import { GatehouseError, type Rule, type RuleInput, type RuleLimits, type Schedule } from '../contract/index.js';

export interface RuleRequest {
  service: string;
  clientAddr: string;
  user?: string;
  groups?: string[];
  /** the name (or address) the client asked for */
  host: string;
  port: number;
}

export interface CompiledRule {
  rule: Rule;
  /** whether the rule names destinations (it then "names" what it matches, e.g. this PC's own addresses) */
  hasDestinations: boolean;
  /**
   * `addr` is the address being decided (parsed), or null when only the name is known yet.
   * `time` (ms since the epoch) matters only to rules with a schedule. Returns undefined when
   * the answer depends on an address that is not known yet (a range rule and a name).
   */
  matches(r: RuleRequest, addr: IpAddr | null, time: number): boolean | undefined;
}

const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;

function label(r: Pick<RuleInput, 'name'>, index?: number): string {
  return r.name ? `rule "${r.name}"` : index !== undefined ? `rule ${index + 1}` : 'rule';
}

function parseTime(t: string): number | null {
  const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(t.trim());
  if (!m) return t.trim() === '24:00' ? 24 * 60 : null;
  return Number(m[1]) * 60 + Number(m[2]);
}

/** A destination criterion: a name pattern (matched against the name the client gave) or an address range. */
type DestMatcher = { byName: true; test: (host: string) => boolean } | { byName: false; test: (addr: IpAddr) => boolean };

function compileDestination(d: string): DestMatcher | null {
  const t = d.trim().toLowerCase().replace(/\.$/, '');
  if (!t) return null;
  if (t.startsWith('*.')) {
    const base = t.slice(2);
    if (!HOST_RE.test(base)) return null;
    const suffix = '.' + base;
    return { byName: true, test: (h) => h === base || h.endsWith(suffix) };
  }
  const c = parseCidr(t);
  if (c) return { byName: false, test: (a) => cidrContains(c, a) };
  if (t.includes('/') || !HOST_RE.test(t)) return null;
  return { byName: true, test: (h) => h === t };
}

/** Checks a rule; returns it cleaned up (trimmed lists), or throws E_VALIDATION. */
export function validateRule(input: RuleInput, known: { users: Set<string>; groups: Set<string> }, index?: number): RuleInput {
  const who = label(input, index);
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
    if (!compileDestination(d)) fail(`destination "${d}" is not a host name, *.domain wildcard, IP address or CIDR range`);
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
    const from = parseTime(s.from);
    const to = parseTime(s.to);
    if (from === null) fail(`schedule start "${s.from}" is not a time like 08:30`);
    if (to === null) fail(`schedule end "${s.to}" is not a time like 17:00`);
    if (from === to) fail(`the schedule starts and ends at the same time (${s.from})`);
    r.schedule = { days: [...new Set(s.days)].sort(), from: s.from.trim(), to: s.to.trim() };
  }
  if (r.limits && r.limits.maxConnections === null && r.limits.upKBps === null && r.limits.downKBps === null) r.limits = null;
  return r;
}

function scheduleMatcher(s: Schedule): (time: number) => boolean {
  const from = parseTime(s.from)!;
  const to = parseTime(s.to)!;
  const days = new Set(s.days);
  return (time) => {
    const d = new Date(time);
    const minute = d.getHours() * 60 + d.getMinutes();
    if (from < to) return days.has(d.getDay()) && minute >= from && minute < to;
    // wraps past midnight: the part after midnight belongs to the previous day's window
    if (minute >= from) return days.has(d.getDay());
    if (minute < to) return days.has((d.getDay() + 6) % 7);
    return false;
  };
}

export function compileRule(rule: Rule): CompiledRule {
  const services = new Set(rule.services);
  const sources = rule.sources.length ? new SourceSet(parseSourceList(rule.sources)) : null;
  const anyUser = rule.users.includes('*');
  const users = new Set(rule.users.map((u) => u.toLowerCase()));
  const groups = new Set(rule.groups.map((g) => g.toLowerCase()));
  const whoMatters = rule.users.length > 0 || rule.groups.length > 0;
  const dests = rule.destinations.map(compileDestination).filter((m): m is DestMatcher => m !== null);
  const byName = dests.filter((d) => d.byName).map((d) => d.test as (h: string) => boolean);
  const byAddr = dests.filter((d) => !d.byName).map((d) => d.test as (a: IpAddr) => boolean);
  const ports: PortRange[] = rule.ports ? parsePortList(rule.ports) : [];
  const inSchedule = rule.schedule ? scheduleMatcher(rule.schedule) : null;
  return {
    rule,
    hasDestinations: dests.length > 0,
    matches(r, addr, time) {
      if (services.size && !services.has(r.service as never)) return false;
      if (sources && !sources.has(r.clientAddr)) return false;
      if (whoMatters) {
        if (!r.user) return false;
        const u = r.user.toLowerCase();
        const byUser = anyUser || users.has(u);
        const byGroup = !byUser && groups.size > 0 && (r.groups ?? []).some((g) => groups.has(g.toLowerCase()));
        if (!byUser && !byGroup) return false;
      }
      if (ports.length && !portInList(r.port, ports)) return false;
      if (inSchedule && !inSchedule(time)) return false;
      if (dests.length) {
        // names first (decided before any lookup), then ranges on the address being decided
        const h = r.host.toLowerCase().replace(/\.$/, '');
        if (byName.some((m) => m(h))) return true;
        if (byAddr.length === 0) return false;
        const a = addr ?? parseIp(h);
        if (!a) return undefined;
        return byAddr.some((m) => m(a));
      }
      return true;
    },
  };
}

export function hasLimits(l: RuleLimits | null): l is RuleLimits {
  return !!l && (l.maxConnections !== null || l.upKBps !== null || l.downKBps !== null);
}
