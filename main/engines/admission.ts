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
import { RULE_SOURCES, type Decision, type DecideInput, type Policy } from '../policy/policy.js';
import type { ConnRecord, Recorder, RecordFields } from '../recorder.js';
import type { Destination, Via } from '../net/dialer.js';
import type { Resolver } from '../net/resolver.js';
import { normalizeAddr } from '../net/addresses.js';
import type { RouteTaken, Router } from '../policy/routes.js';

export interface AdmissionDeps {
  policy: Policy;
  auth: Authenticator;
  limiter: Limiter;
  resolver: Resolver;
  recorder: Recorder;
  /** which traffic goes through which upstream chain */
  router: Router;
}

/** What a client asks for, once it is known who asks. */
export interface Ask {
  service: 'http' | 'socks' | 'mapping';
  /** the port mapping's name (service "mapping") */
  mapping?: string;
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

type Refusal = Exclude<Verdict, { ok: true }>;

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
    const { policy, router } = this.deps;
    const time = Date.now();
    const input = { service: ask.service, mapping: ask.mapping, clientAddr: ask.clientAddr, user: ask.user?.name, groups: ask.user?.groups, host: ask.host, port: ask.port, method: ask.method, time };
    const first = policy.decide(input);
    if (!first.allow) return cb(this.refused(rec, first));
    const route = router.empty ? undefined : router.pick(input, null, time);
    if (route?.chain?.resolve === 'remote' && first.pending && !policy.isThisPc(route.chain.hops[route.chain.hops.length - 1]!.host)) {
      // the last hop looks the name up (no DNS query from this PC) unless a rule needs its address;
      // a last hop on this PC would reach this PC by the name: then it is looked up and decided here
      const d = policy.decide({ ...input, remote: true });
      if (!d.pending) {
        if (!d.allow) return cb(this.refused(rec, d));
        return cb(this.lease(ask, rec, d, [], route, input));
      }
    }
    if (!first.pending) return cb(this.lease(ask, rec, first, [ask.host], route ?? router.pick(input, ask.host, time), input));
    this.resolveAndDecide(ask, rec, input, (v, addresses) => {
      if (!v) cb(this.lease(ask, rec, addresses.decision, addresses.list, route ?? router.pick(input, addresses.list[0]!, time), input));
      else cb(v);
    });
  }

  /** The lookup and the decision on every address; calls back with a refusal, or null and the decided addresses. */
  private resolveAndDecide(
    ask: Ask,
    rec: ConnRecord | null,
    input: DecideInput,
    cb: (refusal: Refusal | null, decided: { list: string[]; decision: Decision }) => void,
  ): void {
    const none = { list: [], decision: null as unknown as Decision };
    this.deps.resolver.resolve(ask.host, (err, addresses) => {
      if (err) {
        rec?.set({ error: `${ask.host}: ${err.code ?? err.message}` });
        return cb({ ok: false, why: 'dns', reason: `the name ${ask.host} could not be resolved (${err.code ?? err.message})`, err }, none);
      }
      const d = this.deps.policy.decide({ ...input, addresses });
      if (!d.allow) return cb(this.refused(rec, d), none);
      cb(null, { list: addresses, decision: d });
    });
  }

  /** The upstream chain a granted destination goes through (none: direct), as the dialer takes it. */
  private via(ask: Ask, rec: ConnRecord | null, route: RouteTaken | undefined, input: DecideInput): Via | undefined {
    if (!route?.chain) return undefined;
    rec?.set({ chain: route.chain.name });
    const via: Via = { chain: route.chain, fallback: route.fallback };
    if (route.fallback === 'direct') {
      via.direct = () =>
        new Promise((resolve, reject) =>
          this.resolveAndDecide(ask, null, input, (refusal, decided) => {
            if (refusal) reject(Object.assign(new Error(refusal.reason), { code: refusal.why === 'dns' ? refusal.err.code : 'E_DENIED' }));
            else resolve({ host: ask.host, port: ask.port, addresses: decided.list });
          }),
        );
    }
    return via;
  }

  private refused(rec: ConnRecord | null, d: Decision): Refusal {
    rec?.set({ rule: d.rule, allowed: false, error: d.reason });
    return { ok: false, why: 'denied', reason: d.reason, decision: d };
  }

  private lease(ask: Ask, rec: ConnRecord | null, d: Decision, addresses: readonly string[], route: RouteTaken | undefined, input: DecideInput): Verdict {
    rec?.set({ rule: d.rule, allowed: true });
    const dest: Destination = { host: ask.host, port: ask.port, addresses };
    const via = this.via(ask, rec, route, input);
    if (via) dest.via = via;
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
