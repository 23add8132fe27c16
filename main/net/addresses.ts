/** Socket address helpers: normalizing client addresses, host:port text, local addresses. */
import { networkInterfaces } from 'node:os';

/** "::ffff:10.0.0.5" (a v4 client on a dual-stack socket) → "10.0.0.5" */
export function normalizeAddr(addr: string | undefined): string {
  if (!addr) return '';
  if (addr.startsWith('::ffff:') && addr.includes('.')) return addr.slice(7);
  return addr;
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses an authority "host:port" or "[v6]:port" (CONNECT's request target, RFC 9110 §9.3.6). */
export function parseAuthority(text: string): { host: string; port: number } | null {
  const m = /^\[([0-9a-fA-F:.%A-Za-z]+)\]:(\d{1,5})$/.exec(text) ?? /^([^\s:/?#[\]@]+):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!, port };
}

/** This machine's non-internal addresses, for telling LAN clients where to connect. */
export function lanAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv6' && a.address.startsWith('fe80')) continue;
      out.push(a.address);
    }
  }
  return out;
}

/** Every address of this machine, loopback included: used to spot requests aimed at ourselves. */
export function ownAddresses(): Set<string> {
  const out = new Set<string>(['localhost', '0.0.0.0', '::', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.toLowerCase());
  return out;
}

/**
 * This PC's own interface addresses, looked up again every few seconds (Wi-Fi reconnects, DHCP):
 * `has` answers from the last look; `onChange` hears when the set changed.
 */
export function watchOwnAddresses(onChange: () => void, everyMs = 5000): { has(addr: string): boolean; stop(): void } {
  let own = ownAddresses();
  const timer = setInterval(() => {
    const next = ownAddresses();
    if (next.size === own.size && [...next].every((a) => own.has(a))) return;
    own = next;
    onChange();
  }, everyMs);
  timer.unref();
  return { has: (addr) => own.has(addr.toLowerCase()), stop: () => clearInterval(timer) };
}
