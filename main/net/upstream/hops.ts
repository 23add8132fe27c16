/**
 * The client side of the three upstream-proxy handshakes, sans-IO: builders of
 * the bytes Gatehouse sends to an upstream proxy, and parsers of what the proxy
 * answers. A parser is fed the bytes as they arrive and says "need more",
 * "done" with the bytes after the reply (the start of the tunnelled stream), or
 * a fault. `HopHandshake` strings them together for one hop. No sockets here:
 * chain.ts does the I/O.
 *
 * Message layouts (what we send ⇒ what we read):
 *   HTTP CONNECT (RFC 9110 §9.3.6)  "CONNECT host:port HTTP/1.1" Host [Proxy-Authorization: Basic (RFC 7617)]
 *                                   ⇒ status line, header fields, empty line; any 2xx opens the tunnel
 *   SOCKS4 / SOCKS4a                VN=4 | CD=1 | DSTPORT(2) | DSTIP(4) | USERID | 0 [ | DOMAIN | 0 ]
 *                                   (4a: DSTIP 0.0.0.x with x ≠ 0, the domain follows the USERID)
 *                                   ⇒ VN=0 | CD | DSTPORT(2) | DSTIP(4); CD 90 = granted
 *   SOCKS5 greeting (RFC 1928 §3)   VER=5 | NMETHODS | METHODS            ⇒ VER=5 | METHOD
 *   RFC 1929 §2 sign-in             VER=1 | ULEN | UNAME | PLEN | PASSWD  ⇒ VER=1 | STATUS (0 = success)
 *   SOCKS5 request (RFC 1928 §4)    VER=5 | CMD | RSV=0 | ATYP | DST.ADDR | DST.PORT(2)
 *                                   ⇒ (§6) VER=5 | REP | RSV | ATYP | BND.ADDR | BND.PORT(2)
 *   SOCKS5 UDP datagram (§7)        RSV(2)=0 | FRAG | ATYP | DST.ADDR | DST.PORT(2) | DATA
 */
import { isIPv4, isIPv6 } from 'node:net';

// RFC 1928 / RFC 1929 field values
export const SOCKS5_VER = 0x05;
export const RFC1929_VER = 0x01;
export const RFC1929_STATUS_SUCCESS = 0x00;
export const METHOD_NO_AUTHENTICATION_REQUIRED = 0x00;
export const METHOD_USERNAME_PASSWORD = 0x02;
export const METHOD_NO_ACCEPTABLE_METHODS = 0xff;
export const CMD_CONNECT = 0x01;
export const CMD_UDP_ASSOCIATE = 0x03;
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAINNAME = 0x03;
export const ATYP_IPV6 = 0x04;
export const REP_SUCCEEDED = 0x00;
export const REP_GENERAL_FAILURE = 0x01;
export const REP_NOT_ALLOWED = 0x02;
export const REP_NETWORK_UNREACHABLE = 0x03;
export const REP_HOST_UNREACHABLE = 0x04;
export const REP_CONNECTION_REFUSED = 0x05;
export const REP_TTL_EXPIRED = 0x06;
export const REP_COMMAND_NOT_SUPPORTED = 0x07;
export const REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08;

// SOCKS4 / 4a field values ("SOCKS: A protocol for TCP proxy across firewalls"; "SOCKS 4A: A Simple Extension")
export const SOCKS4_VN = 0x04;
export const SOCKS4_REPLY_VN = 0x00;
export const SOCKS4_CD_CONNECT = 0x01;
export const SOCKS4_CD_GRANTED = 90;
export const SOCKS4_CD_REJECTED = 91;
export const SOCKS4_CD_NO_IDENTD = 92;
export const SOCKS4_CD_IDENTD_MISMATCH = 93;

/** The most header bytes we read of an HTTP CONNECT reply before giving up on it. */
export const HTTP_REPLY_MAX_HEADER_BYTES = 16 * 1024;
/** A one-byte length field (SOCKS5 domain, RFC 1929 UNAME/PASSWD) holds at most this. */
export const MAX_FIELD_BYTES = 255;

const REP_TEXT: Record<number, string> = {
  [REP_GENERAL_FAILURE]: 'general SOCKS server failure',
  [REP_NOT_ALLOWED]: 'connection not allowed by ruleset',
  [REP_NETWORK_UNREACHABLE]: 'network unreachable',
  [REP_HOST_UNREACHABLE]: 'host unreachable',
  [REP_CONNECTION_REFUSED]: 'connection refused',
  [REP_TTL_EXPIRED]: 'TTL expired',
  [REP_COMMAND_NOT_SUPPORTED]: 'command not supported',
  [REP_ADDRESS_TYPE_NOT_SUPPORTED]: 'address type not supported',
};

/** SOCKS5 REPs that say the proxy could not reach what it was asked for (not that it refused us), as errno codes. */
const REP_ERRNO: Record<number, string> = {
  [REP_NETWORK_UNREACHABLE]: 'ENETUNREACH',
  [REP_HOST_UNREACHABLE]: 'EHOSTUNREACH',
  [REP_CONNECTION_REFUSED]: 'ECONNREFUSED',
  [REP_TTL_EXPIRED]: 'ETIMEDOUT',
};

/** RFC 9209 §2.3 Proxy-Status error types that say the next connection failed, as errno codes. */
const PROXY_STATUS_ERRNO: Record<string, string> = {
  connection_refused: 'ECONNREFUSED',
  connection_timeout: 'ETIMEDOUT',
  connection_terminated: 'ECONNRESET',
  destination_unavailable: 'EHOSTUNREACH',
  destination_ip_unroutable: 'ENETUNREACH',
  destination_not_found: 'ENOTFOUND',
  dns_error: 'ENOTFOUND',
  dns_timeout: 'EAI_AGAIN',
};

/** Squid's X-Squid-Error "ERR_CONNECT_FAIL <errno>": the Linux errno numbers it reports. */
const LINUX_ERRNO: Record<string, string> = {
  '100': 'ENETDOWN',
  '101': 'ENETUNREACH',
  '104': 'ECONNRESET',
  '110': 'ETIMEDOUT',
  '111': 'ECONNREFUSED',
  '112': 'EHOSTDOWN',
  '113': 'EHOSTUNREACH',
};

/** Where a hop is asked to connect: a DNS name or an IP literal (IPv6 without brackets). */
export interface Dest {
  host: string;
  port: number;
}

/**
 * What went wrong in a reply:
 * - protocol: the bytes are not the protocol (or the proxy closed mid-handshake)
 * - auth: the proxy did not accept our sign-in
 * - refused: the proxy refused the request (its rules, an unsupported command)
 * - unreachable: the proxy tried and could not reach the destination (`code` is the errno it reported)
 */
export interface Fault {
  kind: 'protocol' | 'auth' | 'refused' | 'unreachable';
  code: string;
  reason: string;
}

export type Feed<T> = { kind: 'more' } | { kind: 'done'; value: T; rest: Buffer } | { kind: 'error'; fault: Fault };

const MORE = { kind: 'more' } as const;
const EMPTY = Buffer.alloc(0);
const fault = (kind: Fault['kind'], code: string, reason: string): { kind: 'error'; fault: Fault } => ({ kind: 'error', fault: { kind, code, reason } });
const protocolFault = (reason: string) => fault('protocol', 'E_HOP_PROTOCOL', reason);
const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** Appends to a parser's buffer (no copy for the common single-chunk case). */
function append(have: Buffer, chunk: Buffer): Buffer {
  return have.length === 0 ? chunk : Buffer.concat([have, chunk]);
}

/** "host:port", IPv6 in brackets (RFC 9110 §9.3.6 authority-form, RFC 3986 §3.2.2). */
export function authority(d: Dest): string {
  return d.host.includes(':') ? `[${d.host}]:${d.port}` : `${d.host}:${d.port}`;
}

/** Printable ASCII only, bounded: for quoting what a proxy sent inside our one-line messages. */
function printable(text: string, max = 200): string {
  const t = text.replace(/[^\x20-\x7e]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

// ---------------------------------------------------------------------------------------------
// HTTP CONNECT

export interface Credentials {
  user: string;
  password: string;
}

/** Throws unless `host` is an IP literal or a host name, so it cannot smuggle bytes into a request. */
export function checkDest(dest: Dest, minPort = 1): void {
  if (!Number.isInteger(dest.port) || dest.port < minPort || dest.port > 65535) throw new Error(`port ${dest.port} is not ${minPort}-65535`);
  if (isIPv4(dest.host) || isIPv6(dest.host)) return;
  if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_.])?$/.test(dest.host)) throw new Error(`"${printable(dest.host, 64)}" is not a host name`);
}

/** RFC 9110 §9.3.6 CONNECT in authority-form, with Basic credentials (RFC 7617, UTF-8) when given. */
export function httpConnectRequest(dest: Dest, creds?: Credentials | null): Buffer {
  checkDest(dest);
  // RFC 7617 §2: the user-id cannot contain a colon (the first colon ends it)
  if (creds?.user.includes(':')) throw new Error('a user name for an HTTP proxy cannot contain ":" (RFC 7617)');
  const a = authority(dest);
  let head = `CONNECT ${a} HTTP/1.1\r\nHost: ${a}\r\n`;
  if (creds) head += `Proxy-Authorization: Basic ${Buffer.from(`${creds.user}:${creds.password}`, 'utf8').toString('base64')}\r\n`;
  return Buffer.from(`${head}\r\n`, 'latin1');
}

const HTTP_PREFIX = Buffer.from('HTTP/1.', 'latin1');

export interface HttpConnectReply {
  status: number;
  statusLine: string;
}

/** The errno a failed CONNECT reply names, from RFC 9209 Proxy-Status or Squid's X-Squid-Error; null when it names none. */
function replyErrno(headers: Array<[string, string]>): string | null {
  let found: string | null = null;
  for (const [name, value] of headers) {
    if (name === 'proxy-status') {
      // each proxy appends its member (RFC 9209 §2): the last one with an error is the hop we spoke to
      for (const member of value.split(',')) {
        const m = /;\s*error\s*=\s*"?([a-z_]+)"?/i.exec(member);
        if (m && PROXY_STATUS_ERRNO[m[1]!.toLowerCase()]) found = PROXY_STATUS_ERRNO[m[1]!.toLowerCase()]!;
      }
    } else if (name === 'x-squid-error') {
      const m = /^(ERR_[A-Z_]+)(?:\s+(\d+))?/.exec(value.trim());
      if (m?.[1] === 'ERR_CONNECT_FAIL') found = LINUX_ERRNO[m[2] ?? ''] ?? 'ECONNREFUSED';
      else if (m?.[1] === 'ERR_DNS_FAIL') found = 'ENOTFOUND';
      else if (m?.[1] === 'ERR_CONNECT_TIMEOUT' || m?.[1] === 'ERR_READ_TIMEOUT') found = 'ETIMEDOUT';
    }
  }
  return found;
}

/**
 * The reply to an HTTP CONNECT: reads header blocks (interim 1xx ones are skipped, RFC 9110
 * §15.2) up to HTTP_REPLY_MAX_HEADER_BYTES in all. A 2xx is done and the bytes after its empty
 * line are the tunnel's (RFC 9110 §9.3.6: a 2xx CONNECT reply has no content). 407 is a sign-in
 * fault; 502 and 504 mean the proxy could not reach the destination; anything else is a refusal.
 */
export class HttpConnectReplyParser {
  private buf: Buffer = EMPTY;
  /** header bytes of earlier (1xx) blocks */
  private consumed = 0;
  /** where the search for the empty line resumes (bytes before it hold none) */
  private scanned = 0;

  feed(chunk: Buffer): Feed<HttpConnectReply> {
    this.buf = append(this.buf, chunk);
    for (;;) {
      const head = this.buf.subarray(0, HTTP_PREFIX.length);
      if (!head.equals(HTTP_PREFIX.subarray(0, head.length))) {
        return protocolFault(`the proxy did not answer in HTTP (it sent "${printable(this.buf.toString('latin1', 0, 32))}")`);
      }
      // a header block ends with an empty line; RFC 9112 §2.2 lets a recipient accept a bare LF
      const end = findHeaderEnd(this.buf, this.scanned);
      if (end === null) {
        if (this.consumed + this.buf.length > HTTP_REPLY_MAX_HEADER_BYTES) {
          return protocolFault(`the proxy's reply headers exceed ${HTTP_REPLY_MAX_HEADER_BYTES} bytes`);
        }
        this.scanned = Math.max(0, this.buf.length - 2);
        return MORE;
      }
      this.scanned = 0;
      const block = this.buf.toString('latin1', 0, end.at).replace(/\r$/, '');
      const lines = block.split(/\r?\n/);
      const statusLine = lines[0]!;
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      if (!m) return protocolFault(`the proxy's reply does not start with an HTTP/1.x status line (it sent "${printable(statusLine)}")`);
      const status = Number(m[1]);
      this.consumed += end.after;
      const rest = this.buf.subarray(end.after);
      if (status >= 100 && status < 200) {
        this.buf = rest;
        continue;
      }
      this.buf = EMPTY;
      const quoted = printable(`${status}${m[2] ? ` ${m[2]}` : ''}`);
      if (status >= 200 && status < 300) return { kind: 'done', value: { status, statusLine: quoted }, rest };
      if (status === 407) return fault('auth', 'E_HOP_AUTH', `the proxy refused: ${quoted}`);
      const headers: Array<[string, string]> = [];
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
      }
      const errno = replyErrno(headers) ?? (status === 504 ? 'ETIMEDOUT' : status === 502 ? 'E_HOP_UNREACHABLE' : null);
      if (errno) return fault('unreachable', errno, `the proxy could not connect: ${quoted}`);
      return fault('refused', 'E_HOP_REFUSED', `the proxy refused: ${quoted}`);
    }
  }
}

/** The end of the first header block at or after `from`: where its empty line starts and the offset after it. */
function findHeaderEnd(buf: Buffer, from: number): { at: number; after: number } | null {
  for (let i = buf.indexOf(0x0a, from); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (buf[i + 1] === 0x0a) return { at: i, after: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { at: i, after: i + 3 };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// SOCKS4 / SOCKS4a

/**
 * A SOCKS4 CONNECT for an IPv4 literal, SOCKS4a (DSTIP 0.0.0.1, the name after the USERID)
 * for a name. Throws for an IPv6 literal, which neither can carry, and for NUL in a field.
 */
export function socks4ConnectRequest(dest: Dest, userId = ''): Buffer {
  checkDest(dest);
  if (isIPv6(dest.host)) throw new Error(`SOCKS4a cannot carry the IPv6 address ${dest.host}`);
  const user = Buffer.from(userId, 'utf8');
  if (user.includes(0)) throw new Error('a SOCKS4 user id cannot contain NUL');
  const head = Buffer.alloc(8);
  head[0] = SOCKS4_VN;
  head[1] = SOCKS4_CD_CONNECT;
  head.writeUInt16BE(dest.port, 2);
  if (isIPv4(dest.host)) {
    dest.host.split('.').forEach((o, i) => (head[4 + i] = Number(o)));
    return Buffer.concat([head, user, Buffer.from([0])]);
  }
  const name = Buffer.from(dest.host, 'latin1');
  if (name.length === 0 || name.includes(0)) throw new Error(`"${printable(dest.host)}" is not a host name`);
  head[7] = 1; // 0.0.0.1: "an invalid IP address" that tells a 4a server a name follows
  return Buffer.concat([head, user, Buffer.from([0]), name, Buffer.from([0])]);
}

export interface Socks4Reply {
  cd: number;
}

const SOCKS4_CD_TEXT: Record<number, string> = {
  [SOCKS4_CD_REJECTED]: 'request rejected or failed',
  [SOCKS4_CD_NO_IDENTD]: 'the proxy cannot reach our identd',
  [SOCKS4_CD_IDENTD_MISMATCH]: 'identd reports a different user id',
};

/** The 8-byte SOCKS4 reply. VN is 0 by the specification; some servers send 4, which is accepted. */
export class Socks4ReplyParser {
  private buf: Buffer = EMPTY;

  feed(chunk: Buffer): Feed<Socks4Reply> {
    this.buf = append(this.buf, chunk);
    if (this.buf.length < 1) return MORE;
    if (this.buf[0] !== SOCKS4_REPLY_VN && this.buf[0] !== SOCKS4_VN) return protocolFault(`not a SOCKS4 reply (version byte ${hex(this.buf[0]!)})`);
    if (this.buf.length < 8) return MORE;
    const cd = this.buf[1]!;
    const rest = this.buf.subarray(8);
    this.buf = EMPTY;
    if (cd === SOCKS4_CD_GRANTED) return { kind: 'done', value: { cd }, rest };
    const text = SOCKS4_CD_TEXT[cd] ?? 'unknown code';
    if (cd === SOCKS4_CD_NO_IDENTD || cd === SOCKS4_CD_IDENTD_MISMATCH) return fault('auth', 'E_HOP_AUTH', `SOCKS4 reply ${cd} (${text})`);
    // 91 covers both "not allowed" and "could not connect": the proxy does not say which
    return fault('refused', 'E_HOP_REFUSED', `SOCKS4 reply ${cd} (${text})`);
  }
}

// ---------------------------------------------------------------------------------------------
// SOCKS5

/** RFC 1928 §3: offer no authentication, and username/password (RFC 1929) when we have credentials. */
export function socks5Greeting(withCredentials: boolean): Buffer {
  return withCredentials
    ? Buffer.from([SOCKS5_VER, 2, METHOD_NO_AUTHENTICATION_REQUIRED, METHOD_USERNAME_PASSWORD])
    : Buffer.from([SOCKS5_VER, 1, METHOD_NO_AUTHENTICATION_REQUIRED]);
}

/** RFC 1929 §2: throws when a field does not fit its one-byte length (UNAME must not be empty). */
export function socks5UserPassRequest(creds: Credentials): Buffer {
  const u = Buffer.from(creds.user, 'utf8');
  const p = Buffer.from(creds.password, 'utf8');
  if (u.length < 1 || u.length > MAX_FIELD_BYTES) throw new Error(`a SOCKS5 user name must be 1 to ${MAX_FIELD_BYTES} bytes (RFC 1929), this one is ${u.length}`);
  if (p.length > MAX_FIELD_BYTES) throw new Error(`a SOCKS5 password must be at most ${MAX_FIELD_BYTES} bytes (RFC 1929), this one is ${p.length}`);
  return Buffer.concat([Buffer.from([RFC1929_VER, u.length]), u, Buffer.from([p.length]), p]);
}

/**
 * ATYP | DST.ADDR | DST.PORT (RFC 1928 §4, §5): IPv4 and IPv6 literals as addresses, anything
 * else as a name. Port 0 only where RFC 1928 §7 allows it (UDP ASSOCIATE's "not known yet").
 */
export function socks5Address(dest: Dest, minPort = 1): Buffer {
  checkDest(dest, minPort);
  let addr: Buffer;
  if (isIPv4(dest.host)) {
    addr = Buffer.from([ATYP_IPV4, ...dest.host.split('.').map(Number)]);
  } else if (isIPv6(dest.host)) {
    addr = Buffer.concat([Buffer.from([ATYP_IPV6]), ipv6Bytes(dest.host)]);
  } else {
    const name = Buffer.from(dest.host, 'latin1');
    addr = Buffer.concat([Buffer.from([ATYP_DOMAINNAME, name.length]), name]);
  }
  const port = Buffer.alloc(2);
  port.writeUInt16BE(dest.port);
  return Buffer.concat([addr, port]);
}

/** RFC 1928 §4: VER | CMD | RSV | ATYP | DST.ADDR | DST.PORT */
export function socks5Request(cmd: number, dest: Dest): Buffer {
  return Buffer.concat([Buffer.from([SOCKS5_VER, cmd, 0x00]), socks5Address(dest, cmd === CMD_UDP_ASSOCIATE ? 0 : 1)]);
}

/** The 16 bytes of an IPv6 literal (net.isIPv6 has vetted it), an embedded IPv4 tail included. */
export function ipv6Bytes(text: string): Buffer {
  let t = text.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    t = `${t.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = t.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const tl = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return out;
}

function ipv6Text(b: Buffer, off: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(off + i).toString(16));
  // RFC 5952 §4.2: the longest run (of two or more) of zero groups becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Reads ATYP | ADDR | PORT at `off`: the address and where it ends, 'more', or the reason it is not one. */
export function readSocks5Address(buf: Buffer, off: number): { host: string; port: number; end: number } | 'more' | string {
  if (buf.length < off + 1) return 'more';
  const atyp = buf[off]!;
  if (atyp === ATYP_IPV4) {
    if (buf.length < off + 7) return 'more';
    return { host: `${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}.${buf[off + 4]}`, port: buf.readUInt16BE(off + 5), end: off + 7 };
  }
  if (atyp === ATYP_IPV6) {
    if (buf.length < off + 19) return 'more';
    return { host: ipv6Text(buf, off + 1), port: buf.readUInt16BE(off + 17), end: off + 19 };
  }
  if (atyp === ATYP_DOMAINNAME) {
    if (buf.length < off + 2) return 'more';
    const len = buf[off + 1]!;
    if (buf.length < off + 2 + len + 2) return 'more';
    return { host: buf.toString('latin1', off + 2, off + 2 + len), port: buf.readUInt16BE(off + 2 + len), end: off + 4 + len };
  }
  return `unknown address type ${hex(atyp)}`;
}

/** RFC 1928 §3: the method the server selected; it must be one we offered. */
export class Socks5MethodParser {
  private buf: Buffer = EMPTY;
  constructor(private readonly offered: readonly number[]) {}

  feed(chunk: Buffer): Feed<{ method: number }> {
    this.buf = append(this.buf, chunk);
    if (this.buf.length < 1) return MORE;
    if (this.buf[0] !== SOCKS5_VER) return protocolFault(`not a SOCKS5 reply (version byte ${hex(this.buf[0]!)})`);
    if (this.buf.length < 2) return MORE;
    const method = this.buf[1]!;
    const rest = this.buf.subarray(2);
    this.buf = EMPTY;
    if (method === METHOD_NO_ACCEPTABLE_METHODS) {
      const ours = this.offered.includes(METHOD_USERNAME_PASSWORD) ? 'no sign-in or username/password' : 'no sign-in (it may want a user name and password)';
      return fault('auth', 'E_HOP_AUTH', `the proxy accepts none of our sign-in methods (we offered ${ours})`);
    }
    if (!this.offered.includes(method)) return protocolFault(`the proxy chose sign-in method ${hex(method)}, which we did not offer`);
    return { kind: 'done', value: { method }, rest };
  }
}

/** RFC 1929 §2: VER | STATUS; a status other than 0 means the proxy did not accept the user name and password. */
export class Socks5AuthReplyParser {
  private buf: Buffer = EMPTY;

  feed(chunk: Buffer): Feed<{ status: number }> {
    this.buf = append(this.buf, chunk);
    if (this.buf.length < 1) return MORE;
    if (this.buf[0] !== RFC1929_VER) return protocolFault(`not a username/password reply (version byte ${hex(this.buf[0]!)})`);
    if (this.buf.length < 2) return MORE;
    const status = this.buf[1]!;
    const rest = this.buf.subarray(2);
    this.buf = EMPTY;
    if (status !== RFC1929_STATUS_SUCCESS) return fault('auth', 'E_HOP_AUTH', `the proxy did not accept the user name and password (RFC 1929 status ${hex(status)})`);
    return { kind: 'done', value: { status }, rest };
  }
}

export interface Socks5Reply {
  rep: number;
  bound: Dest;
}

/** RFC 1928 §6: the reply to a request. REP 0 is done; REP 3–6 mean the proxy could not reach the destination. */
export class Socks5ReplyParser {
  private buf: Buffer = EMPTY;

  feed(chunk: Buffer): Feed<Socks5Reply> {
    this.buf = append(this.buf, chunk);
    if (this.buf.length < 1) return MORE;
    if (this.buf[0] !== SOCKS5_VER) return protocolFault(`not a SOCKS5 reply (version byte ${hex(this.buf[0]!)})`);
    if (this.buf.length < 2) return MORE;
    const rep = this.buf[1]!;
    if (rep !== REP_SUCCEEDED) {
      // a failure ends the conversation (§6: the server closes soon after): no need to read BND
      this.buf = EMPTY;
      const what = `SOCKS5 reply ${hex(rep)} (${REP_TEXT[rep] ?? 'unassigned'})`;
      if (REP_ERRNO[rep]) return fault('unreachable', REP_ERRNO[rep]!, what);
      return fault('refused', 'E_HOP_REFUSED', what);
    }
    const a = readSocks5Address(this.buf, 3);
    if (a === 'more') return MORE;
    if (typeof a === 'string') return protocolFault(`SOCKS5 reply: ${a}`);
    const rest = this.buf.subarray(a.end);
    this.buf = EMPTY;
    return { kind: 'done', value: { rep, bound: { host: a.host, port: a.port } }, rest };
  }
}

/** RFC 1928 §7: the header put before each UDP payload sent through the relay. */
export function socks5UdpDatagram(dest: Dest, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0]), socks5Address(dest), payload]);
}

/** RFC 1928 §7: a datagram from the relay, or null when it is not one we can use (fragments are dropped, as §7 allows). */
export function parseSocks5UdpDatagram(buf: Buffer): { host: string; port: number; payload: Buffer } | null {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0) return null;
  const a = readSocks5Address(buf, 3);
  if (typeof a !== 'object') return null;
  return { host: a.host, port: a.port, payload: buf.subarray(a.end) };
}

// ---------------------------------------------------------------------------------------------
// One hop's whole handshake

export type HopKindName = 'http' | 'socks4a' | 'socks5';

export interface HopSpec {
  kind: HopKindName;
  user?: string | null;
  password?: string | null;
}

/** What to do next: send bytes (then wait), wait for more, done (the bytes after the last reply), or a fault. */
export type Step = { kind: 'send'; bytes: Buffer } | { kind: 'more' } | { kind: 'done'; rest: Buffer; bound: Dest | null } | { kind: 'error'; fault: Fault };

type Stage =
  | { name: 'method'; p: Socks5MethodParser }
  | { name: 'auth'; p: Socks5AuthReplyParser }
  | { name: 'reply5'; p: Socks5ReplyParser }
  | { name: 'reply4'; p: Socks4ReplyParser }
  | { name: 'http'; p: HttpConnectReplyParser }
  | { name: 'done' };

/**
 * The handshake with one hop, asking it to CONNECT to `dest` (or, for SOCKS5, UDP ASSOCIATE).
 * With `dest` null it stops once signed in: SOCKS5 does its greeting and RFC 1929 sign-in,
 * HTTP and SOCKS4a have nothing to say before a request (a health check's "is it up").
 * `start()` gives the first bytes; `feed()` takes what arrives and says what to do.
 */
export class HopHandshake {
  private stage: Stage = { name: 'done' };
  private readonly creds: Credentials | null;

  constructor(
    private readonly hop: HopSpec,
    private readonly dest: Dest | null,
    private readonly cmd: number = CMD_CONNECT,
  ) {
    this.creds = hop.user != null && hop.user !== '' ? { user: hop.user, password: hop.password ?? '' } : null;
  }

  /** The first step; throws (before anything is sent) when the request cannot be expressed, e.g. SOCKS4a and an IPv6 literal. */
  start(): Step {
    const { kind } = this.hop;
    if (kind === 'socks5') {
      const offered = this.creds ? [METHOD_NO_AUTHENTICATION_REQUIRED, METHOD_USERNAME_PASSWORD] : [METHOD_NO_AUTHENTICATION_REQUIRED];
      if (this.creds) socks5UserPassRequest(this.creds); // a field too long fails here, not mid-handshake
      if (this.dest) socks5Request(this.cmd, this.dest);
      this.stage = { name: 'method', p: new Socks5MethodParser(offered) };
      return { kind: 'send', bytes: socks5Greeting(this.creds !== null) };
    }
    if (!this.dest) return { kind: 'done', rest: EMPTY, bound: null };
    if (kind === 'socks4a') {
      this.stage = { name: 'reply4', p: new Socks4ReplyParser() };
      return { kind: 'send', bytes: socks4ConnectRequest(this.dest, this.hop.user ?? '') };
    }
    this.stage = { name: 'http', p: new HttpConnectReplyParser() };
    return { kind: 'send', bytes: httpConnectRequest(this.dest, this.creds) };
  }

  /** Where the handshake is, for messages: "greeting", "sign-in", "request". */
  get waitingFor(): 'greeting' | 'sign-in' | 'request' | 'nothing' {
    const n = this.stage.name;
    return n === 'method' ? 'greeting' : n === 'auth' ? 'sign-in' : n === 'done' ? 'nothing' : 'request';
  }

  feed(chunk: Buffer): Step {
    const s = this.stage;
    switch (s.name) {
      case 'done':
        return protocolStep('the proxy sent bytes after the handshake ended');
      case 'method': {
        const r = s.p.feed(chunk);
        if (r.kind !== 'done') return r;
        if (r.value.method === METHOD_USERNAME_PASSWORD) {
          this.stage = { name: 'auth', p: new Socks5AuthReplyParser() };
          return this.sendThen(socks5UserPassRequest(this.creds!), r.rest);
        }
        return this.afterSignIn(r.rest);
      }
      case 'auth': {
        const r = s.p.feed(chunk);
        if (r.kind !== 'done') return r;
        return this.afterSignIn(r.rest);
      }
      case 'reply5':
      case 'reply4':
      case 'http': {
        const r = s.p.feed(chunk);
        if (r.kind !== 'done') return r;
        this.stage = { name: 'done' };
        return { kind: 'done', rest: r.rest, bound: 'bound' in r.value ? r.value.bound : null };
      }
    }
  }

  private afterSignIn(rest: Buffer): Step {
    if (!this.dest) {
      this.stage = { name: 'done' };
      return rest.length ? protocolStep('the proxy sent bytes we did not ask for') : { kind: 'done', rest, bound: null };
    }
    this.stage = { name: 'reply5', p: new Socks5ReplyParser() };
    return this.sendThen(socks5Request(this.cmd, this.dest), rest);
  }

  /** A server does not speak before we send; bytes it sent early are a protocol error. */
  private sendThen(bytes: Buffer, rest: Buffer): Step {
    return rest.length ? protocolStep('the proxy sent bytes before our next message') : { kind: 'send', bytes };
  }
}

function protocolStep(reason: string): Step {
  return { kind: 'error', fault: { kind: 'protocol', code: 'E_HOP_PROTOCOL', reason } };
}
