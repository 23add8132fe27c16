/**
 * `gatehouse mappings|chains|routes`: port mappings, upstream chains and the
 * routes that pick a chain, through the control service (the same methods and
 * messages as the UI). A chain's hops come on standard input, one URL a line,
 * so their passwords never show in the process list or the shell history;
 * listings show a hop without its password.
 */
import { parseArgs } from 'node:util';
import { CHAIN_RESOLVE, GatehouseError, parseHopLines, type Chain, type Mapping, type Route } from '../contract/index.js';
import { UsageError, listFlag, withClient } from './common.js';

export const TUNNELS_USAGE = `gatehouse mappings list [--json]
  gatehouse mappings add --name NAME --proto tcp|udp --port N --to HOST:PORT
                         [--listen ADDR (empty: where the proxies listen)] [--disabled] [--note TEXT] [--json]
  gatehouse mappings remove ID | enable ID | disable ID
  gatehouse chains list [--json]
  gatehouse chains add NAME --hops-stdin [--resolve remote|local] [--note TEXT] [--json]
                       (one hop a line, first hop first: http://[user:pass@]host:port,
                        socks4a://[user@]host:port, socks5://[user:pass@]host:port; # comments)
  gatehouse chains remove NAME
  gatehouse chains test NAME [--probe HOST:PORT] [--json]   (exit code 1 if a hop failed)
  gatehouse routes list [--json]
  gatehouse routes add --chain NAME|direct [--dest PATTERN]... [--user U]... [--group G]...
                       [--service http|socks|mapping|mapping:NAME]... [--fallback fail|direct|CHAIN]
                       [--position N (1 = first; the end by default)] [--disabled] [--note TEXT] [--json]
  gatehouse routes remove ID | move ID POSITION | enable ID | disable ID`;

/** Columns padded to their widest cell; the last column is not padded. */
function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

const json = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');

/** A whole number in [min, max] given as text, or a usage error naming the flag. */
function wholeNumber(what: string, text: string | undefined, min: number, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${what}: "${text ?? ''}" is not a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

/** The port-in-use refusal names its code too, for scripts that tell it from a typo. */
async function showingPortInUse<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GatehouseError && err.code === 'E_PORT_IN_USE') throw new GatehouseError(err.code, `${err.message} (E_PORT_IN_USE)`);
    throw err;
  }
}

function mappingState(m: Mapping): string {
  if (m.state === 'error') return `error: ${m.error ?? '?'}`;
  return m.state === 'running' ? `running on ${m.addresses.join(', ')}` : m.state;
}

function describeMapping(m: Mapping): string {
  const listen = m.listen ? `${m.listen.includes(':') ? `[${m.listen}]` : m.listen}:` : 'port ';
  return `[${m.id}] "${m.name}" ${m.proto} ${listen}${m.port} → ${m.to}${m.enabled ? '' : ' (disabled)'}`;
}

export async function mappingsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      name: { type: 'string' },
      proto: { type: 'string' },
      port: { type: 'string' },
      to: { type: 'string' },
      listen: { type: 'string' },
      disabled: { type: 'boolean', default: false },
      note: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [action, a1] = positionals;
  const idArg = () => {
    if (!a1 || !/^\d+$/.test(a1)) throw new UsageError(`mappings ${action}: give the mapping's id (see gatehouse mappings list)`);
    return Number(a1);
  };
  switch (action) {
    case 'list':
      return withClient(values['data-dir'], async (api) => {
        const list = await api.call('mappings.list', {});
        if (values.json) json(list);
        else if (list.length === 0) process.stdout.write('No port mappings yet. Add one with: gatehouse mappings add --name NAME --proto tcp --port N --to HOST:PORT\n');
        else {
          const rows = list.map((m) => [String(m.id), m.name, m.proto, m.listen || 'as proxies', String(m.port), m.to, m.enabled ? 'yes' : 'no', mappingState(m)]);
          process.stdout.write(table(['ID', 'NAME', 'PROTO', 'LISTEN', 'PORT', 'TO', 'ENABLED', 'STATE'], rows));
        }
        return 0;
      });
    case 'add': {
      if (!values.name) throw new UsageError('mappings add: --name is required (e.g. --name "Camera")');
      if (values.proto !== 'tcp' && values.proto !== 'udp') throw new UsageError(`mappings add: --proto must be tcp or udp${values.proto === undefined ? '' : ` (not "${values.proto}")`}`);
      const port = wholeNumber('--port', values.port, 1, 65535);
      if (!values.to) throw new UsageError('mappings add: --to HOST:PORT is required (where the connections go, e.g. --to 192.168.1.50:554)');
      const mapping = { name: values.name, proto: values.proto, port, to: values.to, listen: values.listen ?? '', enabled: !values.disabled, note: values.note ?? '' } as const;
      return withClient(values['data-dir'], (api) =>
        showingPortInUse(async () => {
          const m = await api.call('mappings.add', { mapping });
          if (values.json) json(m);
          else process.stdout.write(`added mapping ${describeMapping(m)}\n`);
          return 0;
        }),
      );
    }
    case 'remove': {
      const id = idArg();
      return withClient(values['data-dir'], async (api) => {
        await api.call('mappings.remove', { id });
        process.stdout.write(`removed mapping ${id}\n`);
        return 0;
      });
    }
    case 'enable':
    case 'disable': {
      const id = idArg();
      return withClient(values['data-dir'], (api) =>
        showingPortInUse(async () => {
          const m = await api.call('mappings.update', { id, mapping: { enabled: action === 'enable' } });
          process.stdout.write(`mapping ${m.id} "${m.name}" ${m.enabled ? 'enabled' : 'disabled'}\n`);
          return 0;
        }),
      );
    }
    default:
      throw new UsageError('usage: gatehouse mappings list | add --name NAME --proto tcp|udp --port N --to HOST:PORT | remove ID | enable ID | disable ID');
  }
}

function describeChain(c: Chain): string {
  const hops = c.hops.map((h, i) => `    ${i + 1}. ${h.url}${h.hasPassword ? '  (password set)' : ''}\n`).join('');
  return `${c.name}${c.note ? `  (${c.note})` : ''}\n${hops}    ${c.resolvesAt}\n`;
}

async function readHops(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UsageError('--hops-stdin reads the hops from standard input, one URL a line: e.g. gatehouse chains add corp --hops-stdin < hops.txt');
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function chainsCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      'hops-stdin': { type: 'boolean', default: false },
      resolve: { type: 'string' },
      note: { type: 'string' },
      probe: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [action, name, ...extra] = positionals;
  if ((action === 'add' || action === 'remove' || action === 'test') && !name) throw new UsageError(`usage: gatehouse chains ${action} NAME`);
  switch (action) {
    case 'list':
      return withClient(values['data-dir'], async (api) => {
        const list = await api.call('chains.list', {});
        if (values.json) json(list);
        else if (list.length === 0) process.stdout.write('No upstream chains yet. Add one with: gatehouse chains add NAME --hops-stdin < hops.txt\n');
        else process.stdout.write(list.map(describeChain).join('\n'));
        return 0;
      });
    case 'add': {
      if (extra.length > 0) throw new UsageError('chains add: give the hops on standard input with --hops-stdin, one URL a line (never on the command line: they may hold passwords)');
      if (!values['hops-stdin']) throw new UsageError('chains add: give the hops on standard input with --hops-stdin, one URL a line, first hop first');
      const resolve = values.resolve ?? 'remote';
      if (!(CHAIN_RESOLVE as readonly string[]).includes(resolve)) throw new UsageError(`--resolve: "${resolve}" must be remote (the last hop looks names up) or local (this PC does)`);
      const hops = parseHopLines(await readHops());
      if (hops.length === 0) throw new UsageError('chains add: no hops on standard input (one URL a line, first hop first; blank lines and # comments are skipped)');
      return withClient(values['data-dir'], async (api) => {
        const c = await api.call('chains.add', { chain: { name: name!, hops, resolve: resolve as Chain['resolve'], note: values.note ?? '' } });
        if (values.json) json(c);
        else process.stdout.write(`added chain ${describeChain(c)}`);
        return 0;
      });
    }
    case 'remove':
      return withClient(values['data-dir'], async (api) => {
        const { removed } = await api.call('chains.remove', { name: name! });
        process.stdout.write(`removed chain ${removed}\n`);
        return 0;
      });
    case 'test':
      return withClient(values['data-dir'], async (api) => {
        const { hops } = await api.call('chains.test', values.probe === undefined ? { name: name! } : { name: name!, probe: values.probe });
        const failed = hops.some((h) => !h.ok);
        if (values.json) json({ ok: !failed, hops });
        else {
          // a hop after the one that failed is not tried: it has no time
          const rows = hops.map((h) => [String(h.hop), h.url, h.ok ? 'ok' : 'FAILED', h.ok || h.ms > 0 ? `${h.ms} ms` : '-', h.error ?? '']);
          process.stdout.write(table(['HOP', 'URL', 'RESULT', 'TIME', 'ERROR'], rows));
        }
        return failed ? 1 : 0;
      });
    default:
      throw new UsageError('usage: gatehouse chains list | add NAME --hops-stdin | remove NAME | test NAME [--probe HOST:PORT]');
  }
}

const dash = (list: readonly string[]) => (list.length ? list.join(',') : '*');

function routeRows(routes: readonly Route[]): string {
  const rows = routes.map((r, i) => [`${i + 1}`, String(r.id), r.chain, r.fallback, dash(r.destinations), dash(r.users), dash(r.groups), dash(r.services), r.enabled ? 'yes' : 'no']);
  return table(['POS', 'ID', 'CHAIN', 'FALLBACK', 'DESTINATIONS', 'USERS', 'GROUPS', 'SERVICES', 'ENABLED'], rows);
}

export async function routesCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      chain: { type: 'string' },
      // a repeated list flag adds to the list (--dest a --dest b is --dest a,b)
      dest: { type: 'string', multiple: true },
      user: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      service: { type: 'string', multiple: true },
      fallback: { type: 'string' },
      position: { type: 'string' },
      disabled: { type: 'boolean', default: false },
      note: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [action, a1, a2] = positionals;
  const idArg = () => {
    if (!a1 || !/^\d+$/.test(a1)) throw new UsageError(`routes ${action}: give the route's id (see gatehouse routes list)`);
    return Number(a1);
  };
  switch (action) {
    case 'list':
      return withClient(values['data-dir'], async (api) => {
        const { routes } = await api.call('routes.list', {});
        if (values.json) json({ routes });
        else if (routes.length === 0) process.stdout.write('No routes: everything goes direct. Add one with: gatehouse routes add --chain NAME [--dest PATTERN]...\n');
        else process.stdout.write(routeRows(routes) + 'Ordered: the first route that matches wins; what matches none goes direct.\n');
        return 0;
      });
    case 'add': {
      if (!values.chain) throw new UsageError('routes add: --chain is required (a chain\'s name, or "direct" for an exception above a broader route)');
      // 1 = first; the API counts from 0 and appends when no position is given
      const position = values.position === undefined ? undefined : wholeNumber('--position', values.position, 1, 1_000_000) - 1;
      const route = {
        chain: values.chain,
        destinations: listFlag(values.dest),
        users: listFlag(values.user),
        groups: listFlag(values.group),
        services: listFlag(values.service),
        enabled: !values.disabled,
        note: values.note ?? '',
        ...(values.fallback === undefined ? {} : { fallback: values.fallback }),
      };
      return withClient(values['data-dir'], async (api) => {
        const r = await api.call('routes.add', position === undefined ? { route } : { route, position });
        if (values.json) json(r);
        else {
          const { routes } = await api.call('routes.list', {});
          process.stdout.write(`added route ${r.id}\n${routeRows(routes)}`);
        }
        return 0;
      });
    }
    case 'remove': {
      const id = idArg();
      return withClient(values['data-dir'], async (api) => {
        await api.call('routes.remove', { id });
        process.stdout.write(`removed route ${id}\n`);
        return 0;
      });
    }
    case 'move': {
      const id = idArg();
      if (a2 === undefined) throw new UsageError('usage: gatehouse routes move ID POSITION (1 = first)');
      const position = wholeNumber('routes move: POSITION', a2, 1, 1_000_000) - 1;
      return withClient(values['data-dir'], async (api) => {
        const routes = await api.call('routes.move', { id, position });
        if (values.json) json({ routes });
        else process.stdout.write(routeRows(routes));
        return 0;
      });
    }
    case 'enable':
    case 'disable': {
      const id = idArg();
      return withClient(values['data-dir'], async (api) => {
        const r = await api.call('routes.update', { id, route: { enabled: action === 'enable' } });
        process.stdout.write(`route ${r.id} ${r.enabled ? 'enabled' : 'disabled'}\n`);
        return 0;
      });
    }
    default:
      throw new UsageError('usage: gatehouse routes list | add --chain NAME|direct ... | remove ID | move ID POSITION | enable ID | disable ID');
  }
}
