/**
 * The one admission path every service takes, written once:
 *
 *   source gate → identity → decision (the name, then every address it
 *   resolved to) → lease (limits) → the dial, to exactly the decided addresses
 *
 * Engines speak their protocol and turn a verdict into their answer (an HTTP
 * status, a SOCKS reply); they make no safety check of their own. Each step
 * notes what it found on the connection's record (rule, allowed, user, why),
 * so the log row tells why a request was refused.
 */
import type { Socket } from 'node:net';
import type { Authenticator, AuthResult, AuthUser } from '../policy/auth.js';
import type { Lease, Limiter } from '../policy/limits.js';
import { RULE_SOURCES, type Decision, type Policy } from '../policy/policy.js';
import type { ConnRecord, Recorder, RecordFields } from '../recorder.js';
import type { Destination } from '../net/dialer.js';
import type { Resolver } from '../net/resolver.js';
import { normalizeAddr } from '../net/addresses.js';

export interface AdmissionDeps {
  policy: Policy;
  auth: Authenticator;
  limiter: Limiter;
  resolver: Resolver;
  recorder: Recorder;
}

/** What a client asks for, once it is known who asks. */
export interface Ask {
  service: 'http' | 'socks';
  clientAddr: string;
  user?: AuthUser;
  host: string;
  port: number;
  /** HTTP method, "CONNECT" for tunnels, "BIND"/"UDP" for SOCKS */
  method: string;
}

export type Verdict =
  | { ok: true; dest: Destination; lease: Lease | null; decision: Decision }
  /** refused by the policy, or over a connection limit */
  | { ok: false; why: 'denied' | 'limit'; reason: string; decision: Decision }
  /** the name could not be resolved */
  | { ok: false; why: 'dns'; reason: string; err: NodeJS.ErrnoException };

export type SignIn =
  | { ok: true; user: AuthUser }
  | { ok: false; throttled: boolean; retryAfterMs: number; reason: string };

export class Admission {
  constructor(readonly deps: AdmissionDeps) {}

  /**
   * Step 2, the source gate, as a connection is accepted: a client outside the allowed sources
   * is refused before any byte of its protocol is read (no sign-in, no method offer). Its refusal
   * is logged; `refuse` answers it (or just closes). Returns whether the client may go on.
   */
  gate(socket: Socket, service: RecordFields['service'], refuse?: { status: number; answer(socket: Socket): void }): boolean {
    const clientAddr = normalizeAddr(socket.remoteAddress);
    if (this.deps.policy.admitsSource(clientAddr)) return true;
    const rec = this.deps.recorder.open({ service, clientAddr, clientPort: socket.remotePort ?? 0, allowed: false, rule: RULE_SOURCES, status: refuse?.status ?? 0 });
    rec.complete({ error: `client ${clientAddr} is outside the allowed source ranges (access.allowedSources)` });
    socket.on('error', () => socket.destroy());
    if (refuse) refuse.answer(socket);
    else socket.destroy();
    return false;
  }

  /**
   * Step 4, identity: checks a name and password; failures are slowed down per source and per
   * user name (see policy/auth.ts). `wait`: a throttled attempt waits its turn (SOCKS, which has
   * no "retry later"), else it is answered at once with how long to wait (HTTP 429).
   */
  signIn(name: string, password: string, clientAddr: string, rec: ConnRecord, wait: boolean): Promise<SignIn> {
    rec.set({ user: name });
    return this.deps.auth.check(name, password, clientAddr, { wait }).then(
      (r: AuthResult): SignIn => {
        if (r.ok) {
          rec.set({ user: r.user.name });
          return r;
        }
        const throttled = r.throttled;
        rec.set({ rule: throttled ? 'throttle' : 'login', allowed: false, error: r.reason });
        return { ok: false, throttled, retryAfterMs: throttled ? r.retryAfterMs : 0, reason: r.reason };
      },
      (err: Error): SignIn => {
        rec.set({ rule: 'login', allowed: false, error: `sign-in check failed: ${err.message}` });
        return { ok: false, throttled: false, retryAfterMs: 0, reason: `sign-in check failed: ${err.message}` };
      },
    );
  }

  /**
   * Steps 5 and 6: the decision on the name, the lookup, the decision on every address, then the
   * lease (a UDP destination has no record of its own yet: `rec` null). Calls back once (synchronously when nothing needs a lookup) with the verdict; a
   * granted verdict's destination lists exactly the addresses that were decided.
   */
  decide(ask: Ask, rec: ConnRecord | null, cb: (v: Verdict) => void): void {
    const { policy, resolver } = this.deps;
    const input = { service: ask.service, clientAddr: ask.clientAddr, user: ask.user?.name, groups: ask.user?.groups, host: ask.host, port: ask.port, method: ask.method };
    const first = policy.decide(input);
    if (!first.allow) return cb(this.refused(rec, first));
    if (!first.pending) return cb(this.lease(ask, rec, first, [ask.host]));
    resolver.resolve(ask.host, (err, addresses) => {
      if (err) {
        rec?.set({ error: `${ask.host}: ${err.code ?? err.message}` });
        return cb({ ok: false, why: 'dns', reason: `the name ${ask.host} could not be resolved (${err.code ?? err.message})`, err });
      }
      const d = policy.decide({ ...input, addresses });
      if (!d.allow) return cb(this.refused(rec, d));
      cb(this.lease(ask, rec, d, addresses));
    });
  }

  private refused(rec: ConnRecord | null, d: Decision): Verdict {
    rec?.set({ rule: d.rule, allowed: false, error: d.reason });
    return { ok: false, why: 'denied', reason: d.reason, decision: d };
  }

  private lease(ask: Ask, rec: ConnRecord | null, d: Decision, addresses: readonly string[]): Verdict {
    rec?.set({ rule: d.rule, allowed: true });
    const dest: Destination = { host: ask.host, port: ask.port, addresses };
    if (!d.limits) return { ok: true, dest, lease: null, decision: d };
    const lease = this.deps.limiter.acquire(d.limits);
    if (!lease) {
      const who = ask.user ? `user ${ask.user.name}` : `client ${ask.clientAddr}`;
      const reason = `${who} already has ${d.limits.maxConnections} connections open (rule "${d.rule}")`;
      rec?.set({ allowed: false, error: reason });
      return { ok: false, why: 'limit', reason, decision: d };
    }
    return { ok: true, dest, lease, decision: d };
  }
}
