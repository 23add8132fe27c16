/**
 * The `gatehouse` command: runs the gateway headless (`serve`) and reads or
 * changes what a running gateway uses (settings, log) straight in the data
 * directory's SQLite file; a running `serve` notices changes within a second.
 */
import './v8-flags.js';
import { parseArgs } from 'node:util';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_SETTINGS,
  GatehouseError,
  SETTING_INFO,
  SETTING_KEYS,
  formatSetting,
  isSettingKey,
  parseSettingText,
  validateSetting,
  type Settings,
} from './contract/index.js';
import { createLogger } from './logger.js';
import { VERSION, adminToken, startRuntime } from './runtime.js';
import { openDb } from './storage/db.js';
import { SettingsRepo, getMeta } from './storage/settings-repo.js';
import { UsersRepo } from './storage/users-repo.js';
import { RulesRepo } from './storage/rules-repo.js';
import { lanAddresses } from './net/addresses.js';
import { LOGS_USAGE, logsCommand } from './cli-logs.js';
import type { Rule } from './contract/index.js';

const USAGE = `Gatehouse ${VERSION}: share this PC's internet connection with the LAN.

Usage:
  gatehouse serve [--data-dir DIR] [--listen ADDR]... [--http-port N] [--socks-port N] [--admin-port N]
                  [--admin-listen ADDR] [--sharing on|off|saved] [--json]
  ${LOGS_USAGE}
  gatehouse settings get [KEY] [--data-dir DIR] [--json]
  gatehouse settings set KEY VALUE [--data-dir DIR]
  gatehouse admin-url [--data-dir DIR]
  gatehouse users list [--json]
  gatehouse users add NAME --password-stdin [--group G]... [--note TEXT] [--disabled]
  gatehouse users passwd NAME --password-stdin
  gatehouse users disable|enable|remove NAME
  gatehouse groups list | add NAME [--member U]... | remove NAME
  gatehouse rules list [--json]
  gatehouse rules add --name NAME [--action allow|deny] [--service http,socks] [--source CIDR,...]
                      [--user U,...] [--group G,...] [--dest HOST|*.DOMAIN|CIDR,...] [--port 25,465-587]
                      [--days mon-fri] [--time 09:00-17:00] [--max-conns N] [--up-kbps N] [--down-kbps N]
                      [--position N] [--disabled] [--note TEXT]
  gatehouse rules remove ID | move ID POSITION | enable ID | disable ID

The data directory defaults to ${defaultDataDir()} (or $GATEHOUSE_DATA_DIR).
Settings keys: ${SETTING_KEYS.join(', ')}.`;

export function defaultDataDir(): string {
  if (process.env.GATEHOUSE_DATA_DIR) return process.env.GATEHOUSE_DATA_DIR;
  // the same folder Electron's app.getPath('userData') gives the desktop app
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Gatehouse');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Gatehouse');
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'Gatehouse');
}

class UsageError extends Error {}

function parsePortFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`--${name}: "${v}" is not a port number (0-65535)`);
  return Number(v);
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      listen: { type: 'string', multiple: true },
      'http-port': { type: 'string' },
      'socks-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-listen': { type: 'string' },
      sharing: { type: 'string', default: 'on' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const sharing = values.sharing;
  if (sharing !== 'on' && sharing !== 'off' && sharing !== 'saved') throw new UsageError(`--sharing: "${sharing}" must be on, off or saved`);
  const overrides: Partial<Settings> = {};
  if (values.listen) overrides.listen = validateSetting('listen', values.listen.flatMap((l) => l.split(',')).map((s) => s.trim()).filter(Boolean));
  const hp = parsePortFlag('http-port', values['http-port']);
  if (hp !== undefined) overrides['http.port'] = hp;
  const ap = parsePortFlag('admin-port', values['admin-port']);
  if (ap !== undefined) overrides['admin.port'] = ap;
  if (values['admin-listen']) overrides['admin.listen'] = validateSetting('admin.listen', values['admin-listen']);
  const sp = parsePortFlag('socks-port', values['socks-port']);
  if (sp !== undefined) overrides['socks.port'] = sp;
  const json = values.json;
  const logger = createLogger({ json });
  const dataDir = values['data-dir'] ?? defaultDataDir();
  const rt = await startRuntime({ dataDir, sharing, overrides, logger });
  const st = rt.status();
  const http = st.services.find((s) => s.name === 'http');
  const socks = st.services.find((s) => s.name === 'socks');
  const adminLink = rt.adminUrl ? `${rt.adminUrl}/?token=${rt.adminToken}` : null;
  if (json) {
    process.stdout.write(
      JSON.stringify({
        event: 'ready',
        http: http?.state === 'running' ? (http.addresses[0] ?? null) : null,
        httpAddresses: http?.addresses ?? [],
        socks: socks?.state === 'running' ? (socks.addresses[0] ?? null) : null,
        socksAddresses: socks?.addresses ?? [],
        admin: rt.adminUrl,
        adminUrl: adminLink,
        sharing: st.sharing,
        dataDir,
        pid: process.pid,
      }) + '\n',
    );
  } else {
    const lines = [`Gatehouse ${VERSION} is running (data in ${dataDir}).`];
    if (http?.state === 'running') {
      const lan = lanAddresses();
      lines.push(`  HTTP/HTTPS proxy: ${http.addresses.join(', ')}`);
      if (socks?.state === 'running') lines.push(`  SOCKS4/5 proxy:   ${socks.addresses.join(', ')}`);
      if (lan.length && http.port) lines.push(`  LAN clients use proxy ${lan[0]} port ${http.port}${socks?.port ? ` (SOCKS: port ${socks.port})` : ''}`);
    } else {
      lines.push(`  Sharing is off: turn it on in the admin page.`);
    }
    for (const svc of st.services) if (svc.state === 'error') lines.push(`  ${svc.label} could not start: ${svc.error}`);
    if (adminLink) lines.push(`  Admin: ${adminLink}`);
    lines.push('  Press Ctrl+C to stop.');
    process.stdout.write(lines.join('\n') + '\n');
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      if (json) process.stdout.write(JSON.stringify({ event: 'stopping', signal: sig }) + '\n');
      else process.stdout.write(`Stopping (${sig})…\n`);
      rt.stop(3000).then(resolve, (err) => {
        logger.error('stop failed', { err: String(err) });
        resolve();
      });
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  if (json) process.stdout.write(JSON.stringify({ event: 'stopped' }) + '\n');
  return 0;
}

function logs(argv: string[]): number {
  return logsCommand(argv, { defaultDataDir, usage: (m) => new UsageError(m), version: VERSION });
}

function settingsCmd(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const [action, key, ...rest] = positionals;
  const db = openDb(values['data-dir'] ?? defaultDataDir());
  try {
    const repo = new SettingsRepo(db);
    if (action === 'get') {
      const s = repo.load();
      if (key !== undefined) {
        if (!isSettingKey(key)) throw new GatehouseError('E_VALIDATION', `unknown setting "${key}" (known: ${SETTING_KEYS.join(', ')})`);
        process.stdout.write((values.json ? JSON.stringify(s[key]) : formatSetting(s[key])) + '\n');
        return 0;
      }
      if (values.json) {
        process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      } else {
        const width = Math.max(...SETTING_KEYS.map((k) => k.length));
        for (const k of SETTING_KEYS) {
          const def = formatSetting(s[k]) === formatSetting(DEFAULT_SETTINGS[k]) ? '' : '   (changed)';
          process.stdout.write(`${k.padEnd(width)}  ${formatSetting(s[k])}${def}\n`);
        }
      }
      return 0;
    }
    if (action === 'set') {
      if (key === undefined || rest.length === 0) throw new UsageError('usage: gatehouse settings set KEY VALUE');
      if (!isSettingKey(key)) throw new GatehouseError('E_VALIDATION', `unknown setting "${key}" (known: ${SETTING_KEYS.join(', ')})`);
      const value = parseSettingText(key, rest.join(' '));
      const s = repo.update({ [key]: value });
      process.stdout.write(`${key} = ${formatSetting(s[key])}\n`);
      return 0;
    }
    if (action === 'describe') {
      for (const k of SETTING_KEYS) process.stdout.write(`${k}\n    ${SETTING_INFO[k].description}\n    e.g. ${SETTING_INFO[k].example}\n`);
      return 0;
    }
    throw new UsageError('usage: gatehouse settings get [KEY] | set KEY VALUE | describe');
  } finally {
    db.close();
  }
}

function adminUrlCmd(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } } });
  const db = openDb(values['data-dir'] ?? defaultDataDir());
  try {
    const s = new SettingsRepo(db).load();
    let base: string | null = null;
    // a running gateway wrote where its admin listens (the port may have been picked at start)
    const running = getMeta(db, 'admin.running');
    if (running) {
      try {
        const r = JSON.parse(running) as { url: string; pid: number };
        process.kill(r.pid, 0);
        base = r.url;
      } catch {
        base = null; // that process is gone
      }
    }
    if (!base) {
      const host = s['admin.listen'].includes(':') ? `[${s['admin.listen']}]` : s['admin.listen'];
      base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${s['admin.port']}`;
    }
    process.stdout.write(`${base}/?token=${adminToken(db)}\n`);
  } finally {
    db.close();
  }
  return 0;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--password-stdin reads the password from standard input: pipe it in, e.g. printf %s "$PW" | gatehouse users add NAME --password-stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // one trailing newline (from echo or a file) is not part of the password
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function usersCmd(argv: string[]): Promise<number> {
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
  const db = openDb(values['data-dir'] ?? defaultDataDir());
  try {
    const users = new UsersRepo(db);
    const needName = () => {
      if (!name) throw new UsageError(`usage: gatehouse users ${action} NAME`);
      return name;
    };
    switch (action) {
      case 'list': {
        const list = users.list();
        if (values.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else if (list.length === 0) process.stdout.write('No users yet. Add one with: gatehouse users add NAME --password-stdin\n');
        else for (const u of list) process.stdout.write(`${u.name.padEnd(20)} ${u.enabled ? 'enabled ' : 'disabled'}  ${u.groups.join(',') || '-'}  ${u.note}\n`);
        return 0;
      }
      case 'add': {
        const n = needName();
        if (!values['password-stdin']) throw new UsageError('give the password on standard input with --password-stdin (never on the command line)');
        const u = await users.add({ name: n, password: await readStdin(), groups: values.group, note: values.note, enabled: !values.disabled });
        process.stdout.write(`added user ${u.name}\n`);
        return 0;
      }
      case 'passwd': {
        const n = needName();
        if (!values['password-stdin']) throw new UsageError('give the new password on standard input with --password-stdin');
        await users.setPassword(n, await readStdin());
        process.stdout.write(`password of ${n} changed\n`);
        return 0;
      }
      case 'disable':
      case 'enable': {
        const u = users.update(needName(), { enabled: action === 'enable' });
        process.stdout.write(`${u.name} ${u.enabled ? 'enabled' : 'disabled'}\n`);
        return 0;
      }
      case 'remove': {
        rulesFor(db, users).assertNotNamed('user', needName());
        users.remove(needName());
        process.stdout.write(`removed user ${name}\n`);
        return 0;
      }
      default:
        throw new UsageError('usage: gatehouse users list | add NAME --password-stdin | passwd NAME --password-stdin | disable NAME | enable NAME | remove NAME');
    }
  } finally {
    db.close();
  }
}

function groupsCmd(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false }, member: { type: 'string', multiple: true }, note: { type: 'string' } },
    allowPositionals: true,
  });
  const [action, name] = positionals;
  const db = openDb(values['data-dir'] ?? defaultDataDir());
  try {
    const users = new UsersRepo(db);
    if (action === 'list') {
      const list = users.listGroups();
      if (values.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      else for (const g of list) process.stdout.write(`${g.name.padEnd(20)} ${g.members.join(',') || '-'}  ${g.note}\n`);
      return 0;
    }
    if (!name) throw new UsageError('usage: gatehouse groups list | add NAME [--member USER]... | remove NAME');
    if (action === 'add') {
      const g = users.addGroup({ name, members: values.member, note: values.note });
      process.stdout.write(`added group ${g.name}\n`);
      return 0;
    }
    if (action === 'remove') {
      rulesFor(db, users).assertNotNamed('group', name);
      users.removeGroup(name);
      process.stdout.write(`removed group ${name}\n`);
      return 0;
    }
    throw new UsageError('usage: gatehouse groups list | add NAME [--member USER]... | remove NAME');
  } finally {
    db.close();
  }
}

function rulesFor(db: ReturnType<typeof openDb>, users: UsersRepo): RulesRepo {
  return new RulesRepo(db, () => ({
    users: new Set(users.list().map((u) => u.name.toLowerCase())),
    groups: new Set(users.listGroups().map((g) => g.name.toLowerCase())),
  }));
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

function rulesCmd(argv: string[]): number {
  // a repeated list flag adds to the list (--dest a --dest b is --dest a,b)
  const list = (v: string[] | undefined) => (v ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      name: { type: 'string' },
      action: { type: 'string', default: 'allow' },
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
  const db = openDb(values['data-dir'] ?? defaultDataDir());
  try {
    const users = new UsersRepo(db);
    const repo = rulesFor(db, users);
    const idArg = (t: string | undefined) => {
      if (!t || !/^\d+$/.test(t)) throw new UsageError(`rules ${action}: give the rule's id (see gatehouse rules list)`);
      return Number(t);
    };
    const num = (flag: string, t: string | undefined) => {
      if (t === undefined) return null;
      if (!/^\d+$/.test(t) || Number(t) < 1) throw new UsageError(`--${flag}: "${t}" is not a whole number above 0`);
      return Number(t);
    };
    switch (action) {
      case 'list': {
        const rules = repo.list();
        const def = new SettingsRepo(db).load()['access.defaultAction'];
        if (values.json) process.stdout.write(JSON.stringify({ rules, defaultAction: def }, null, 2) + '\n');
        else {
          rules.forEach((r, i) => process.stdout.write(describeRule(r, i) + '\n'));
          process.stdout.write(`    everything else: ${def.toUpperCase()}\n`);
        }
        return 0;
      }
      case 'add': {
        if (!values.name) throw new UsageError('rules add: --name is required (e.g. --name "Block mail")');
        if (values.action !== 'allow' && values.action !== 'deny') throw new UsageError(`--action: "${values.action}" must be allow or deny`);
        const services = list(values.service);
        for (const sv of services) if (sv !== 'http' && sv !== 'socks') throw new UsageError(`--service: "${sv}" is not a service (http, socks)`);
        let schedule: Rule['schedule'] = null;
        if (values.days || values.time) {
          const [from, to] = (values.time ?? '00:00-24:00').split('-');
          schedule = { days: values.days ? parseDays(values.days) : [0, 1, 2, 3, 4, 5, 6], from: from ?? '', to: to ?? '' };
        }
        const maxC = num('max-conns', values['max-conns']);
        const up = num('up-kbps', values['up-kbps']);
        const down = num('down-kbps', values['down-kbps']);
        const rule = repo.add(
          {
            name: values.name,
            enabled: !values.disabled,
            action: values.action,
            services: services as Rule['services'],
            sources: list(values.source),
            users: list(values.user),
            groups: list(values.group),
            destinations: list(values.dest),
            ports: values.port ?? '',
            schedule,
            limits: maxC || up || down ? { maxConnections: maxC, upKBps: up, downKBps: down } : null,
            note: values.note ?? '',
          },
          values.position === undefined ? undefined : Math.max(0, Number(values.position) - 1),
        );
        const i = repo.list().findIndex((r) => r.id === rule.id);
        process.stdout.write(`added ${describeRule(rule, i).trim()}\n`);
        return 0;
      }
      case 'remove':
        repo.remove(idArg(a1));
        process.stdout.write(`removed rule ${a1}\n`);
        return 0;
      case 'move': {
        const pos = a2 !== undefined && /^\d+$/.test(a2) ? Number(a2) : NaN;
        if (!Number.isInteger(pos) || pos < 1) throw new UsageError('usage: gatehouse rules move ID POSITION (1 = first)');
        const rules = repo.move(idArg(a1), pos - 1);
        rules.forEach((r, i) => process.stdout.write(describeRule(r, i) + '\n'));
        return 0;
      }
      case 'enable':
      case 'disable': {
        const r = repo.update(idArg(a1), { enabled: action === 'enable' });
        process.stdout.write(`rule ${r.id} "${r.name}" ${r.enabled ? 'enabled' : 'disabled'}\n`);
        return 0;
      }
      default:
        throw new UsageError('usage: gatehouse rules list | add --name NAME ... | remove ID | move ID POSITION | enable ID | disable ID');
    }
  } finally {
    db.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        return await serve(rest);
      case 'logs':
        return logs(rest);
      case 'settings':
        return settingsCmd(rest);
      case 'admin-url':
        return adminUrlCmd(rest);
      case 'users':
        return await usersCmd(rest);
      case 'groups':
        return groupsCmd(rest);
      case 'rules':
        return rulesCmd(rest);
      case '--version':
      case 'version':
        process.stdout.write(VERSION + '\n');
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      process.stderr.write(`gatehouse: ${(err as Error).message}\nRun "gatehouse help" for usage.\n`);
      return 2;
    }
    if (err instanceof GatehouseError) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`gatehouse: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`gatehouse: ${err}\n`);
    process.exitCode = 1;
  },
);
