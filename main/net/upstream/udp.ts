/**
 * SOCKS5 UDP ASSOCIATE through one upstream SOCKS5 hop (RFC 1928 §7): opens
 * the control connection, asks for a relay, and hands back where the relay is
 * and how to wrap and unwrap datagrams for it. The caller sends and receives
 * with its own UDP socket; the association lives as long as the control
 * connection, which this object owns until close().
 */
import type net from 'node:net';
import { dialHops, HopError, hopUrl, type Hop } from './chain.js';
import { CMD_UDP_ASSOCIATE, parseSocks5UdpDatagram, socks5UdpDatagram, type Dest } from './hops.js';

export interface UdpAssociation {
  /** where to send wrapped datagrams (the hop's address when it answers BND.ADDR 0.0.0.0 or ::) */
  relay: { address: string; port: number };
  /** the TCP connection that keeps the association alive; 'close' on it means the relay is gone */
  control: net.Socket;
  /** RFC 1928 §7 header + payload, for a datagram to `dest` */
  wrap(dest: Dest, payload: Buffer): Buffer;
  /** a datagram from the relay: who sent it and its payload, or null (not SOCKS5 UDP, or a fragment) */
  unwrap(buf: Buffer): { host: string; port: number; payload: Buffer } | null;
  close(): void;
}

export interface AssociateOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** the address and port we will send from, if known (RFC 1928 §7: all zeros when not) */
  from?: Dest;
}

/** Opens a UDP association at a SOCKS5 hop; rejects with a HopError like openChain. */
export async function associateUdp(hop: Hop, opts: AssociateOptions): Promise<UdpAssociation> {
  if (hop.kind !== 'socks5') {
    throw new HopError(1, 'handshake', 'E_HOP_UNSUPPORTED', hopUrl(hop), `UDP needs a SOCKS5 hop, this one is ${hop.kind}`);
  }
  const from = opts.from ?? { host: '0.0.0.0', port: 0 };
  const d = await dialHops([hop], from, { timeoutMs: opts.timeoutMs, signal: opts.signal }, CMD_UDP_ASSOCIATE);
  const control = d.socket;
  control.on('error', () => control.destroy());
  // nothing more comes on the control connection (§7); its end is the association's
  control.on('data', () => {});
  control.on('end', () => control.end());
  control.setKeepAlive(true, 30_000);
  const bound = d.bound ?? { host: '0.0.0.0', port: 0 };
  const unspecified = bound.host === '0.0.0.0' || bound.host === '::';
  return {
    relay: { address: unspecified ? hop.host : bound.host, port: bound.port },
    control,
    wrap: socks5UdpDatagram,
    unwrap: parseSocks5UdpDatagram,
    close: () => void control.destroy(),
  };
}
