/**
 * How the HTTP proxy fails: one error type that reaches the client as a status,
 * a small readable page and a Proxy-Status header (RFC 9209), plus the table
 * from socket errno to status (after apify/proxy-chain's statuses.ts).
 */
export class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    /** RFC 9209 §2.3 proxy error type */
    readonly proxyError: string,
  ) {
    super(detail);
  }
}

const ERRNO: Record<string, [number, string, string, string]> = {
  ENOTFOUND: [404, 'Host not found', 'The name {host} could not be resolved.', 'dns_error'],
  EAI_AGAIN: [502, 'Name lookup failed', 'The name {host} could not be resolved right now (the DNS server did not answer).', 'dns_timeout'],
  EAI_FAIL: [502, 'Name lookup failed', 'The name {host} could not be resolved.', 'dns_error'],
  ECONNREFUSED: [502, 'Connection refused', '{host} refused the connection.', 'connection_refused'],
  ECONNRESET: [502, 'Connection reset', '{host} closed the connection unexpectedly.', 'connection_terminated'],
  EPIPE: [502, 'Connection closed', '{host} closed the connection unexpectedly.', 'connection_terminated'],
  EHOSTUNREACH: [502, 'Host unreachable', '{host} cannot be reached from this network.', 'destination_unavailable'],
  ENETUNREACH: [502, 'Network unreachable', 'The network of {host} cannot be reached (is this PC online?).', 'destination_unavailable'],
  ETIMEDOUT: [504, 'Connection timed out', '{host} did not answer in time.', 'connection_timeout'],
  E_CONNECT_TIMEOUT: [504, 'Connection timed out', '{host} did not accept the connection in time.', 'connection_timeout'],
  E_RESPONSE_TIMEOUT: [504, 'Response timed out', '{host} did not start its response in time.', 'http_response_incomplete'],
  HPE_INVALID_CONSTANT: [502, 'Bad response', '{host} sent a response that is not valid HTTP.', 'http_protocol_error'],
};

export function failFromErrno(err: NodeJS.ErrnoException, host: string): HttpFail {
  const code = err.code ?? '';
  const e = ERRNO[code] ?? (code.startsWith('HPE_') ? ERRNO.HPE_INVALID_CONSTANT : undefined);
  if (e) return new HttpFail(e[0], e[1], e[2].replace('{host}', host), e[3]);
  return new HttpFail(502, 'Bad gateway', `The connection to ${host} failed (${code || err.message}).`, 'proxy_internal_error');
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  404: 'Not Found',
  408: 'Request Timeout',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  508: 'Loop Detected',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function errorPage(f: HttpFail): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${f.status} ${escapeHtml(f.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1f2937;max-width:40rem;margin:4rem auto;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .5rem}p{margin:.5rem 0}small{color:#6b7280}</style></head>
<body><h1>${escapeHtml(f.title)}</h1><p>${escapeHtml(f.detail)}</p>
<p><small>${f.status} ${statusText(f.status)} — answered by the Gatehouse proxy.</small></p></body></html>
`;
}

export function proxyStatusHeader(f: HttpFail): string {
  // details may quote what the client sent: only printable ASCII goes into a header
  return `gatehouse; error=${f.proxyError}; details="${f.detail.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, ' ')}"`;
}
