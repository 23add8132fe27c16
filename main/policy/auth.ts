/**
 * Who is signing in: checks a name and password against the users and slows
 * down guessing. Proxies authenticate on every request (HTTP Basic) or session
 * (SOCKS5), so a correct pair is remembered under a keyed hash together with
 * the stored hash it matched; changing a password or disabling a user makes the
 * remembered pair useless at once.
 *
 * Throttle, not lock-out: failures are counted per source address and per
 * (source address, user name). The first `freeFailures` of a key cost nothing;
 * after that each failure makes the key wait 250 ms, doubling up to
 * `maxDelayMs`, and a throttled key gets at most one password check per wait.
 * The per-source key grows four times more slowly, so one mistyping device
 * barely slows its neighbours behind the same address (NAT, terminal server).
 * A pair verified before is always accepted at once: someone else's failures
 * never keep a valid user out. Owns the failure keys (at most MAX_KEYS) and the
 * timers of attempts that wait their turn.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { verifyPassword } from './passwords.js';

/** A user as sign-in needs it (the users table's row, without the storage around it). */
export interface AuthAccount {
  name: string;
  passHash: string;
  enabled: boolean;
  groups: string[];
}

export interface AuthUser {
  name: string;
  groups: string[];
}

export type AuthResult =
  | { ok: true; user: AuthUser }
  | { ok: false; reason: string; throttled: false }
  | { ok: false; reason: string; throttled: true; retryAfterMs: number };

export interface AuthEvent {
  type: 'failure' | 'throttle';
  clientAddr: string;
  user: string;
  failures: number;
  retryAfterMs?: number;
}

export interface AuthOptions {
  /** failures of a key that cost nothing (settings: auth.maxFailures) */
  freeFailures: number;
  /** a key's failures are forgotten this long after its last one (settings: auth.lockoutSeconds) */
  forgetMs: number;
  /** the longest wait a key can get; 0 turns throttling off (settings: auth.maxDelaySeconds) */
  maxDelayMs: number;
  clock?: () => number;
  /** 'failure' for every failed check; 'throttle' when a failure makes a key start to wait */
  onEvent?: (e: AuthEvent) => void;
}

export interface ThrottleInfo {
  clientAddr: string;
  /** null: the whole source address is slowed down */
  user: string | null;
  failures: number;
  /** clock time until which the key waits */
  until: number;
}

/** the first wait after the free failures; each further failure doubles it */
const BASE_DELAY_MS = 250;
/** the per-source key doubles once per this many failures */
const SOURCE_SLOWER = 4;
const MAX_KEYS = 10_000;
/** when the keys are full of live ones, the oldest are dropped down to this share */
const SHRINK_TO = 0.9;
const MAX_VERIFIED = 10_000;

interface Throttle {
  clientAddr: string;
  user: string | null;
  failures: number;
  lastFailure: number;
  /** no password check for this key before this time */
  nextAt: number;
  /** checks running now; counted as failures-to-be when reserving a slot */
  inFlight: number;
}

export class Authenticator {
  private users = new Map<string, AuthAccount>();
  private readonly key = randomBytes(32);
  /** keyed hash of (name, password) → the stored hash it matched */
  private readonly verified = new Map<string, string>();
  /** "addr" for a source, "addr\0name" for a (source, user name); oldest touched first */
  private readonly keys = new Map<string, Throttle>();
  /** wake-ups of attempts waiting their turn */
  private readonly waits = new Set<() => void>();
  private opts: AuthOptions;

  constructor(
    private readonly loadUsers: () => AuthAccount[],
    opts: AuthOptions,
  ) {
    this.opts = opts;
    this.reload();
  }

  configure(opts: Partial<AuthOptions>): void {
    this.opts = { ...this.opts, ...opts };
  }

  reload(): void {
    const next = new Map<string, AuthAccount>();
    for (const u of this.loadUsers()) next.set(u.name.toLowerCase(), u);
    this.users = next;
  }

  get userCount(): number {
    return this.users.size;
  }

  groupsOf(name: string): string[] {
    return this.users.get(name.toLowerCase())?.groups ?? [];
  }

  /** failure keys held now (bounded by MAX_KEYS) */
  get trackedKeys(): number {
    return this.keys.size;
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  /**
   * Checks a sign-in. A throttled attempt is not checked and not counted: with `wait` it waits
   * its key's turn (at most maxDelayMs) and is then checked, unless another attempt took the
   * turn; without `wait` it is answered at once with how long to wait.
   */
  async check(name: string, password: string, clientAddr: string, opts: { wait?: boolean } = {}): Promise<AuthResult> {
    const lower = name.toLowerCase();
    const srcKey = clientAddr;
    const pairKey = `${clientAddr}\0${lower}`;
    const known = this.remembered(lower, password);
    if (known) return known;
    let now = this.now();
    let hold = this.holder(srcKey, pairKey, now);
    if (hold) {
      if (!opts.wait) return this.throttled(hold, now);
      const until = Math.min(hold.nextAt, now + this.opts.maxDelayMs);
      const slept = await this.sleep(until - now);
      const knownNow = this.remembered(lower, password);
      if (knownNow) return knownNow;
      // a timer may fire a millisecond before the clock shows its time; the turn has come
      now = slept ? Math.max(this.now(), until) : this.now();
      hold = this.holder(srcKey, pairKey, now);
      if (hold) return this.throttled(hold, now);
    }

    // this attempt is checked: if a key is past its free failures, it takes the key's one turn
    // per delay before the (slow, async) check, so parallel attempts find the key waiting
    const user = this.users.get(lower);
    const src = this.entry(srcKey, clientAddr, null, now);
    const pair = this.entry(pairKey, clientAddr, user?.name ?? name, now);
    this.reserve(src, now);
    this.reserve(pair, now);
    let reason: string;
    let ok = false;
    try {
      if (!user) reason = `unknown user "${name}"`;
      else if (!user.enabled) reason = `user "${user.name}" is disabled`;
      else if (await verifyPassword(password, user.passHash)) {
        ok = true;
        reason = '';
      } else reason = `wrong password for user "${user.name}"`;
    } finally {
      src.inFlight--;
      pair.inFlight--;
    }
    if (ok && user) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(this.tag(lower, password), user.passHash);
      this.reset(srcKey, src);
      this.reset(pairKey, pair);
      return { ok: true, user: { name: user.name, groups: user.groups } };
    }
    this.fail(srcKey, src, name);
    this.fail(pairKey, pair, name);
    this.opts.onEvent?.({ type: 'failure', clientAddr, user: name, failures: pair.failures });
    return { ok: false, reason, throttled: false };
  }

  /** Keys whose sign-ins are slowed down (waiting now, or past the free failures and not yet forgotten), newest failure first. */
  throttles(): ThrottleInfo[] {
    const now = this.now();
    const out: Array<ThrottleInfo & { last: number }> = [];
    // newest touched first, so ties keep that order (the sort is stable)
    for (const t of [...this.keys.values()].reverse()) {
      // slowed down and not yet forgotten (the owner sees it for the forget window, not just the wait)
      const slowed = this.opts.maxDelayMs > 0 && t.failures > this.opts.freeFailures && now - t.lastFailure < this.opts.forgetMs;
      if (t.nextAt > now || slowed) out.push({ clientAddr: t.clientAddr, user: t.user, failures: t.failures, until: t.nextAt, last: t.lastFailure });
    }
    out.sort((a, b) => b.last - a.last || b.until - a.until);
    return out.map(({ last: _l, ...t }) => t);
  }

  /**
   * Forgets the failures of every key (or of one address's keys). Returns how many of them were
   * making sign-ins wait.
   */
  clearThrottles(clientAddr?: string): number {
    const now = this.now();
    let n = 0;
    for (const [k, t] of this.keys) {
      if (clientAddr !== undefined && t.clientAddr !== clientAddr) continue;
      if (t.nextAt > now) n++;
      // a check still running holds this object: it must not bring the old count back
      t.failures = 0;
      t.nextAt = 0;
      this.keys.delete(k);
    }
    return n;
  }

  /** Ends every pending wait now; those attempts are then answered as throttled or checked. */
  close(): void {
    for (const wake of [...this.waits]) wake();
  }

  private tag(lower: string, password: string): string {
    return createHmac('sha256', this.key).update(lower).update('\0').update(password).digest('base64');
  }

  /** a pair verified before against the same stored hash: accepted without a check or a wait */
  private remembered(lower: string, password: string): AuthResult | null {
    const user = this.users.get(lower);
    if (!user?.enabled || this.verified.get(this.tag(lower, password)) !== user.passHash) return null;
    return { ok: true, user: { name: user.name, groups: user.groups } };
  }

  private delay(t: Throttle, failures: number): number {
    const over = failures - this.opts.freeFailures;
    if (over <= 0 || this.opts.maxDelayMs <= 0) return 0;
    const exp = t.user === null ? (over - 1) / SOURCE_SLOWER : over - 1;
    return Math.min(this.opts.maxDelayMs, Math.round(BASE_DELAY_MS * 2 ** exp));
  }

  private stale(t: Throttle, now: number): boolean {
    return t.inFlight === 0 && t.nextAt <= now && (t.failures === 0 || now - t.lastFailure >= this.opts.forgetMs);
  }

  private live(key: string, now: number): Throttle | undefined {
    const t = this.keys.get(key);
    if (t && this.stale(t, now)) {
      this.keys.delete(key);
      return undefined;
    }
    return t;
  }

  /** the key (source or pair) that makes this attempt wait longest, if any does */
  private holder(srcKey: string, pairKey: string, now: number): Throttle | null {
    if (this.opts.maxDelayMs <= 0) return null;
    let hold: Throttle | null = null;
    // on a tie the (source, user) key is named: it is the more specific reason
    for (const t of [this.live(pairKey, now), this.live(srcKey, now)]) {
      if (t && t.nextAt > now && (!hold || t.nextAt > hold.nextAt)) hold = t;
    }
    return hold;
  }

  private throttled(t: Throttle, now: number): AuthResult {
    const retryAfterMs = t.nextAt - now;
    const who = t.user === null ? `sign-ins from ${t.clientAddr}` : `sign-ins for "${t.user}" from ${t.clientAddr}`;
    const reason = `${who} are slowed down after ${t.failures} failures; retry in ${Math.ceil(retryAfterMs / 1000)} s`;
    return { ok: false, reason, throttled: true, retryAfterMs };
  }

  private entry(key: string, clientAddr: string, user: string | null, now: number): Throttle {
    let t = this.live(key, now);
    if (!t) {
      t = { clientAddr, user, failures: 0, lastFailure: 0, nextAt: 0, inFlight: 0 };
      this.put(key, t, now);
    }
    return t;
  }

  private reserve(t: Throttle, now: number): void {
    // checks in flight count as failures-to-be, so a burst of parallel attempts gets its free
    // checks and one more, not one check per connection
    const pending = t.failures + t.inFlight;
    if (pending >= this.opts.freeFailures) t.nextAt = Math.max(t.nextAt, now + this.delay(t, pending + 1));
    t.inFlight++;
  }

  private reset(key: string, t: Throttle): void {
    t.failures = 0;
    t.lastFailure = 0;
    t.nextAt = 0;
    if (t.inFlight === 0 && this.keys.get(key) === t) this.keys.delete(key);
  }

  private fail(key: string, t: Throttle, name: string): void {
    const now = this.now();
    t.failures++;
    t.lastFailure = now;
    const d = this.delay(t, t.failures);
    if (d > 0) {
      t.nextAt = Math.max(t.nextAt, now + d);
      if (t.failures === this.opts.freeFailures + 1) {
        this.opts.onEvent?.({ type: 'throttle', clientAddr: t.clientAddr, user: name, failures: t.failures, retryAfterMs: d });
      }
    }
    this.put(key, t, now);
  }

  /** stores a key as the newest, keeping at most MAX_KEYS */
  private put(key: string, t: Throttle, now: number): void {
    this.keys.delete(key);
    this.keys.set(key, t);
    if (this.keys.size <= MAX_KEYS) return;
    for (const [k, x] of this.keys) if (this.stale(x, now)) this.keys.delete(k);
    // still full of live keys: drop the longest-untouched ones, with room to spare so this scan
    // does not run again for every new key
    const keep = Math.floor(MAX_KEYS * SHRINK_TO);
    for (const k of this.keys.keys()) {
      if (this.keys.size <= keep) break;
      if (k !== key) this.keys.delete(k);
    }
  }

  /** resolves true once `ms` have passed, false if close() ended the wait first */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (full = false) => {
        clearTimeout(timer);
        this.waits.delete(wake);
        resolve(full);
      };
      const timer = setTimeout(wake, Math.max(0, ms), true);
      this.waits.add(wake);
    });
  }
}

/** RFC 7617: "Basic base64(user:pass)" → the pair, or null. */
export function parseBasic(header: string | undefined): { name: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return null;
  return { name: text.slice(0, i), password: text.slice(i + 1) };
}
