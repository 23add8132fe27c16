/**
 * Every setting of Gatehouse: its key, type, default, how it is parsed from
 * text (CLI, UI fields) and how it is validated. Shared by the storage layer,
 * the control service, the CLI and the renderer, so a key is described once.
 */
import { z } from 'zod';
import { GatehouseError } from './errors.js';
import { isIp, parseSourceList } from './addresses.js';
import { parsePortList, formatPortList } from './ports.js';

const seconds = (min: number, max: number) => z.number().min(min).max(max);
const port = z.number().int().min(0).max(65535);

/** The schema of the whole settings object (flat, dotted keys). */
export const SettingsSchema = z.object({
  'sharing.enabled': z.boolean(),
  listen: z.array(z.string()).min(1),
  'http.port': port,
  'http.connectPorts': z.string(),
  'http.safePorts': z.string(),
  'http.headerTimeout': seconds(0.05, 3600),
  'http.idleTimeout': seconds(0.05, 86400),
  'http.connectTimeout': seconds(0.05, 600),
  'http.responseTimeout': seconds(0.05, 86400),
  'http.maxHeaderSize': z.number().int().min(1024).max(1048576),
  'http.maxUrlLength': z.number().int().min(64).max(1048576),
  'http.login': z.enum(['off', 'optional', 'required']),
  'socks.port': port,
  'socks.login': z.enum(['off', 'optional', 'required']),
  'socks.handshakeTimeout': seconds(0.05, 600),
  'socks.idleTimeout': seconds(0.05, 86400 * 7),
  'socks.bindTimeout': seconds(0.05, 3600),
  'socks.udp': z.boolean(),
  'access.allowedSources': z.array(z.string()).min(1),
  'access.defaultAction': z.enum(['allow', 'deny']),
  'access.blockedPorts': z.string(),
  'auth.maxFailures': z.number().int().min(1).max(1000),
  'auth.lockoutSeconds': seconds(0.05, 86400),
  'auth.maxDelaySeconds': seconds(0, 60),
  'admin.listen': z.string(),
  'admin.port': port,
  'log.retentionDays': z.number().int().min(1).max(3650),
  'log.maxRows': z.number().int().min(0).max(1_000_000_000),
  'log.maxSizeMB': z.number().int().min(0).max(1_000_000),
});
export type Settings = z.infer<typeof SettingsSchema>;
export type SettingKey = keyof Settings;

export const DEFAULT_SETTINGS: Settings = {
  'sharing.enabled': false,
  listen: ['*'],
  'http.port': 8080,
  'http.connectPorts': '443,563,8443',
  // Squid's default Safe_ports
  'http.safePorts': '21,70,80,210,280,443,488,591,777,1025-65535',
  'http.headerTimeout': 10,
  'http.idleTimeout': 60,
  'http.connectTimeout': 10,
  'http.responseTimeout': 120,
  'http.maxHeaderSize': 32768,
  'http.maxUrlLength': 8192,
  'http.login': 'off',
  'socks.port': 1080,
  'socks.login': 'off',
  'socks.handshakeTimeout': 10,
  'socks.idleTimeout': 3600,
  'socks.bindTimeout': 120,
  'socks.udp': true,
  'access.allowedSources': ['local'],
  'access.defaultAction': 'deny',
  'access.blockedPorts': '25',
  'auth.maxFailures': 5,
  'auth.lockoutSeconds': 300,
  'auth.maxDelaySeconds': 4,
  'admin.listen': '127.0.0.1',
  'admin.port': 8088,
  'log.retentionDays': 30,
  'log.maxRows': 0,
  'log.maxSizeMB': 2048,
};

export interface SettingInfo {
  key: SettingKey;
  description: string;
  /** how the value is written as text, e.g. in `gatehouse settings set` */
  example: string;
}

export const SETTING_INFO: Record<SettingKey, Omit<SettingInfo, 'key'>> = {
  'sharing.enabled': { description: 'Whether the proxy services run (the Enable sharing switch).', example: 'true' },
  listen: { description: 'Addresses the proxy services listen on; "*" means every interface.', example: '*  or  192.168.1.10,::1' },
  'http.port': { description: 'Port of the HTTP/HTTPS proxy (0 picks a free port).', example: '8080' },
  'http.connectPorts': { description: 'Ports that CONNECT tunnels may reach.', example: '443,563,8443-8444' },
  'http.safePorts': { description: 'Ports that plain-HTTP requests may reach (as Squid\'s Safe_ports).', example: '80,443,1025-65535' },
  'http.headerTimeout': { description: 'Seconds a client has to send a complete request head (slowloris guard).', example: '10' },
  'http.idleTimeout': { description: 'Seconds an idle keep-alive client connection or tunnel is kept open.', example: '60' },
  'http.connectTimeout': { description: 'Seconds to wait for a connection to an origin server.', example: '10' },
  'http.responseTimeout': { description: 'Seconds to wait for an origin server to start its response.', example: '120' },
  'http.maxHeaderSize': { description: 'Largest request head accepted, in bytes.', example: '32768' },
  'http.maxUrlLength': { description: 'Longest request URL accepted, in characters.', example: '8192' },
  'http.login': { description: 'Whether HTTP proxy clients must sign in (Proxy-Authorization): off, optional or required.', example: 'required' },
  'socks.port': { description: 'Port of the SOCKS4/4a/5 proxy (0 picks a free port).', example: '1080' },
  'socks.login': { description: 'Whether SOCKS clients must sign in (SOCKS5 username/password): off, optional or required.', example: 'required' },
  'socks.handshakeTimeout': { description: 'Seconds a SOCKS client has to finish its greeting and request.', example: '10' },
  'socks.idleTimeout': { description: 'Seconds an idle SOCKS session is kept open.', example: '3600' },
  'socks.bindTimeout': { description: 'Seconds a SOCKS BIND waits for the peer to connect.', example: '120' },
  'socks.udp': { description: 'Whether SOCKS5 UDP ASSOCIATE is allowed.', example: 'true' },
  'auth.maxFailures': { description: 'Failed sign-ins from one address (or for one user name from it) before further attempts are slowed down.', example: '5' },
  'auth.lockoutSeconds': { description: 'Seconds without a failure after which failed sign-ins are forgotten.', example: '300' },
  'auth.maxDelaySeconds': { description: 'Longest wait between sign-in attempts once they are slowed down (the wait doubles per failure up to this).', example: '4' },
  'access.allowedSources': {
    description: 'Client addresses allowed to use the proxies: "local" (loopback and private ranges), addresses or CIDR ranges.',
    example: 'local  or  192.168.1.0/24,10.0.0.5',
  },
  'access.defaultAction': { description: 'What happens to a request no rule matches: allow or deny.', example: 'deny' },
  'access.blockedPorts': { description: 'Destination ports no service may reach, whatever the rules say (empty: none).', example: '25' },
  'admin.listen': { description: 'Address of the web admin (127.0.0.1 keeps it on this PC).', example: '127.0.0.1' },
  'admin.port': { description: 'Port of the web admin.', example: '8088' },
  'log.retentionDays': { description: 'Days of request log kept.', example: '30' },
  'log.maxRows': { description: 'Most request-log rows kept; the oldest go first (0: no limit).', example: '5000000' },
  'log.maxSizeMB': {
    description: 'Largest the database may grow, in MB, before the oldest request-log rows go (0: no limit).',
    example: '2048',
  },
};

export const SETTING_KEYS = Object.keys(DEFAULT_SETTINGS) as SettingKey[];

export function isSettingKey(key: string): key is SettingKey {
  return Object.prototype.hasOwnProperty.call(DEFAULT_SETTINGS, key);
}

/** The refusal of a key that is not a setting, the same wherever it is met. */
export function unknownSettingError(key: string): GatehouseError {
  return new GatehouseError('E_VALIDATION', `unknown setting "${key}" (known: ${SETTING_KEYS.join(', ')})`);
}

function fail(key: string, message: string): never {
  throw new GatehouseError('E_VALIDATION', `setting ${key}: ${message}`);
}

function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Checks one value (already typed, e.g. from JSON) and returns its canonical form.
 * Throws E_VALIDATION naming the key and quoting the bad value.
 */
export function validateSetting<K extends SettingKey>(key: K, value: unknown): Settings[K] {
  const schema = SettingsSchema.shape[key];
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(key, `${JSON.stringify(value)} is not valid (${issue?.message ?? 'wrong type'})`);
  }
  let v: unknown = parsed.data;
  switch (key) {
    case 'http.connectPorts':
    case 'http.safePorts':
    case 'access.blockedPorts': {
      try {
        const ranges = parsePortList(v as string, { allowZero: false });
        if (ranges.length === 0 && key !== 'access.blockedPorts') fail(key, 'at least one port is needed');
        v = formatPortList(ranges);
      } catch (e) {
        if (e instanceof GatehouseError && e.message.startsWith('setting')) throw e;
        fail(key, (e as Error).message);
      }
      break;
    }
    case 'access.allowedSources':
      try {
        parseSourceList(v as string[]);
      } catch (e) {
        fail(key, (e as Error).message);
      }
      v = (v as string[]).map((s) => s.trim());
      break;
    case 'listen':
      for (const a of v as string[]) {
        if (a !== '*' && !isIpLiteral(a) && a !== 'localhost') fail(key, `"${a}" is not an IP address or "*"`);
      }
      break;
    case 'admin.listen':
      if (!isIpLiteral(v as string) && v !== 'localhost') fail(key, `"${String(v)}" is not an IP address`);
      break;
  }
  return v as Settings[K];
}

/** Parses the text form of a value (CLI, form fields) into its typed, validated form. */
export function parseSettingText<K extends SettingKey>(key: K, text: string): Settings[K] {
  const def = DEFAULT_SETTINGS[key];
  const t = text.trim();
  let v: unknown;
  if (typeof def === 'boolean') {
    if (/^(true|on|yes|1)$/i.test(t)) v = true;
    else if (/^(false|off|no|0)$/i.test(t)) v = false;
    else fail(key, `"${text}" is not true or false`);
  } else if (typeof def === 'number') {
    if (!/^-?\d+(\.\d+)?$/.test(t)) fail(key, `"${text}" is not a number`);
    v = Number(t);
  } else if (Array.isArray(def)) {
    v = splitList(t);
  } else {
    v = t;
  }
  return validateSetting(key, v);
}

/** The text form of a value, as `settings get` prints it and `settings set` reads it. */
export function formatSetting(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

function isIpLiteral(s: string): boolean {
  return isIp(s);
}
