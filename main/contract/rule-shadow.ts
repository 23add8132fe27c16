/**
 * Whether a rule can ever match: a rule above it that catches every request
 * from its sources (such as the first-run "Local network" allow rule) keeps
 * those requests from reaching it. The rule editor and `gatehouse rules add`
 * warn with the same words.
 */
import { cidrContains, parseSourceList, type Cidr } from './addresses.js';
import type { RuleInput } from './rules.js';

function safeSources(sources: readonly string[]): Cidr[] | null {
  try {
    return parseSourceList(sources);
  } catch {
    return null;
  }
}

/** Whether every address of range `inner` lies in `outer`. */
function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.bits >= outer.bits && cidrContains(outer, { family: inner.family, value: inner.base });
}

export interface Shadow {
  /** index of the rule above that catches the requests first */
  index: number;
  /** every request is caught above, or only those from the earlier rule's sources */
  whole: boolean;
}

/**
 * Finds an enabled rule above `rules[index]` that matches every request from
 * its sources whatever the user, host, port and time (such as the first-run
 * "Local network" rule): requests it catches never reach this rule. `whole`
 * when that covers every request this rule could match.
 */
export function shadowOf(rules: readonly RuleInput[], index: number): Shadow | null {
  const r = rules[index];
  if (!r) return null;
  const mine = r.sources.length ? safeSources(r.sources) : [];
  for (let i = 0; i < index; i++) {
    const a = rules[i]!;
    if (!a.enabled) continue;
    if (a.users.length || a.groups.length || a.destinations.length || a.ports.trim() || a.schedule) continue;
    // services: the one above must cover every service this rule could see
    if (a.services.length && (r.services.length === 0 || !r.services.every((s) => a.services.includes(s) || (s.startsWith('mapping:') && a.services.includes('mapping'))))) continue;
    if (a.sources.length === 0) return { index: i, whole: true };
    const theirs = safeSources(a.sources);
    if (!theirs) continue;
    if (mine && mine.length > 0) {
      if (mine.every((m) => theirs.some((t) => cidrWithin(m, t)))) return { index: i, whole: true };
      continue; // some of this rule's sources are outside: it can still match
    }
    return { index: i, whole: false };
  }
  return null;
}
