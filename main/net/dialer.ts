/**
 * The only code that opens connections to destinations. It connects to the
 * addresses the policy decided, never to a name (a second lookup could give
 * another answer): one address directly, several with happy eyeballs (RFC
 * 8305, node's autoSelectFamily, fed the decided list instead of a lookup).
 * Half-close is allowed so tunnels can relay one direction's end while the
 * other still flows. TLS (an https:// origin) names the host for SNI.
 */
import net from 'node:net';
import tls from 'node:tls';
import { attachReader, type FastReader } from './relay.js';
import { HopError, hopUrl, openChain, type Hop } from './upstream/chain.js';

/** An upstream chain as the dialer uses it: its hops, first first, with their credentials. */
export interface ChainHops {
  name: string;
  hops: readonly Hop[];
}

/** The upstream chain a destination is reached through, and what to do when one of its hops is down. */
export interface Via {
  chain: ChainHops;
  fallback: 'fail' | 'direct' | ChainHops;
  /**
   * the destination decided for a direct connection, for a "direct" fallback when the name was
   * left for the chain to look up (`addresses` empty): looks it up and decides it then
   */
  direct?: () => Promise<Destination>;
}

/**
 * A decided destination: the name the client gave (for SNI and messages) and the addresses to
 * use; through an upstream chain (`via`), the addresses may be empty: the last hop looks the name up.
 */
export interface Destination {
  host: string;
  port: number;
  addresses: readonly string[];
  via?: Via;
}

export interface OpenOptions {
  /** speak TLS (https:// origins): SNI is the host name when it is not an address */
  tls?: { alpn?: string[] };
  onread?: net.OnReadOpts;
}

type LookupAll = (hostname: string, options: unknown, cb: (err: Error | null, addresses: Array<{ address: string; family: number }>) => void) => void;

/** A lookup that answers with the decided addresses, so net's happy eyeballs tries exactly those. */
function decidedLookup(addresses: readonly string[]): LookupAll {
  const list = addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
  return (_hostname, options, cb) => {
    if ((options as { all?: boolean } | undefined)?.all) return cb(null, list);
    (cb as unknown as (err: Error | null, address: string, family: number) => void)(null, list[0]!.address, list[0]!.family);
  };
}

/** Opens a socket to the destination; the caller handles 'connect' (or 'secureConnect'), errors and its deadline. */
export function openSocket(d: Destination, opts: OpenOptions = {}): net.Socket {
  if (d.addresses.length === 0) throw new Error(`no address to connect to for ${d.host}`);
  const single = d.addresses.length === 1;
  const where = single
    ? { host: d.addresses[0]!, port: d.port }
    : { host: d.host, port: d.port, lookup: decidedLookup(d.addresses) as unknown as net.LookupFunction, autoSelectFamily: true };
  if (opts.tls) {
    const servername = net.isIP(d.host) ? undefined : d.host;
    return tls.connect({ ...where, servername, ALPNProtocols: opts.tls.alpn });
  }
  return net.connect({ ...where, allowHalfOpen: true, noDelay: true, onread: opts.onread });
}

export interface DialOptions {
  timeoutMs: number;
  /** read through the shared buffer into a relay (see net/relay.ts); not for a destination through a chain */
  reader?: FastReader;
  /** which way the connection went: a chain's name, "direct", or "corp → direct" after a failover */
  onWay?: (way: string) => void;
}

/** Whether a hop of the chain is down (fail over), rather than the destination unreachable beyond it. */
function hopDown(err: unknown, hops: number): boolean {
  if (!(err instanceof HopError)) return false;
  return err.phase !== 'refused' || err.hop < hops;
}

/** Connects to the destination (with a deadline); resolves with the connected socket. */
export function dial(d: Destination, opts: DialOptions): Promise<net.Socket> {
  return d.via ? dialVia(d, d.via, opts) : dialDirect(d, opts);
}

/** A connection through a chain: to the destination, or (`proxy`) to the last hop, an HTTP proxy that takes requests in absolute form. */
export interface ChainConn {
  socket: net.Socket;
  /** the HTTP proxy the socket reaches, for plain HTTP requests in absolute form (with its Basic credentials); null: the destination */
  proxy: { authorization: string | null } | null;
}

type Opener = (chain: ChainHops) => Promise<ChainConn>;

async function dialVia(d: Destination, via: Via, opts: DialOptions): Promise<net.Socket> {
  // the decided address when there is one; else the name, for the last hop to look up
  const target = chainTarget(d);
  const c = await viaChain(d, via, opts, (chain) => openChain(chain.hops, target, { timeoutMs: opts.timeoutMs }).then((socket) => ({ socket, proxy: null })));
  return c.socket;
}

function chainTarget(d: Destination): { host: string; port: number } {
  return { host: d.addresses[0] ?? d.host.replace(/^\[|\]$/g, ''), port: d.port };
}

/** Opens the route's chain; when a hop is down, its fallback (direct, another chain) or the error. */
async function viaChain(d: Destination, via: Via, opts: DialOptions, open: Opener): Promise<ChainConn> {
  try {
    const c = await open(via.chain);
    opts.onWay?.(via.chain.name);
    return c;
  } catch (err) {
    if (via.fallback === 'fail' || !hopDown(err, via.chain.hops.length)) throw err;
    if (via.fallback === 'direct') {
      const direct = d.addresses.length ? { host: d.host, port: d.port, addresses: d.addresses } : await via.direct?.();
      if (!direct) throw err;
      const socket = await dialDirect(direct, { timeoutMs: opts.timeoutMs });
      opts.onWay?.(`${via.chain.name} → direct`);
      return { socket, proxy: null };
    }
    const c = await open(via.fallback);
    opts.onWay?.(`${via.chain.name} → ${via.fallback.name}`);
    return c;
  }
}

/**
 * For a plain HTTP request: through a chain whose last hop is an HTTP proxy, a connection to that
 * proxy (through the hops before it), so the request goes to it in absolute form as a browser's
 * would (a company proxy usually refuses CONNECT to port 80); through any other chain, a tunnel to
 * the destination; without a chain, the destination.
 */
export async function dialHttp(d: Destination, opts: DialOptions): Promise<ChainConn> {
  if (!d.via) return { socket: await dialDirect(d, opts), proxy: null };
  const target = chainTarget(d);
  return viaChain(d, d.via, opts, async (chain) => {
    const last = chain.hops[chain.hops.length - 1]!;
    if (last.kind !== 'http') return { socket: await openChain(chain.hops, target, { timeoutMs: opts.timeoutMs }), proxy: null };
    const before = chain.hops.slice(0, -1);
    const socket = before.length ? await openChain(before, { host: last.host, port: last.port }, { timeoutMs: opts.timeoutMs }) : await dialHop(last, opts.timeoutMs);
    const authorization = last.password || last.user ? `Basic ${Buffer.from(`${last.user ?? ''}:${last.password ?? ''}`, 'utf8').toString('base64')}` : null;
    return { socket, proxy: { authorization } };
  });
}

/** The first hop of a chain, reached directly; its failure is the hop's (a HopError, for failover). */
function dialHop(h: Hop, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: h.host, port: h.port, allowHalfOpen: true, noDelay: true });
    const fail = (code: string, why: string) => {
      clearTimeout(timer);
      s.destroy();
      reject(new HopError(1, code === 'ETIMEDOUT' ? 'timeout' : 'connect', code, hopUrl(h), why));
    };
    const timer = setTimeout(() => fail('ETIMEDOUT', 'did not accept the connection in time'), timeoutMs);
    s.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ECONNRESET', `could not be reached (${err.code ?? err.message})`));
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

function dialDirect(d: Destination, opts: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = openSocket(d, { onread: opts.reader?.onread as net.OnReadOpts | undefined });
    if (opts.reader) attachReader(s, opts.reader);
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error(`connect to ${d.host}:${d.port} timed out`), { code: 'E_CONNECT_TIMEOUT' }));
    }, opts.timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeListener('error', onError);
      resolve(s);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    };
    s.once('error', onError);
  });
}
