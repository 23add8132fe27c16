/**
 * How a failed connection to a destination is answered, for every service:
 * one table from socket errno to the HTTP status, its RFC 9209 Proxy-Status
 * error type and page text, and the SOCKS5 reply code (RFC 1928 §6, after
 * Dante's choices). The HTTP engine turns a row into its error page, the
 * SOCKS engine into its reply; both log the same reason.
 */
import {
  REP_CONNECTION_REFUSED,
  REP_GENERAL_FAILURE,
  REP_HOST_UNREACHABLE,
  REP_NETWORK_UNREACHABLE,
  REP_TTL_EXPIRED,
} from './socks/protocol.js';

export interface DialOutcome {
  status: number;
  title: string;
  /** a sentence; `{host}` stands for the destination */
  detail: string;
  /** RFC 9209 §2.3 */
  proxyError: string;
  /** SOCKS5 REP */
  rep: number;
}

const row = (status: number, title: string, detail: string, proxyError: string, rep: number): DialOutcome => ({ status, title, detail, proxyError, rep });

const ERRNO: Record<string, DialOutcome> = {
  ENOTFOUND: row(502, 'Host not found', 'The name {host} could not be resolved.', 'dns_error', REP_HOST_UNREACHABLE),
  EAI_NONAME: row(502, 'Host not found', 'The name {host} could not be resolved.', 'dns_error', REP_HOST_UNREACHABLE),
  EAI_AGAIN: row(504, 'Name lookup failed', 'The name {host} could not be resolved right now (the DNS server did not answer).', 'dns_timeout', REP_HOST_UNREACHABLE),
  EAI_FAIL: row(502, 'Name lookup failed', 'The name {host} could not be resolved.', 'dns_error', REP_HOST_UNREACHABLE),
  ECONNREFUSED: row(502, 'Connection refused', '{host} refused the connection.', 'connection_refused', REP_CONNECTION_REFUSED),
  ECONNRESET: row(502, 'Connection reset', '{host} closed the connection unexpectedly.', 'connection_terminated', REP_GENERAL_FAILURE),
  EPIPE: row(502, 'Connection closed', '{host} closed the connection unexpectedly.', 'connection_terminated', REP_GENERAL_FAILURE),
  EHOSTUNREACH: row(502, 'Host unreachable', '{host} cannot be reached from this network.', 'destination_unavailable', REP_HOST_UNREACHABLE),
  EHOSTDOWN: row(502, 'Host unreachable', '{host} cannot be reached from this network.', 'destination_unavailable', REP_HOST_UNREACHABLE),
  ENETUNREACH: row(502, 'Network unreachable', 'The network of {host} cannot be reached (is this PC online?).', 'destination_unavailable', REP_NETWORK_UNREACHABLE),
  ENETDOWN: row(502, 'Network unreachable', 'The network of {host} cannot be reached (is this PC online?).', 'destination_unavailable', REP_NETWORK_UNREACHABLE),
  ETIMEDOUT: row(504, 'Connection timed out', '{host} did not answer in time.', 'connection_timeout', REP_TTL_EXPIRED),
  E_CONNECT_TIMEOUT: row(504, 'Connection timed out', '{host} did not accept the connection in time.', 'connection_timeout', REP_TTL_EXPIRED),
  E_RESPONSE_TIMEOUT: row(504, 'Response timed out', '{host} did not start its response in time.', 'http_response_incomplete', REP_TTL_EXPIRED),
  HPE_INVALID_CONSTANT: row(502, 'Bad response', '{host} sent a response that is not valid HTTP.', 'http_protocol_error', REP_GENERAL_FAILURE),
};

/** The answer to a failed connection to `host` (host:port as the client named it). */
export function dialOutcome(err: NodeJS.ErrnoException, host: string): DialOutcome {
  const code = err.code ?? '';
  if (err.name === 'HopError' && !(code in ERRNO && (err as { phase?: string }).phase === 'refused')) {
    // an upstream proxy of the chain failed (down, refused us, wrong password): its message names the hop
    const timeout = code === 'ETIMEDOUT';
    return row(timeout ? 504 : 502, 'Upstream proxy failed', `${host} could not be reached through the upstream chain: ${err.message}.`, timeout ? 'connection_timeout' : 'destination_unavailable', REP_GENERAL_FAILURE);
  }
  const e = ERRNO[code] ?? (code.startsWith('HPE_') ? ERRNO.HPE_INVALID_CONSTANT : undefined);
  if (e) return { ...e, detail: e.detail.replace('{host}', host) };
  return row(502, 'Bad gateway', `The connection to ${host} failed (${code || err.message}).`, 'proxy_internal_error', REP_GENERAL_FAILURE);
}
