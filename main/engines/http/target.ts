/**
 * The request-target of a forwarded request: absolute-form (RFC 9112 §3.2.2)
 * parsed into scheme, host, port, the Host field's authority and the
 * origin-form path, or an HttpFail naming what will not be forwarded.
 */
import net from 'node:net';
import { HttpFail } from './errors.js';

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** host[:port] as the Host field carries it */
  authority: string;
  /** origin-form: path and query */
  path: string;
  url: string;
}

/** Parses an absolute-form request-target (RFC 9112 §3.2.2); HttpFail for anything we will not forward. */
export function parseTarget(raw: string, maxUrlLength: number): Target | HttpFail {
  if (raw.length > maxUrlLength) {
    return new HttpFail(414, 'Address too long', `The requested URL is ${raw.length} characters; the limit is ${maxUrlLength}.`, 'http_request_error');
  }
  if (raw.startsWith('/') || raw === '*') {
    return new HttpFail(
      400,
      'This is a proxy server',
      'Gatehouse received a request for itself. Configure this address and port as the HTTP proxy in your browser or system settings, then open web sites as usual.',
      'http_request_error',
    );
  }
  const bad = (why: string) => new HttpFail(400, 'Malformed request', `"${raw.slice(0, 200)}" ${why}.`, 'http_request_error');
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(raw);
  if (!m) return bad('is not a valid absolute URL');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    return new HttpFail(400, 'Unsupported scheme', `The scheme "${scheme}" cannot be proxied; use http or https.`, 'http_request_error');
  }
  // RFC 9110 §4.2.4: userinfo is not to be sent; drop it
  let auth = m[2]!;
  const at = auth.lastIndexOf('@');
  if (at >= 0) auth = auth.slice(at + 1);
  let host: string;
  let portText = '';
  if (auth.startsWith('[')) {
    const close = auth.indexOf(']');
    if (close < 0) return bad('has an unclosed IPv6 address');
    host = auth.slice(1, close).toLowerCase();
    if (!net.isIPv6(host)) return bad('has an invalid IPv6 address');
    const rest = auth.slice(close + 1);
    if (rest && !rest.startsWith(':')) return bad('has an invalid authority');
    portText = rest.slice(1);
  } else {
    const colon = auth.lastIndexOf(':');
    host = (colon >= 0 ? auth.slice(0, colon) : auth).toLowerCase();
    portText = colon >= 0 ? auth.slice(colon + 1) : '';
    if (!/^[a-z0-9._~!$&'()*+,;=%-]*$/.test(host)) return bad('has an invalid host name');
  }
  if (!host) return new HttpFail(400, 'Malformed request', 'The URL has no host.', 'http_request_error');
  const defaultPort = scheme === 'https' ? 443 : 80;
  let port = defaultPort;
  if (portText) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return bad('has an invalid port');
    port = Number(portText);
  }
  const h = host.includes(':') ? `[${host}]` : host;
  const authority = port === defaultPort ? h : `${h}:${port}`;
  let path = m[3]!;
  if (!path.startsWith('/')) path = `/${path}`;
  return { scheme, host, port, authority, path, url: `${scheme}://${authority}${path}` };
}
