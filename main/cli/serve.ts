/**
 * `gatehouse serve`: the gateway headless, in this process, with flags for
 * this run only. It starts all or nothing: a service that cannot listen ends
 * the start with one line naming the port and a non-zero exit. SIGINT/SIGTERM
 * stop it gracefully; a closed standard output (`serve --json | head -1`)
 * does not stop it.
 */
import { parseArgs } from 'node:util';
import { validateSetting, type Settings } from '../contract/index.js';
import { VERSION } from '../contract/version.js';
import { createLogger } from '../logger.js';
import { startRuntime } from '../runtime.js';
import { UsageError, defaultDataDir } from './common.js';

function parsePortFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`--${name}: "${v}" is not a port number (0-65535)`);
  return Number(v);
}

/** Writes to standard output; once the reader has gone (EPIPE), further lines are dropped. */
function stdoutLines(): (line: string) => void {
  let open = true;
  process.stdout.on('error', () => {
    open = false;
  });
  return (line) => {
    if (open) process.stdout.write(line + '\n');
  };
}

export async function serve(argv: string[]): Promise<number> {
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
      debug: { type: 'boolean', default: false },
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
  const say = stdoutLines();
  // diagnostics go to stderr: a reader that went away there must not stop the gateway either
  process.stderr.on('error', () => {});
  const logger = createLogger({ json });
  const dataDir = values['data-dir'] ?? defaultDataDir();
  const rt = await startRuntime({ dataDir, sharing, overrides, logger, failFast: true });
  const st = rt.status();
  const http = st.services.find((s) => s.name === 'http');
  const socks = st.services.find((s) => s.name === 'socks');
  const adminLink = rt.adminUrl ? `${rt.adminUrl}/?token=${rt.adminToken}` : null;
  if (json) {
    say(
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
      }),
    );
  } else {
    const lines = [`Gatehouse ${VERSION} is running (data in ${dataDir}).`];
    if (http?.state === 'running') {
      const lan = st.lanAddresses;
      lines.push(`  HTTP/HTTPS proxy: ${http.addresses.join(', ')}`);
      if (socks?.state === 'running') lines.push(`  SOCKS4/5 proxy:   ${socks.addresses.join(', ')}`);
      if (lan.length && http.port) lines.push(`  LAN clients use proxy ${lan[0]} port ${http.port}${socks?.port ? ` (SOCKS: port ${socks.port})` : ''}`);
    } else {
      lines.push(`  Sharing is off: turn it on in the admin page.`);
    }
    for (const svc of st.services) if (svc.state === 'error') lines.push(`  ${svc.label} could not start: ${svc.error}`);
    if (adminLink) lines.push(`  Admin: ${adminLink}`);
    lines.push('  Press Ctrl+C to stop.');
    say(lines.join('\n'));
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) return;
      stopping = true;
      say(json ? JSON.stringify({ event: 'stopping', signal: sig }) : `Stopping (${sig})…`);
      rt.stop(3000).then(resolve, (err) => {
        logger.error('stop failed', { err: String(err) });
        resolve();
      });
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
  if (json) say(JSON.stringify({ event: 'stopped' }));
  return 0;
}
