/**
 * `gatehouse settings|users|groups|rules|admin-url`: the configuration
 * through the control service, the same methods the UI calls (so the same
 * validation and the same messages). A running gateway notices within a second.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SETTINGS, SETTING_INFO, SETTING_KEYS, formatSetting, unknownSettingError, type Rule } from '../contract/index.js';
import { shadowOf } from '../contract/rule-shadow.js';
import { UsageError, listFlag, readStdin, withClient } from './common.js';

export async function settingsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const [action, key, ...rest] = positionals;
  if (action === 'describe') {
    for (const k of SETTING_KEYS) process.stdout.write(`${k}\n    ${SETTING_INFO[k].description}\n    e.g. ${SETTING_INFO[k].example}\n`);
    return 0;
  }
  if (action === 'set' && (key === undefined || rest.length === 0)) throw new UsageError('usage: gatehouse settings set KEY VALUE');
  if (action !== 'get' && action !== 'set') throw new UsageError('usage: gatehouse settings get [KEY] | set KEY VALUE | describe');
  return withClient(values['data-dir'], async (api) => {
    if (action === 'set') {
      const s = await api.call('settings.setText', { key: key!, value: rest.join(' ') });
      process.stdout.write(`${key} = ${formatSetting(s[key as keyof typeof s])}\n`);
      return 0;
    }
    const entries = await api.call('settings.describe', {});
    if (key !== undefined) {
      const e = entries.find((x) => x.key === key);
      if (!e) throw unknownSettingError(key);
      process.stdout.write((values.json ? JSON.stringify(e.value) : e.text) + '\n');
      return 0;
    }
    if (values.json) {
      process.stdout.write(JSON.stringify(Object.fromEntries(entries.map((e) => [e.key, e.value])), null, 2) + '\n');
      return 0;
    }
    const width = Math.max(...entries.map((e) => e.key.length));
    for (const e of entries) {
      const changed = e.text === formatSetting(DEFAULT_SETTINGS[e.key as keyof typeof DEFAULT_SETTINGS]) ? '' : '   (changed)';
      process.stdout.write(`${e.key.padEnd(width)}  ${e.text}${changed}\n`);
    }
    return 0;
  });
}

export function adminUrlCmd(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } } });
  return withClient(values['data-dir'], async (_api, dir) => {
    process.stdout.write(`${dir.adminLink()}\n`);
    return 0;
  });
}

export async function usersCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      'password-stdin': { type: 'boolean', default: false },
      group: { type: 'string', multiple: true },
      note: { type: 'string' },
      disabled: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const [action, name] = positionals;
  const usage = 'usage: gatehouse users list | add NAME --password-stdin | passwd NAME --password-stdin | disable NAME | enable NAME | remove NAME';
  if (!['list', 'add', 'passwd', 'disable', 'enable', 'remove'].includes(action ?? '')) throw new UsageError(usage);
  if (action !== 'list' && !name) throw new UsageError(`usage: gatehouse users ${action} NAME`);
  if ((action === 'add' || action === 'passwd') && !values['password-stdin']) {
    throw new UsageError(action === 'add' ? 'give the password on standard input with --password-stdin (never on the command line)' : 'give the new password on standard input with --password-stdin');
  }
  const password = action === 'add' || action === 'passwd' ? await readStdin() : '';
  return withClient(values['data-dir'], async (api) => {
    switch (action) {
      case 'list': {
        const list = await api.call('users.list', {});
        if (values.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else if (list.length === 0) process.stdout.write('No users yet. Add one with: gatehouse users add NAME --password-stdin\n');
        else for (const u of list) process.stdout.write(`${u.name.padEnd(20)} ${u.enabled ? 'enabled ' : 'disabled'}  ${u.groups.join(',') || '-'}  ${u.note}\n`);
        return 0;
      }
      case 'add': {
        const u = await api.call('users.add', { name: name!, password, groups: values.group, note: values.note, enabled: !values.disabled });
        process.stdout.write(`added user ${u.name}\n`);
        return 0;
      }
      case 'passwd':
        await api.call('users.setPassword', { name: name!, password });
        process.stdout.write(`password of ${name} changed\n`);
        return 0;
      case 'disable':
      case 'enable': {
        const u = await api.call('users.update', { name: name!, enabled: action === 'enable' });
        process.stdout.write(`${u.name} ${u.enabled ? 'enabled' : 'disabled'}\n`);
        return 0;
      }
      default:
        await api.call('users.remove', { name: name! });
        process.stdout.write(`removed user ${name}\n`);
        return 0;
    }
  });
}

export async function groupsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false }, member: { type: 'string', multiple: true }, note: { type: 'string' } },
    allowPositionals: true,
  });
  const [action, name] = positionals;
  const usage = 'usage: gatehouse groups list | add NAME [--member USER]... | remove NAME';
  if (action !== 'list' && (!name || (action !== 'add' && action !== 'remove'))) throw new UsageError(usage);
  return withClient(values['data-dir'], async (api) => {
    if (action === 'list') {
      const list = await api.call('groups.list', {});
      if (values.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      else for (const g of list) process.stdout.write(`${g.name.padEnd(20)} ${g.members.join(',') || '-'}  ${g.note}\n`);
      return 0;
    }
    if (action === 'add') {
      const g = await api.call('groups.add', { name: name!, members: values.member, note: values.note });
      process.stdout.write(`added group ${g.name}\n`);
      return 0;
    }
    await api.call('groups.remove', { name: name! });
    process.stdout.write(`removed group ${name}\n`);
    return 0;
  });
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** "mon-fri", "sat,sun", "0-6" → weekday numbers (0 = Sunday) */
function parseDays(text: string): number[] {
  const out = new Set<number>();
  const day = (t: string) => {
    const i = DAY_NAMES.indexOf(t.slice(0, 3).toLowerCase());
    const n = i >= 0 ? i : /^[0-6]$/.test(t) ? Number(t) : -1;
    if (n < 0) throw new UsageError(`--days: "${t}" is not a weekday (sun…sat or 0…6)`);
    return n;
  };
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [a, b] = part.split('-');
    if (b === undefined) out.add(day(a!));
    else for (let d = day(a!), end = day(b), i = 0; i < 7; i++, d = (d + 1) % 7) {
      out.add(d);
      if (d === end) break;
    }
  }
  return [...out].sort();
}

function describeRule(r: Rule, i: number): string {
  const parts = [`${String(i + 1).padStart(2)}. [${r.id}] ${r.enabled ? '' : '(off) '}${r.action.toUpperCase()} "${r.name}"`];
  if (r.services.length) parts.push(`services ${r.services.join(',')}`);
  if (r.sources.length) parts.push(`from ${r.sources.join(',')}`);
  if (r.users.length) parts.push(`users ${r.users.join(',')}`);
  if (r.groups.length) parts.push(`groups ${r.groups.join(',')}`);
  if (r.destinations.length) parts.push(`to ${r.destinations.join(',')}`);
  if (r.ports) parts.push(`ports ${r.ports}`);
  if (r.schedule) parts.push(`${r.schedule.days.map((d) => DAY_NAMES[d]).join(',')} ${r.schedule.from}-${r.schedule.to}`);
  if (r.limits) {
    const l = r.limits;
    if (l.maxConnections) parts.push(`max ${l.maxConnections} conns`);
    if (l.upKBps) parts.push(`up ${l.upKBps} KiB/s`);
    if (l.downKBps) parts.push(`down ${l.downKBps} KiB/s`);
  }
  return parts.join('  ');
}

/** The rule editor's warning, in the same words: a rule above catches this one's requests. */
function shadowWarning(rules: Rule[], i: number): string | null {
  const s = rules[i]?.enabled ? shadowOf(rules, i) : null;
  if (!s) return null;
  const above = rules[s.index]!;
  const what = s.whole ? 'every request this rule could match' : `every request from ${above.sources.join(', ')}`;
  return `warning: rule ${s.index + 1} "${above.name}" above catches ${what}, so ${s.whole ? 'this rule is never reached' : 'those never reach this rule'}. Move it above that rule: gatehouse rules move ${rules[i]!.id} ${s.index + 1}\n`;
}

export async function rulesCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      name: { type: 'string' },
      action: { type: 'string', default: 'allow' },
      // a repeated list flag adds to the list (--dest a --dest b is --dest a,b)
      service: { type: 'string', multiple: true },
      source: { type: 'string', multiple: true },
      user: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      dest: { type: 'string', multiple: true },
      port: { type: 'string' },
      days: { type: 'string' },
      time: { type: 'string' },
      'max-conns': { type: 'string' },
      'up-kbps': { type: 'string' },
      'down-kbps': { type: 'string' },
      position: { type: 'string' },
      disabled: { type: 'boolean', default: false },
      note: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [action, a1, a2] = positionals;
  const idArg = (t: string | undefined) => {
    if (!t || !/^\d+$/.test(t)) throw new UsageError(`rules ${action}: give the rule's id (see gatehouse rules list)`);
    return Number(t);
  };
  const num = (flag: string, t: string | undefined) => {
    if (t === undefined) return null;
    if (!/^\d+$/.test(t) || Number(t) < 1) throw new UsageError(`--${flag}: "${t}" is not a whole number above 0`);
    return Number(t);
  };
  const list = (rules: Rule[]) => rules.forEach((r, i) => process.stdout.write(describeRule(r, i) + '\n'));
  switch (action) {
    case 'list':
      return withClient(values['data-dir'], async (api) => {
        const { rules, defaultAction } = await api.call('rules.list', {});
        if (values.json) process.stdout.write(JSON.stringify({ rules, defaultAction }, null, 2) + '\n');
        else {
          list(rules);
          process.stdout.write(`    everything else: ${defaultAction.toUpperCase()}\n`);
        }
        return 0;
      });
    case 'add': {
      if (!values.name) throw new UsageError('rules add: --name is required (e.g. --name "Block mail")');
      if (values.action !== 'allow' && values.action !== 'deny') throw new UsageError(`--action: "${values.action}" must be allow or deny`);
      const services = listFlag(values.service);
      for (const sv of services) if (sv !== 'http' && sv !== 'socks') throw new UsageError(`--service: "${sv}" is not a service (http, socks)`);
      let schedule: Rule['schedule'] = null;
      if (values.days || values.time) {
        const [from, to] = (values.time ?? '00:00-24:00').split('-');
        schedule = { days: values.days ? parseDays(values.days) : [0, 1, 2, 3, 4, 5, 6], from: from ?? '', to: to ?? '' };
      }
      const maxC = num('max-conns', values['max-conns']);
      const up = num('up-kbps', values['up-kbps']);
      const down = num('down-kbps', values['down-kbps']);
      // as in the rule editor, a new rule goes first: below the allow-all "Local network" rule a deny rule never matches
      const position = values.position === undefined ? 0 : Math.max(0, (num('position', values.position) ?? 1) - 1);
      return withClient(values['data-dir'], async (api) => {
        const rule = await api.call('rules.add', {
          rule: {
            name: values.name!,
            enabled: !values.disabled,
            action: values.action as Rule['action'],
            services: services as Rule['services'],
            sources: listFlag(values.source),
            users: listFlag(values.user),
            groups: listFlag(values.group),
            destinations: listFlag(values.dest),
            ports: values.port ?? '',
            schedule,
            limits: maxC || up || down ? { maxConnections: maxC, upKBps: up, downKBps: down } : null,
            note: values.note ?? '',
          },
          position,
        });
        const { rules } = await api.call('rules.list', {});
        const i = rules.findIndex((r) => r.id === rule.id);
        process.stdout.write(`added ${describeRule(rule, i).trim()}\n`);
        const warning = shadowWarning(rules, i);
        if (warning) process.stderr.write(warning);
        return 0;
      });
    }
    case 'remove':
      return withClient(values['data-dir'], async (api) => {
        await api.call('rules.remove', { id: idArg(a1) });
        process.stdout.write(`removed rule ${a1}\n`);
        return 0;
      });
    case 'move': {
      const pos = a2 !== undefined && /^\d+$/.test(a2) ? Number(a2) : NaN;
      if (!Number.isInteger(pos) || pos < 1) throw new UsageError('usage: gatehouse rules move ID POSITION (1 = first)');
      const id = idArg(a1);
      return withClient(values['data-dir'], async (api) => {
        list(await api.call('rules.move', { id, position: pos - 1 }));
        return 0;
      });
    }
    case 'enable':
    case 'disable': {
      const id = idArg(a1);
      return withClient(values['data-dir'], async (api) => {
        const r = await api.call('rules.update', { id, rule: { enabled: action === 'enable' } });
        process.stdout.write(`rule ${r.id} "${r.name}" ${r.enabled ? 'enabled' : 'disabled'}\n`);
        return 0;
      });
    }
    default:
      throw new UsageError('usage: gatehouse rules list | add --name NAME ... | remove ID | move ID POSITION | enable ID | disable ID');
  }
}
