/**
 * Rules in words: the one-line summary shown in the rule list and the editor
 * ("Deny alice, group staff → *.facebook.com ports 80,443, Mon–Fri 09:00–17:00"),
 * weekday names, the field a server message is about, and the check that warns when a rule above already catches
 * every request a rule could match, so it is never reached.
 */
import type { RuleInput } from '../main/contract/index.js';
import { servicesText } from './tunnels-text.js';

/** Weekdays as the contract numbers them (0 = Sunday), in the order a week is shown (Monday first). */
export const WEEK: Array<{ day: number; short: string; long: string }> = [
  { day: 1, short: 'Mon', long: 'Monday' },
  { day: 2, short: 'Tue', long: 'Tuesday' },
  { day: 3, short: 'Wed', long: 'Wednesday' },
  { day: 4, short: 'Thu', long: 'Thursday' },
  { day: 5, short: 'Fri', long: 'Friday' },
  { day: 6, short: 'Sat', long: 'Saturday' },
  { day: 0, short: 'Sun', long: 'Sunday' },
];

/** "every day", "Mon–Fri", "Sat, Sun", "Mon, Wed, Fri", "Mon–Wed, Sat". */
export function formatDays(days: readonly number[]): string {
  const set = new Set(days);
  if (set.size === 7) return 'every day';
  if (set.size === 0) return 'no day';
  const runs: Array<[number, number]> = []; // indexes into WEEK
  WEEK.forEach((w, i) => {
    if (!set.has(w.day)) return;
    const last = runs[runs.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  });
  return runs
    .map(([a, b]) => {
      if (b - a >= 2) return `${WEEK[a]!.short}–${WEEK[b]!.short}`;
      return b === a ? WEEK[a]!.short : `${WEEK[a]!.short}, ${WEEK[b]!.short}`;
    })
    .join(', ');
}

function list(items: readonly string[], max = 3): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} +${items.length - max} more`;
}

function who(r: RuleInput): string {
  const parts: string[] = [];
  for (const u of r.users) parts.push(u === '*' ? 'any signed-in user' : u);
  if (r.groups.length) parts.push(`${r.groups.length === 1 ? 'group' : 'groups'} ${r.groups.join(', ')}`);
  return parts.length ? list(parts, 4) : 'everyone';
}

/** "the local network", "192.168.1.0/24, 10.0.0.5" */
export function sourcesText(sources: readonly string[]): string {
  const named = sources.map((s) => (s.toLowerCase() === 'local' ? 'the local network' : s === '*' || s.toLowerCase() === 'any' ? 'anywhere' : s));
  return list(named);
}

function from(sources: readonly string[]): string {
  return sources.length === 0 ? '' : ` from ${sourcesText(sources)}`;
}

function portsText(ports: string): string {
  const p = ports.trim();
  if (!p) return '';
  return /^\d+$/.test(p) ? ` port ${p}` : ` ports ${p}`;
}

function limitsText(r: RuleInput): string {
  const l = r.limits;
  if (!l) return '';
  const parts: string[] = [];
  if (l.maxConnections !== null) parts.push(`at most ${l.maxConnections} connection${l.maxConnections === 1 ? '' : 's'}`);
  if (l.upKBps !== null) parts.push(`up ${l.upKBps} KB/s`);
  if (l.downKBps !== null) parts.push(`down ${l.downKBps} KB/s`);
  return parts.length ? `; ${parts.join(', ')} per user` : '';
}

/** The rule in one line: action, who (and from where, over which proxy), where, when, limits. */
export function summarizeRule(r: RuleInput): string {
  const action = r.action === 'allow' ? 'Allow' : 'Deny';
  const via = r.services.length ? ` (${servicesText(r.services)} only)` : '';
  const where = r.destinations.length ? list(r.destinations) : r.ports.trim() ? 'any host' : 'anywhere';
  const when = r.schedule ? `, ${formatDays(r.schedule.days)} ${r.schedule.from}–${r.schedule.to}` : '';
  return `${action} ${who(r)}${from(r.sources)}${via} → ${where}${portsText(r.ports)}${when}${limitsText(r)}`;
}

// where a rule above catches this one's requests: shared with the CLI's warning
export { shadowOf, type Shadow } from '../main/contract/rule-shadow.js';

/** The fields of the rule editor that a server message can be about. */
export type FieldKey = 'name' | 'users' | 'groups' | 'sources' | 'destinations' | 'ports' | 'schedule' | 'limits';

/** The field a server message is about, so the form can mark it and move there. */
export function fieldOfError(message: string): FieldKey | null {
  // the rule's own name comes first ("rule "Block destination port": …") and must not count
  const m = message.replace(/^rule(?: ".*?"| \d+)?: /, '').toLowerCase();
  if (/the name is empty|rule\.name/.test(m)) return 'name';
  if (/unknown user|rule\.users/.test(m)) return 'users';
  if (/unknown group|rule\.groups/.test(m)) return 'groups';
  if (/^source |rule\.sources/.test(m)) return 'sources';
  if (/destination/.test(m)) return 'destinations';
  if (/schedule|weekday/.test(m)) return 'schedule';
  if (/limits/.test(m)) return 'limits';
  if (/port/.test(m)) return 'ports';
  return null;
}
