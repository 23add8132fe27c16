/** Raw TCP exchanges with the proxy, for requests no client library will send. */
import net from 'node:net';

/** Sends `data`, collects everything until the server closes (or `untilText` shows up), bounded by timeoutMs. */
export function rawExchange(
  port: number,
  data: string | Buffer,
  opts: { localAddress?: string; untilText?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, opts.timeoutMs ?? 5000);
    s.on('connect', () => s.write(data));
    s.on('data', (c) => {
      out += c.toString('latin1');
      if (opts.untilText && out.includes(opts.untilText)) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

export function statusOf(response: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return m ? Number(m[1]) : 0;
}
