/**
 * Opens TCP connections to targets: a connect deadline, happy eyeballs
 * (RFC 8305, node's autoSelectFamily) and half-close allowed so tunnels can
 * relay one direction's end while the other still flows.
 */
import net from 'node:net';
import { attachReader, type FastReader } from './relay.js';

export interface DialOptions {
  timeoutMs: number;
  /** read through the shared buffer into a relay (see net/relay.ts) */
  reader?: FastReader;
}

export function dial(host: string, port: number, opts: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true, noDelay: true, autoSelectFamily: true, onread: opts.reader?.onread as net.OnReadOpts | undefined });
    if (opts.reader) attachReader(s, opts.reader);
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: 'E_CONNECT_TIMEOUT' }));
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
