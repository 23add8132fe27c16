/**
 * Rules compiled into matchers that run per request without parsing. A rule
 * is checked before it is stored (contract/rule-check.ts, which also owns the
 * syntax of destinations and schedule times that is read here); compiling
 * assumes a checked rule.
 */
import { SourceSet, parseIp, parseSourceList, cidrContains, type IpAddr } from '../contract/addresses.js';
import { parsePortList, portInList, type PortRange } from '../contract/ports.js';
import { parseDestination, parseScheduleTime, type Rule, type RuleLimits, type Schedule } from '../contract/index.js';

export interface RuleRequest {
  service: string;
  /** a port mapping's name (service "mapping") */
  mapping?: string;
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

/** A destination criterion: a name pattern (matched against the name the client gave) or an address range. */
type DestMatcher = { byName: true; test: (host: string) => boolean } | { byName: false; test: (addr: IpAddr) => boolean };

function compileDestination(text: string): DestMatcher | null {
  const d = parseDestination(text);
  if (!d) return null;
  switch (d.kind) {
    case 'host': {
      const name = d.host;
      return { byName: true, test: (h) => h === name };
    }
    case 'domain': {
      const { domain } = d;
      const suffix = '.' + domain;
      return { byName: true, test: (h) => h === domain || h.endsWith(suffix) };
    }
    case 'range': {
      const { cidr } = d;
      return { byName: false, test: (a) => cidrContains(cidr, a) };
    }
  }
}

function scheduleMatcher(s: Schedule): (time: number) => boolean {
  const from = parseScheduleTime(s.from)!;
  const to = parseScheduleTime(s.to)!;
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
  const services = new Set<string>(rule.services.map((s) => s.toLowerCase()));
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
      if (services.size && !services.has(r.service) && !(r.mapping && services.has('mapping:' + r.mapping.toLowerCase()))) return false;
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
