/**
 * Which address and port a device on the LAN should enter as its proxy,
 * derived from the status: a service listening on every interface ("0.0.0.0",
 * "::") is reachable at each of this PC's LAN addresses; one bound to a
 * specific address only there. Loopback endpoints work from this PC only.
 */
import type { ServiceStatus, Status } from '../main/contract/index.js';
import { isLoopbackHost, isWildcardHost, splitHostPort } from './format.js';

export interface Endpoint {
  host: string;
  port: number;
  /** true when only this PC can use it (loopback) */
  localOnly: boolean;
}

export function httpService(status: Status | null): ServiceStatus | undefined {
  return status?.services.find((s) => s.name === 'http');
}

export function socksService(status: Status | null): ServiceStatus | undefined {
  return status?.services.find((s) => s.name === 'socks');
}

export function proxyEndpoints(status: Status | null, service = httpService(status)): Endpoint[] {
  if (!status || !service || service.state !== 'running') return [];
  const lan = status.lanAddresses.map((a) => splitHostPort(a).host).filter((h) => !isLoopbackHost(h));
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  const add = (host: string, port: number) => {
    const key = `${host}|${port}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ host, port, localOnly: isLoopbackHost(host) });
  };
  for (const addr of service.addresses) {
    const { host, port: p } = splitHostPort(addr);
    const port = p ?? service.port;
    if (port === null) continue;
    if (isWildcardHost(host)) {
      if (lan.length > 0) for (const h of lan) add(h, port);
      else add(host === '::' ? '::1' : '127.0.0.1', port);
    } else {
      add(host, port);
    }
  }
  // LAN addresses first: they are the ones to give other devices
  return out.sort((a, b) => Number(a.localOnly) - Number(b.localOnly));
}

/** How an address is written in a URL (IPv6 in brackets). */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
