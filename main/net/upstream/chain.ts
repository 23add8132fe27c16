/**
 * Upstream chains: Gatehouse reaching a destination through one or more
 * upstream proxies (HTTP CONNECT, SOCKS4a, SOCKS5). `openChain` connects to the
 * first hop and, on that one socket, asks each hop in turn to connect to the
 * next and the last to the destination, then hands the socket over carrying the
 * destination's byte stream. `checkChain` is its health check. This module owns
 * the hop as text (`hopUrl`; hop URLs are parsed in contract/hop-url.ts) and the one error a chain fails with,
 * `HopError`, which names the hop that failed and never a password. The bytes of
 * each handshake are built and read by the sans-IO code in hops.ts.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { authority, checkDest, CMD_CONNECT, CMD_UDP_ASSOCIATE, HopHandshake, type Dest, type Fault, type Step } from './hops.js';

export type HopKind = 'http' | 'socks4a' | 'socks5';

export interface Hop {
  kind: HopKind;
  host: string;
  port: number;
  user?: string | null;
  password?: string | null;
}

/** host: a DNS name or an IP literal (IPv6 without brackets) */
export interface ChainTarget {
  host: string;
  port: number;
}

export type HopPhase = 'connect' | 'handshake' | 'auth' | 'refused' | 'timeout';

/**
 * A failure of one hop: which hop (1-based), in what phase, and a one-line message naming the
 * hop as `socks5://user@host:port` (never the password).
 *
 * - connect: the hop could not be reached. For hop 1 that is our own TCP connect; for a later
 *   hop, the hop before it reported it could not connect (the code is the errno it reported).
 * - handshake: the hop did not speak its protocol, closed or reset mid-handshake, or cannot
 *   express the request (E_HOP_UNSUPPORTED, e.g. SOCKS4a and an IPv6 literal).
 * - auth: the hop did not accept our credentials, or wants some we do not have (E_HOP_AUTH).
 * - refused: the hop refused the request (E_HOP_REFUSED), or, for the last hop, could not reach
 *   the destination (the code is the errno it reported: ECONNREFUSED, ETIMEDOUT, ENOTFOUND…).
 * - timeout: the chain's deadline passed waiting for this hop (ETIMEDOUT).
 */
export class HopError extends Error {
  override readonly name = 'HopError';
  constructor(
    readonly hop: number,
    readonly phase: HopPhase,
    readonly code: string,
    readonly hopUrl: string,
    detail: string,
  ) {
    super(`hop ${hop} (${hopUrl}): ${detail}`);
  }
}

/** The hop as text without secrets: "socks5://alice@proxy.example:1080". */
export function hopUrl(h: Hop): string {
  const user = h.user ? `${encodeURIComponent(h.user)}@` : '';
  return `${h.kind}://${user}${authority(h)}`;
}

// ---------------------------------------------------------------------------------------------

export interface ChainOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Connects to hops[0], asks each hop to connect to the next and the last to the target, and
 * resolves with the socket (to hops[0]) carrying the end-to-end byte stream: handshakes done,
 * bytes that arrived with the last reply pushed back (unshifted) so none is lost. The socket is
 * handed over like a freshly connected one (reading starts when the caller listens for 'data'
 * or pipes it) and from then on the caller owns it, 'error' listener included. One deadline
 * covers the whole chain. Rejects with a HopError (or the signal's reason when aborted), the
 * socket destroyed.
 */
export function openChain(hops: readonly Hop[], target: ChainTarget, opts: ChainOptions): Promise<net.Socket> {
  return dialHops(hops, target, opts).then((r) => r.socket);
}

/** What a dialled chain reports besides its socket: when each hop's handshake completed (ms from the start), and the last hop's BND address (SOCKS5). */
export interface Dialled {
  socket: net.Socket;
  doneAtMs: number[];
  bound: Dest | null;
}

/**
 * The chain's I/O (openChain, checkChain, and udp.ts's UDP ASSOCIATE). With `target` null the
 * last hop is only reached and signed in to (SOCKS5's greeting and RFC 1929; HTTP and SOCKS4a
 * have nothing to say before a request). `lastCmd` is the SOCKS5 command the last hop is asked.
 */
export function dialHops(hops: readonly Hop[], target: Dest | null, opts: ChainOptions, lastCmd: number = CMD_CONNECT): Promise<Dialled> {
  if (hops.length === 0) return Promise.reject(new TypeError('a chain needs at least one hop'));
  const urls = hops.map(hopUrl);
  const secrets = hops.flatMap((h) => secretsOf(h));
  const fail = (i: number, phase: HopPhase, code: string, detail: string) => new HopError(i + 1, phase, code, urls[i]!, scrub(detail, secrets));
  const dests: Array<Dest | null> = hops.map((_, i) => (i + 1 < hops.length ? hops[i + 1]! : target));
  /** what hop i was asked, for messages: "connect to hop 2 (…)", "connect to host:port", "open a UDP relay" */
  const asked = (i: number) =>
    i + 1 < hops.length ? `connect to hop ${i + 2} (${urls[i + 1]})` : lastCmd === CMD_UDP_ASSOCIATE ? 'open a UDP relay' : `connect to ${target ? authority(target) : ''}`;

  // every request is built before anything is sent: one that cannot be expressed fails now
  const handshakes: HopHandshake[] = [];
  const firsts: Step[] = [];
  try {
    checkDest(hops[0]!);
  } catch (err) {
    return Promise.reject(fail(0, 'connect', 'E_HOP_UNSUPPORTED', (err as Error).message));
  }
  for (let i = 0; i < hops.length; i++) {
    try {
      handshakes.push(new HopHandshake(hops[i]!, dests[i]!, i + 1 === hops.length ? lastCmd : CMD_CONNECT));
      firsts.push(handshakes[i]!.start());
    } catch (err) {
      return Promise.reject(fail(i, 'handshake', 'E_HOP_UNSUPPORTED', `cannot ask it to ${asked(i)}: ${(err as Error).message}`));
    }
  }
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);

  return new Promise<Dialled>((resolve, reject) => {
    const started = performance.now();
    const doneAtMs: number[] = [];
    let current = 0;
    let connected = false;
    let settled = false;
    const socket = net.connect({ host: hops[0]!.host, port: hops[0]!.port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => onTimeout(), opts.timeoutMs);

    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
    };
    const failWith = (err: Error) => {
      if (settled) return;
      cleanup();
      socket.on('error', () => {}); // a late error from the destroyed socket has nobody else to hear it
      socket.destroy();
      reject(err);
    };
    const waitingFor = () => {
      const w = handshakes[current]!.waitingFor;
      if (w === 'greeting') return 'its greeting reply';
      if (w === 'sign-in') return 'its reply to our sign-in';
      return `its reply to our request to ${asked(current)}`;
    };
    const onError = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'E_HOP_PROTOCOL';
      if (!connected) failWith(fail(0, 'connect', code, `could not connect: ${code}`));
      else failWith(fail(current, 'handshake', code, `the connection failed (${code}) while waiting for ${waitingFor()}`));
    };
    const onEnd = () => failWith(fail(current, 'handshake', 'E_HOP_PROTOCOL', `the connection was closed while waiting for ${waitingFor()}`));
    const onTimeout = () => {
      if (!connected) failWith(fail(0, 'timeout', 'ETIMEDOUT', `did not accept the connection within ${opts.timeoutMs} ms`));
      else failWith(fail(current, 'timeout', 'ETIMEDOUT', `no answer within the chain's ${opts.timeoutMs} ms while waiting for ${waitingFor()}`));
    };
    const onAbort = () => failWith(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));

    const onFault = (f: Fault) => {
      const i = current;
      if (f.kind === 'protocol') return failWith(fail(i, 'handshake', f.code, f.reason));
      if (f.kind === 'auth') return failWith(fail(i, 'auth', f.code, f.reason));
      if (f.kind === 'refused') return failWith(fail(i, 'refused', f.code, `${f.reason} (asked to ${asked(i)})`));
      // unreachable: the hop works; what it was asked to reach does not answer
      if (i + 1 < hops.length) return failWith(fail(i + 1, 'connect', f.code, `could not be reached: ${f.code} (hop ${i + 1} ${urls[i]} reported ${f.reason})`));
      return failWith(fail(i, 'refused', f.code, `could not ${asked(i)}: ${f.reason}`));
    };

    /** Acts on one step of the current hop's handshake; returns false once the chain is done or failed. */
    const act = (step: Step): boolean => {
      if (step.kind === 'more') return true;
      if (step.kind === 'send') {
        socket.write(step.bytes);
        return true;
      }
      if (step.kind === 'error') {
        onFault(step.fault);
        return false;
      }
      doneAtMs[current] = performance.now() - started;
      if (current + 1 === hops.length) {
        cleanup();
        // the destination's first bytes, if they came with the last reply, go back for the caller to read
        if (step.rest.length) socket.unshift(step.rest);
        resolve({ socket, doneAtMs, bound: step.bound });
        return false;
      }
      current++;
      // the next hop speaks through the tunnel just opened; bytes already here are its (a protocol error, as none speaks first)
      const first = firsts[current]!;
      if (first.kind === 'done') return act({ ...first, rest: step.rest });
      if (!act(first)) return false;
      return step.rest.length ? act(handshakes[current]!.feed(step.rest)) : true;
    };

    function onReadable() {
      let chunk: Buffer | null;
      while (!settled && (chunk = socket.read() as Buffer | null) !== null) act(handshakes[current]!.feed(chunk));
    }
    function onConnect() {
      connected = true;
      act(firsts[0]!);
    }

    socket.on('error', onError);
    socket.once('connect', onConnect);
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The strings that must never appear in a message: each password, and the Basic token that carries it. */
function secretsOf(h: Hop): string[] {
  if (!h.password) return [];
  return [h.password, Buffer.from(`${h.user ?? ''}:${h.password}`, 'utf8').toString('base64')];
}

/** Removes secrets from text that may quote what a proxy sent. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

// ---------------------------------------------------------------------------------------------

export interface HopCheck {
  /** 1-based; hops.length + 1 is the probe */
  hop: number;
  /** hopUrl of the hop, or "tcp://host:port" for the probe */
  url: string;
  ok: boolean;
  /** ms from the start of this check's connection to the hop's handshake completing (to the probe connected) */
  ms: number;
  error: string | null;
}

/**
 * A chain's health check. Hop k is checked by reaching it through hops 1..k-1 on a new
 * connection and signing in (SOCKS5's greeting and RFC 1929; HTTP and SOCKS4a have no sign-in
 * before a request, so their credentials are checked by the next hop's check, or the probe's).
 * Then, with `probe`, a connection through the whole chain to it. A failure is reported at the
 * hop the HopError names; the checks after it are not run ("not checked").
 */
export async function checkChain(hops: readonly Hop[], opts: { timeoutMs: number; probe?: ChainTarget }): Promise<HopCheck[]> {
  const out: HopCheck[] = hops.map((h, i) => ({ hop: i + 1, url: hopUrl(h), ok: false, ms: 0, error: null }));
  if (opts.probe) out.push({ hop: hops.length + 1, url: `tcp://${authority(opts.probe)}`, ok: false, ms: 0, error: null });
  const round = (ms: number) => Math.round(ms * 10) / 10;
  let failedAt = -1;
  const notChecked = (from: number) => {
    for (let j = from; j < out.length; j++) if (out[j]!.error === null && !out[j]!.ok) out[j]!.error = `not checked: hop ${failedAt + 1} failed`;
  };

  for (let k = 1; k <= hops.length; k++) {
    const t0 = performance.now();
    try {
      const d = await dialHops(hops.slice(0, k), null, { timeoutMs: opts.timeoutMs });
      d.socket.destroy();
      out[k - 1] = { ...out[k - 1]!, ok: true, ms: round(d.doneAtMs[k - 1]!) };
    } catch (err) {
      const at = err instanceof HopError ? err.hop - 1 : k - 1;
      out[at] = { ...out[at]!, ok: false, ms: round(performance.now() - t0), error: (err as Error).message };
      failedAt = at;
      notChecked(at + 1);
      return out;
    }
  }
  if (opts.probe) {
    const p = hops.length;
    const t0 = performance.now();
    try {
      const d = await dialHops(hops, opts.probe, { timeoutMs: opts.timeoutMs });
      d.socket.destroy();
      out[p] = { ...out[p]!, ok: true, ms: round(d.doneAtMs[p - 1]!) };
    } catch (err) {
      const e = err as Error;
      // a hop's own failure (sign-in, protocol, a hop down) is that hop's; the destination's is the probe's
      const hopAt = e instanceof HopError && (e.phase === 'auth' || e.phase === 'handshake' || e.phase === 'connect' || e.hop < p) ? e.hop - 1 : p;
      out[hopAt] = { ...out[hopAt]!, ok: false, ms: round(performance.now() - t0), error: e.message };
      if (hopAt < p) {
        failedAt = hopAt;
        notChecked(hopAt + 1);
      }
    }
  }
  return out;
}
