/**
 * Raw HTTP on loopback for the proxy's framing tests: a client that keeps every
 * byte it receives and parses responses as a client would, and an origin that
 * parses request heads and answers with exact bytes. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms, at most `ms`; false when it never held. */
export async function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  for (let i = 0; i < Math.ceil(ms / 5); i++) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}

// ---------------------------------------------------------------- raw client

/** A raw TCP client of the proxy that keeps everything it receives. */
export class Client {
  data = Buffer.alloc(0);
  ended = false;
  closed = false;
  private constructor(readonly s: net.Socket) {
    s.on('data', (c: Buffer) => (this.data = Buffer.concat([this.data, c])));
    s.on('end', () => (this.ended = true));
    s.on('close', () => (this.closed = true));
    s.on('error', () => {});
  }

  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  get text(): string {
    return this.data.toString('latin1');
  }

  write(x: string | Buffer): void {
    this.s.write(typeof x === 'string' ? Buffer.from(x, 'latin1') : x);
  }

  /** Waits until the bytes received satisfy `pred` (bounded); fails the test with what arrived otherwise. */
  async until(pred: (text: string) => boolean, what: string, ms = 3000): Promise<string> {
    if (!(await waitFor(() => pred(this.text), ms))) assert.fail(`timed out waiting for ${what}; received so far:\n${JSON.stringify(this.text.slice(0, 2000))}`);
    return this.text;
  }

  /** Waits until `n` complete responses are in (bounded). */
  async responses(n: number, opts: ParseOpts = {}, ms = 3000): Promise<Parsed[]> {
    const ok = await waitFor(() => parseResponses(this.data, { ...opts, eof: this.ended }).msgs.length >= n, ms);
    const got = parseResponses(this.data, { ...opts, eof: this.ended }).msgs;
    if (!ok) assert.fail(`expected ${n} responses, got ${got.length}; received:\n${JSON.stringify(this.text.slice(0, 2000))}`);
    return got;
  }

  /** Waits until the proxy closes its side (FIN or close), bounded. */
  async closedByPeer(ms = 3000): Promise<boolean> {
    return waitFor(() => this.ended || this.closed, ms);
  }

  destroy(): void {
    this.s.destroy();
  }
}

export interface Parsed {
  status: number;
  reason: string;
  /** the head as text, without the blank line */
  head: string;
  /** lower-case name -> values joined with ", " */
  headers: Record<string, string>;
  /** the payload (chunked framing removed) */
  body: Buffer;
  /** the body bytes as they were on the wire (chunk framing included) */
  wireBody: Buffer;
}

export interface ParseOpts {
  /** indexes (among final, non-1xx responses) of responses to HEAD requests: no body */
  head?: number[];
  /** the connection ended: a response without length ends here */
  eof?: boolean;
}

/** Parses the complete responses at the start of `buf` (the client's view of the stream). */
export function parseResponses(buf: Buffer, opts: ParseOpts = {}): { msgs: Parsed[]; rest: Buffer } {
  const msgs: Parsed[] = [];
  let at = 0;
  let finals = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const head = buf.toString('latin1', at, end);
    const ls = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(ls[0]!);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(ls[0])}`);
    const headers: Record<string, string> = {};
    for (const l of ls.slice(1)) {
      const c = l.indexOf(':');
      const k = l.slice(0, c).toLowerCase();
      const v = l.slice(c + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const status = Number(m[1]);
    let p = end + 4;
    let body: Buffer = Buffer.alloc(0);
    let wireBody: Buffer = Buffer.alloc(0);
    if (status >= 200) {
      const isHead = opts.head?.includes(finals) ?? false;
      if (isHead || status === 204 || status === 304) {
        // no body
      } else if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
        const parts: Buffer[] = [];
        let q = p;
        let complete = false;
        for (let guard = 0; guard < 100000; guard++) {
          const lf = buf.indexOf('\r\n', q, 'latin1');
          if (lf < 0) break;
          const size = parseInt(buf.toString('latin1', q, lf).split(';')[0]!, 16);
          if (Number.isNaN(size)) throw new Error(`bad chunk size line at ${q}`);
          if (size === 0) {
            // trailers until an empty line
            let t = lf + 2;
            let done = false;
            for (let g2 = 0; g2 < 100; g2++) {
              const e = buf.indexOf('\r\n', t, 'latin1');
              if (e < 0) break;
              if (e === t) {
                t = e + 2;
                done = true;
                break;
              }
              t = e + 2;
            }
            if (!done) break;
            q = t;
            complete = true;
            break;
          }
          if (buf.length < lf + 2 + size + 2) break;
          parts.push(buf.subarray(lf + 2, lf + 2 + size));
          q = lf + 2 + size + 2;
        }
        if (!complete) break;
        body = Buffer.concat(parts);
        wireBody = buf.subarray(p, q);
        p = q;
      } else if (headers['content-length'] !== undefined) {
        // a list of identical values (RFC 9110 §8.6) counts as one
        const n = Number(headers['content-length'].split(',')[0]!.trim());
        if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad Content-Length in ${JSON.stringify(head)}`);
        if (buf.length < p + n) break;
        body = wireBody = buf.subarray(p, p + n);
        p += n;
      } else {
        if (!opts.eof) break;
        body = wireBody = buf.subarray(p);
        p = buf.length;
      }
      finals++;
    }
    msgs.push({ status, reason: m[2]!, head, headers, body, wireBody });
    at = p;
  }
  return { msgs, rest: buf.subarray(at) };
}

// ---------------------------------------------------------------- raw origins

export interface OriginReq {
  method: string;
  path: string;
  head: string;
  headers: Record<string, string>;
  body: Buffer;
  /** which request this is on its connection, from 0 */
  index: number;
  conn: OriginConnInfo;
}

export interface OriginConnInfo {
  socket: net.Socket;
  /** every byte the origin received on this connection */
  data: Buffer;
  requests: OriginReq[];
  closed: boolean;
}

export interface RawOrigin {
  port: number;
  url: string;
  conns: OriginConnInfo[];
  requests(): OriginReq[];
  close(): Promise<void>;
}

/**
 * A TCP origin that parses request heads (and Content-Length bodies) and hands
 * each request to `answer`, which writes whatever bytes it likes. Requests with
 * Transfer-Encoding are recorded in `data` but not dispatched.
 */
export async function rawOrigin(answer: (s: net.Socket, r: OriginReq) => void): Promise<RawOrigin> {
  const conns: OriginConnInfo[] = [];
  const server = net.createServer({ noDelay: true }, (socket) => {
    const conn: OriginConnInfo = { socket, data: Buffer.alloc(0), requests: [], closed: false };
    conns.push(conn);
    let pending = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('close', () => (conn.closed = true));
    socket.on('data', (c: Buffer) => {
      conn.data = Buffer.concat([conn.data, c]);
      pending = Buffer.concat([pending, c]);
      for (let guard = 0; guard < 100; guard++) {
        const end = pending.indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) return;
        const head = pending.toString('latin1', 0, end);
        const ls = head.split('\r\n');
        const [method = '', path = ''] = ls[0]!.split(' ');
        const headers: Record<string, string> = {};
        for (const l of ls.slice(1)) {
          const i = l.indexOf(':');
          const k = l.slice(0, i).toLowerCase();
          const v = l.slice(i + 1).trim();
          headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
        }
        if (headers['transfer-encoding'] !== undefined) return; // recorded, never answered
        const n = Number(headers['content-length'] ?? '0');
        if (pending.length < end + 4 + n) return;
        const body = pending.subarray(end + 4, end + 4 + n);
        pending = pending.subarray(end + 4 + n);
        const r: OriginReq = { method, path, head, headers, body, index: conn.requests.length, conn };
        conn.requests.push(r);
        answer(socket, r);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    conns,
    requests: () => conns.flatMap((c) => c.requests),
    close: () => {
      for (const c of conns) c.socket.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A 200 with a Content-Length body (and `extra` header lines). */
export const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
