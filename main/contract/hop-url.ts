/**
 * One upstream hop written as a URL, read into the contract's HopInput:
 * "http://[user:pass@]host:port", "socks4a://[user@]host:port",
 * "socks5://[user:pass@]host:port". The CLI reads a chain's hops this way
 * (one a line on standard input) and the UI may too; the gateway stores and
 * dials the HopInput.
 *
 * A hop line carries a password, so no message quotes one: the line is quoted
 * with its password replaced by "***", and a part that might be a password
 * in the wrong place (a non-numeric port, an authority with stray colons) is
 * not quoted at all. The line number says where to look.
 *
 * This module uses no node API (the renderer imports the contract).
 */
import { parseIPv4, parseIPv6 } from './addresses.js';
import { GatehouseError } from './errors.js';
import type { HopInput, HopKind } from './tunnels.js';

const SCHEMES: Record<string, HopKind> = { http: 'http', socks4a: 'socks4a', socks5: 'socks5', socks5h: 'socks5' };
const SCHEME_HINTS: Record<string, string> = {
  https: 'a TLS connection to the proxy is not supported; use http:// (CONNECT still carries TLS end to end)',
  socks4: 'use socks4a:// (it speaks plain SOCKS4 to IPv4 addresses)',
  socks: 'say which version: socks5:// or socks4a://',
};
const KINDS_TEXT = 'http://[user:pass@]host:port, socks4a://[user@]host:port or socks5://[user:pass@]host:port';

const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;
/** "host", "host:123", "[v6]:123", perhaps with a path after: nothing here can be a password */
const SAFE_AUTHORITY = /^(\[[^\]]*\]|[^:[\]@\s]*)(:\d*)?([/?#]\S*)?$/;
const safe = (authority: string) => (SAFE_AUTHORITY.test(authority) ? authority : '***');

/** The line as it may be quoted: its password, and anything that might be one, replaced by "***". */
function quotable(line: string): string {
  const m = SCHEME_RE.exec(line);
  if (!m) {
    // no scheme: "alice:secret@proxy:1080" or "alice:secret"; quote only what comes before ":" or "@"
    const cut = line.search(/[:@]/);
    return cut < 0 ? line : `${line.slice(0, cut)}…`;
  }
  const rest = m[2]!;
  const at = rest.lastIndexOf('@');
  if (at < 0) return `${m[1]}://${safe(rest)}`;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = colon >= 0 ? `${userinfo.slice(0, colon)}:***` : userinfo;
  return `${m[1]}://${user}@${safe(rest.slice(at + 1))}`;
}

const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_.])?$/;

/**
 * Reads one hop URL. User and password are percent-decoded; an IPv6 host goes in
 * brackets (and comes out without them); the port is required; socks5h:// is read as
 * socks5:// (names always go to the proxy). `lineNo` (1-based), when given, starts every
 * message. Throws GatehouseError E_VALIDATION saying what is wrong, never with the password.
 */
export function parseHopInput(text: string, lineNo?: number): HopInput {
  const line = text.trim();
  const where = lineNo === undefined ? 'hop' : `line ${lineNo}:`;
  const bad = (what: string) => new GatehouseError('E_VALIDATION', `${where} "${quotable(line)}": ${what}`);

  const m = SCHEME_RE.exec(line);
  if (!m) throw bad(`not a proxy URL; write ${KINDS_TEXT}`);
  const scheme = m[1]!.toLowerCase();
  const kind = SCHEMES[scheme];
  if (!kind) throw bad(`unknown scheme "${scheme}"${SCHEME_HINTS[scheme] ? `: ${SCHEME_HINTS[scheme]}` : ''}; a hop is ${KINDS_TEXT}`);
  const rest = m[2]!.endsWith('/') ? m[2]!.slice(0, -1) : m[2]!;
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : null;
  const hostport = rest.slice(at + 1);
  if (/[/?#\s]/.test(hostport)) throw bad('only scheme://host:port is allowed (no path, query or spaces)');

  let user: string | null = null;
  let password: string | null = null;
  if (userinfo !== null) {
    const decode = (s: string, what: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw bad(`the ${what} has a bad percent-encoding (write %XX for each byte)`);
      }
    };
    const colon = userinfo.indexOf(':');
    user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'user name');
    password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'password') : null;
    if (user === '') throw bad('the user name before "@" is empty');
    if (kind === 'socks4a' && password !== null) throw bad('SOCKS4a has no passwords (it sends only a user id): remove ":password", or use socks5://');
    if (kind === 'http' && user.includes(':')) throw bad('a user name for an HTTP proxy cannot contain ":" (RFC 7617 §2)');
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    if (kind === 'socks5' && (bytes(user) > 255 || bytes(password ?? '') > 255)) throw bad('a SOCKS5 user name and password are at most 255 bytes each (RFC 1929)');
  }

  const bracketed = hostport.startsWith('[');
  if (!bracketed && hostport.split(':').length > 2) {
    throw bad(userinfo === null ? 'more than one ":" in host:port; an IPv6 address goes in brackets ([2001:db8::1]:1080), a user name and password before "@"' : 'an IPv6 address must be in brackets, e.g. [2001:db8::1]:1080');
  }
  const h = bracketed ? /^\[([^\]]*)\](?::(.*))?$/.exec(hostport) : /^([^:[\]]*)(?::(.*))?$/.exec(hostport);
  if (!h) throw bad('the host is not host:port (an IPv6 address goes in brackets: [2001:db8::1]:1080)');
  const host = h[1]!;
  if (host === '') throw bad('missing host');
  if (bracketed && parseIPv6(host) === null) throw bad(`"${host}" in brackets is not an IPv6 address`);
  if (!bracketed && parseIPv4(host) === null && !HOST_NAME.test(host)) throw bad(`"${host}" is not a host name or address`);
  const portText = h[2];
  if (portText === undefined || portText === '') throw bad('missing port (write host:port, e.g. proxy.example:1080)');
  // a port that is not a number is not quoted: it may be a password typed without "@"
  if (!/^\d+$/.test(portText)) throw bad('the port is not a number');
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad(`port ${portText} is out of range (1-65535)`);

  const hop: HopInput = { kind, host: host.toLowerCase(), port };
  if (user !== null) hop.user = user;
  if (password !== null) hop.password = password;
  return hop;
}

/** Reads a chain's hops, one URL a line, first hop first; blank lines and lines starting with "#" are skipped. */
export function parseHopLines(text: string): HopInput[] {
  const hops: HopInput[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    hops.push(parseHopInput(line, i + 1));
  });
  return hops;
}
