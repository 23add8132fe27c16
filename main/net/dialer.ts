/**
 * Opens TCP connections to targets: a connect deadline, happy eyeballs
 * (RFC 8305, node's autoSelectFamily) and half-close allowed so tunnels can
 * relay one direction's end while the other still flows.
 */
import net from 'node:net';

export interface DialOptions {
  timeoutMs: number;
  /** node's onread (see net/relay.ts pooledReader) */
  onread?: net.OnReadOpts;
}

export function dial(host: string, port: number, opts: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true, noDelay: true, autoSelectFamily: true, onread: opts.onread });
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
