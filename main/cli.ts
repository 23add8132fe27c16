/**
 * The `gatehouse` command: runs the gateway headless (`serve`) and reads or
 * changes what a running gateway uses (settings, log) straight in the data
 * directory's SQLite file; a running `serve` notices changes within a second.
 */
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
import { recentLog } from './storage/log-writer.js';
import { SettingsRepo, getMeta } from './storage/settings-repo.js';
import { UsersRepo } from './storage/users-repo.js';
import { lanAddresses } from './net/addresses.js';
import type { LogRow } from './contract/index.js';

const USAGE = `Gatehouse ${VERSION}: share this PC's internet connection with the LAN.

Usage:
  gatehouse serve [--data-dir DIR] [--listen ADDR]... [--http-port N] [--socks-port N] [--admin-port N]
                  [--admin-listen ADDR] [--sharing on|off|saved] [--json]
  gatehouse logs [--data-dir DIR] [--limit N] [--json]
  gatehouse settings get [KEY] [--data-dir DIR] [--json]
  gatehouse settings set KEY VALUE [--data-dir DIR]
  gatehouse admin-url [--data-dir DIR]
  gatehouse users list [--json]
  gatehouse users add NAME --password-stdin [--group G]... [--note TEXT] [--disabled]
  gatehouse users passwd NAME --password-stdin
  gatehouse users disable|enable|remove NAME
  gatehouse groups list | add NAME [--member U]... | remove NAME

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

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatRow(r: LogRow): string {
  const t = new Date(r.ts).toISOString().replace('T', ' ').slice(0, 19);
  const status = r.allowed ? String(r.status || '-') : `${r.status || '-'} denied(${r.rule})`;
  const err = r.error ? `  ! ${r.error}` : '';
  return `${t}  ${r.clientAddr.padEnd(15)}  ${r.method.padEnd(7)} ${r.url}  ${status}  ↑${formatBytes(r.bytesUp)} ↓${formatBytes(r.bytesDown)}  ${r.durationMs} ms${err}`;
}

function logs(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false }, limit: { type: 'string', default: '50' } },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100000) throw new UsageError(`--limit: "${values.limit}" must be a whole number from 1 to 100000`);
  const db = openDb(values['data-dir'] ?? defaultDataDir());
  try {
    const rows = recentLog(db, limit).reverse();
    for (const r of rows) process.stdout.write((values.json ? JSON.stringify(r) : formatRow(r)) + '\n');
    if (!values.json && rows.length === 0) process.stdout.write('The log is empty.\n');
  } finally {
    db.close();
  }
  return 0;
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
      users.removeGroup(name);
      process.stdout.write(`removed group ${name}\n`);
      return 0;
    }
    throw new UsageError('usage: gatehouse groups list | add NAME [--member USER]... | remove NAME');
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
