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

/** A decided destination: the name the client gave (for SNI and messages) and the addresses to use. */
export interface Destination {
  host: string;
  port: number;
  addresses: readonly string[];
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
  /** read through the shared buffer into a relay (see net/relay.ts) */
  reader?: FastReader;
}

/** Connects to the destination (with a deadline); resolves with the connected socket. */
export function dial(d: Destination, opts: DialOptions): Promise<net.Socket> {
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
