/**
 * SOCKS4, SOCKS4a (the NEC specifications) and SOCKS5 (RFC 1928) with
 * username/password authentication (RFC 1929), sans-IO: every parser takes the
 * bytes received so far and returns "need more", a message plus the bytes
 * after it, or an error with the reply code to send. Parsers never throw and
 * never read past their input; every length field has a limit.
 *
 * Message layouts (RFC 1928 §3, §4, §6, §7; RFC 1929 §2; SOCKS4/4a):
 *   SOCKS5 greeting   VER=5 | NMETHODS | METHODS[NMETHODS]
 *   RFC 1929 request  VER=1 | ULEN | UNAME[ULEN] | PLEN | PASSWD[PLEN]
 *   SOCKS5 request    VER=5 | CMD | RSV=0 | ATYP | DST.ADDR | DST.PORT(2)
 *   SOCKS5 reply      VER=5 | REP | RSV=0 | ATYP | BND.ADDR | BND.PORT(2)
 *   UDP datagram      RSV(2)=0 | FRAG | ATYP | DST.ADDR | DST.PORT(2) | DATA
 *   SOCKS4 request    VN=4 | CD | DSTPORT(2) | DSTIP(4) | USERID | 0x00 [ | DOMAIN | 0x00 ] (4a: DSTIP 0.0.0.x, x≠0)
 *   SOCKS4 reply      VN=0 | CD | DSTPORT(2) | DSTIP(4)
 */

export const SOCKS4_VERSION = 0x04;
export const SOCKS5_VERSION = 0x05;
export const AUTH_VERSION = 0x01;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERPASS = 0x02;
export const METHOD_NO_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
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

export const SOCKS4_GRANTED = 0x5a;
export const SOCKS4_REJECTED = 0x5b;
export const SOCKS4_NO_IDENTD = 0x5c;
export const SOCKS4_IDENTD_MISMATCH = 0x5d;

/** SOCKS4 USERID and 4a DOMAIN fields end with NUL; longer ones are refused. */
export const SOCKS4_MAX_FIELD = 255;

export type Parse<T> =
  | { kind: 'more' }
  | { kind: 'ok'; msg: T; rest: Buffer }
  | { kind: 'error'; code: number; reason: string };

const MORE = { kind: 'more' } as const;
const ok = <T>(msg: T, buf: Buffer, used: number): Parse<T> => ({ kind: 'ok', msg, rest: buf.subarray(used) });
const error = (code: number, reason: string): { kind: 'error'; code: number; reason: string } => ({ kind: 'error', code, reason });

export interface Address {
  /** IPv4 / IPv6 text, or a domain name */
  host: string;
  port: number;
  atyp: typeof ATYP_IPV4 | typeof ATYP_DOMAIN | typeof ATYP_IPV6;
}

export interface Greeting5 {
  methods: number[];
}

export interface Request5 {
  cmd: number;
  dst: Address;
}

export interface Request4 {
  cmd: number;
  dst: Address;
  userId: string;
  /** true for SOCKS4a (a domain name follows the USERID) */
  is4a: boolean;
}

export interface UserPass {
  username: string;
  password: string;
}

export interface UdpHeader {
  frag: number;
  dst: Address;
  data: Buffer;
}

export function ipv4Text(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function ipv6Text(b: Buffer, off: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(off + i).toString(16));
  // RFC 5952: compress the longest run of zero groups
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Reads ATYP | ADDR | PORT at `off`; returns the address and the offset after it, or null when more bytes are needed. */
function readAddress(buf: Buffer, off: number): { addr: Address; end: number } | 'more' | { code: number; reason: string } {
  if (buf.length < off + 1) return 'more';
  const atyp = buf[off]!;
  if (atyp === ATYP_IPV4) {
    if (buf.length < off + 1 + 4 + 2) return 'more';
    return { addr: { atyp, host: ipv4Text(buf, off + 1), port: buf.readUInt16BE(off + 5) }, end: off + 7 };
  }
  if (atyp === ATYP_IPV6) {
    if (buf.length < off + 1 + 16 + 2) return 'more';
    return { addr: { atyp, host: ipv6Text(buf, off + 1), port: buf.readUInt16BE(off + 17) }, end: off + 19 };
  }
  if (atyp === ATYP_DOMAIN) {
    if (buf.length < off + 2) return 'more';
    const len = buf[off + 1]!;
    if (len === 0) return { code: REP_HOST_UNREACHABLE, reason: 'empty domain name' };
    if (buf.length < off + 2 + len + 2) return 'more';
    const host = buf.toString('latin1', off + 2, off + 2 + len);
    if (!/^[A-Za-z0-9._-]+$/.test(host)) return { code: REP_HOST_UNREACHABLE, reason: `domain name "${host.slice(0, 64)}" has characters a host name cannot have` };
    return { addr: { atyp, host, port: buf.readUInt16BE(off + 2 + len) }, end: off + 4 + len };
  }
  return { code: REP_ADDRESS_TYPE_NOT_SUPPORTED, reason: `address type 0x${atyp.toString(16).padStart(2, '0')} is not supported` };
}

/** RFC 1928 §3: the version identifier / method selection message. */
export function parseGreeting5(buf: Buffer): Parse<Greeting5> {
  if (buf.length < 2) return MORE;
  if (buf[0] !== SOCKS5_VERSION) return error(REP_GENERAL_FAILURE, `not SOCKS5 (version byte 0x${buf[0]!.toString(16)})`);
  const n = buf[1]!;
  if (n === 0) return error(REP_GENERAL_FAILURE, 'the greeting offers no authentication method');
  if (buf.length < 2 + n) return MORE;
  return ok({ methods: [...buf.subarray(2, 2 + n)] }, buf, 2 + n);
}

/** RFC 1929 §2: username/password request. */
export function parseUserPass(buf: Buffer): Parse<UserPass> {
  if (buf.length < 2) return MORE;
  if (buf[0] !== AUTH_VERSION) return error(REP_GENERAL_FAILURE, `unknown username/password version 0x${buf[0]!.toString(16)}`);
  const ulen = buf[1]!;
  if (buf.length < 2 + ulen + 1) return MORE;
  const plen = buf[2 + ulen]!;
  if (buf.length < 3 + ulen + plen) return MORE;
  return ok(
    { username: buf.toString('utf8', 2, 2 + ulen), password: buf.toString('utf8', 3 + ulen, 3 + ulen + plen) },
    buf,
    3 + ulen + plen,
  );
}

/** RFC 1928 §4: the request. */
export function parseRequest5(buf: Buffer): Parse<Request5> {
  if (buf.length < 4) return MORE;
  if (buf[0] !== SOCKS5_VERSION) return error(REP_GENERAL_FAILURE, `request has version 0x${buf[0]!.toString(16)}, expected 5`);
  const cmd = buf[1]!;
  const a = readAddress(buf, 3);
  if (a === 'more') return MORE;
  if ('code' in a) return error(a.code, a.reason);
  if (cmd !== CMD_CONNECT && cmd !== CMD_BIND && cmd !== CMD_UDP_ASSOCIATE) {
    return error(REP_COMMAND_NOT_SUPPORTED, `command 0x${cmd.toString(16).padStart(2, '0')} is not supported`);
  }
  return ok({ cmd, dst: a.addr }, buf, a.end);
}

function indexOfNul(buf: Buffer, from: number, max: number): number | 'more' | 'toolong' {
  const end = Math.min(buf.length, from + max + 1);
  for (let i = from; i < end; i++) if (buf[i] === 0) return i;
  return buf.length >= from + max + 1 ? 'toolong' : 'more';
}

/** SOCKS4 / SOCKS4a request. */
export function parseRequest4(buf: Buffer): Parse<Request4> {
  if (buf.length < 8) return MORE;
  if (buf[0] !== SOCKS4_VERSION) return error(SOCKS4_REJECTED, `not SOCKS4 (version byte 0x${buf[0]!.toString(16)})`);
  const cmd = buf[1]!;
  const port = buf.readUInt16BE(2);
  const ip = ipv4Text(buf, 4);
  const userEnd = indexOfNul(buf, 8, SOCKS4_MAX_FIELD);
  if (userEnd === 'more') return MORE;
  if (userEnd === 'toolong') return error(SOCKS4_REJECTED, `USERID longer than ${SOCKS4_MAX_FIELD} bytes`);
  const userId = buf.toString('latin1', 8, userEnd);
  let end = userEnd + 1;
  let dst: Address = { atyp: ATYP_IPV4, host: ip, port };
  // SOCKS4a: DSTIP 0.0.0.x with x ≠ 0 means a domain name follows the USERID
  const is4a = buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0;
  if (is4a) {
    const hostEnd = indexOfNul(buf, end, SOCKS4_MAX_FIELD);
    if (hostEnd === 'more') return MORE;
    if (hostEnd === 'toolong') return error(SOCKS4_REJECTED, `SOCKS4a domain name longer than ${SOCKS4_MAX_FIELD} bytes`);
    const host = buf.toString('latin1', end, hostEnd);
    if (!host || !/^[A-Za-z0-9._-]+$/.test(host)) return error(SOCKS4_REJECTED, `SOCKS4a domain name "${host.slice(0, 64)}" is not a host name`);
    dst = { atyp: ATYP_DOMAIN, host, port };
    end = hostEnd + 1;
  }
  if (cmd !== CMD_CONNECT && cmd !== CMD_BIND) return error(SOCKS4_REJECTED, `SOCKS4 command 0x${cmd.toString(16)} is not supported`);
  return ok({ cmd, dst, userId, is4a }, buf, end);
}

/** RFC 1928 §7: a UDP request header. */
export function parseUdp(buf: Buffer): Parse<UdpHeader> {
  if (buf.length < 4) return MORE;
  if (buf[0] !== 0 || buf[1] !== 0) return error(REP_GENERAL_FAILURE, 'UDP header RSV is not zero');
  const a = readAddress(buf, 3);
  if (a === 'more') return MORE;
  if ('code' in a) return error(a.code, a.reason);
  return ok({ frag: buf[2]!, dst: a.addr, data: buf.subarray(a.end) }, buf, buf.length);
}

function encodeAddress(host: string, port: number): Buffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  let out: Buffer;
  if (v4) {
    out = Buffer.from([ATYP_IPV4, +v4[1]!, +v4[2]!, +v4[3]!, +v4[4]!, 0, 0]);
  } else if (host.includes(':')) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
    if (mapped) return encodeAddress(mapped[1]!, port);
    out = Buffer.alloc(19);
    out[0] = ATYP_IPV6;
    const [head, tail] = host.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16) & 0xffff, 1 + i * 2));
  } else {
    const name = Buffer.from(host, 'latin1').subarray(0, 255);
    out = Buffer.alloc(2 + name.length + 2);
    out[0] = ATYP_DOMAIN;
    out[1] = name.length;
    name.copy(out, 2);
  }
  out.writeUInt16BE(port, out.length - 2);
  return out;
}

export function methodReply(method: number): Buffer {
  return Buffer.from([SOCKS5_VERSION, method]);
}

export function authReply(success: boolean): Buffer {
  return Buffer.from([AUTH_VERSION, success ? 0x00 : 0x01]);
}

/** RFC 1928 §6: VER | REP | RSV | ATYP | BND.ADDR | BND.PORT */
export function reply5(rep: number, host = '0.0.0.0', port = 0): Buffer {
  return Buffer.concat([Buffer.from([SOCKS5_VERSION, rep, 0x00]), encodeAddress(host, port)]);
}

/** SOCKS4: VN=0 | CD | DSTPORT | DSTIP (an IPv6 bound address cannot be said: 0.0.0.0) */
export function reply4(cd: number, host = '0.0.0.0', port = 0): Buffer {
  const out = Buffer.alloc(8);
  out[1] = cd;
  out.writeUInt16BE(port, 2);
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(host);
  if (v4) for (let i = 0; i < 4; i++) out[4 + i] = Number(v4[i + 1]);
  return out;
}

export function udpHeader(host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(host, port)]);
}
