/**
 * Generated request-log rows that look like a small LAN's traffic: a few dozen
 * clients and a handful of users, hosts drawn with a heavy head (a few sites get
 * most requests), mostly GET and CONNECT, some denials and errors. Seeded, so a
 * test or a bench run sees the same rows every time.
 */
import type { LogRow } from '../../main/contract/index.js';

export type NewRow = Omit<LogRow, 'id'>;

export interface RowGenOptions {
  seed?: number;
  /** time of the first row, ms */
  start?: number;
  /** mean gap between rows, ms */
  gapMs?: number;
  hosts?: number;
  clients?: number;
}

const WORDS = ['index', 'api', 'v1', 'v2', 'users', 'images', 'search', 'login', 'static', 'js', 'css', 'assets', 'video', 'feed', 'news'];
const TLDS = ['com', 'net', 'org', 'io'];
const PREFIX = ['www', 'api', 'cdn', 'img', 'static'];
const USERS = ['', '', '', 'alice', 'bob', 'carol', 'dave', 'erin'];
const STATUSES = [200, 200, 200, 200, 200, 204, 301, 304, 404, 403, 500, 502];

export function rowGenerator(opts: RowGenOptions = {}): () => NewRow {
  let s = (opts.seed ?? 1) >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const hosts = Array.from({ length: opts.hosts ?? 2000 }, (_, i) => `${PREFIX[i % 5]}.site${i}.${TLDS[i % 4]}`);
  const clients = Array.from({ length: opts.clients ?? 60 }, (_, i) => `192.168.1.${10 + i}`);
  const head = (n: number) => Math.floor(n * Math.pow(rnd(), 3));
  const gap = opts.gapMs ?? 20;
  let ts = opts.start ?? Date.UTC(2026, 0, 5, 8, 0, 0);
  return () => {
    ts += Math.floor(rnd() * gap * 2);
    const host = hosts[head(hosts.length)]!;
    const connect = rnd() < 0.3;
    const allowed = rnd() > 0.03;
    const status = !allowed ? 403 : connect ? 200 : STATUSES[Math.floor(rnd() * STATUSES.length)]!;
    const path = `/${WORDS[Math.floor(rnd() * WORDS.length)]}/${WORDS[Math.floor(rnd() * WORDS.length)]}/${Math.floor(rnd() * 100000)}`;
    const socks = !connect && rnd() < 0.12;
    return {
      ts,
      service: socks ? 'socks' : 'http',
      clientAddr: clients[head(clients.length)]!,
      clientPort: 40000 + Math.floor(rnd() * 20000),
      user: USERS[Math.floor(rnd() * USERS.length)]!,
      method: socks ? 'CONNECT' : connect ? 'CONNECT' : rnd() < 0.85 ? 'GET' : 'POST',
      url: connect || socks ? `${host}:443` : `http://${host}${path}?q=${Math.floor(rnd() * 1000)}`,
      host,
      port: connect || socks ? 443 : 80,
      status: socks ? (allowed ? 0 : 2) : status,
      bytesUp: Math.floor(rnd() * 2000),
      bytesDown: Math.floor(rnd() * rnd() * 500000),
      packetsUp: 0,
      packetsDown: 0,
      durationMs: Math.floor(rnd() * rnd() * 5000),
      allowed,
      rule: allowed ? (rnd() < 0.5 ? 'Local network' : 'Office') : 'Block ads',
      error: rnd() < 0.02 ? 'ECONNRESET' : '',
      chain: '',
      mapping: '',
    };
  };
}
