/**
 * Who is signing in: checks a name and password against the users table and
 * throttles failures per source address. Proxies authenticate on every
 * request (HTTP Basic) or session (SOCKS5), so a correct pair is remembered
 * under a keyed hash together with the stored hash it matched; changing a
 * password or disabling a user makes the remembered pair useless at once.
 *
 * Throttle: each failure from an address delays the answer a little more;
 * after `maxFailures` within `lockoutSeconds` the address is refused without
 * a check until the lock-out ends. Other addresses are not affected.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { StoredUser } from '../storage/users-repo.js';
import { verifyPassword } from './passwords.js';

export interface AuthUser {
  name: string;
  groups: string[];
}

export type AuthResult =
  | { ok: true; user: AuthUser }
  | { ok: false; reason: string; lockedOut: boolean };

export interface AuthOptions {
  maxFailures: number;
  lockoutMs: number;
  /** added per failure, up to 2 s */
  stepDelayMs?: number;
  clock?: () => number;
  onEvent?: (e: { type: 'failure' | 'lockout'; clientAddr: string; user: string; failures: number }) => void;
}

interface Failures {
  count: number;
  first: number;
  lockedUntil: number;
}

export class Authenticator {
  private users = new Map<string, StoredUser>();
  private readonly key = randomBytes(32);
  private readonly verified = new Map<string, string>();
  private readonly failures = new Map<string, Failures>();
  private opts: AuthOptions;

  constructor(
    private readonly loadUsers: () => StoredUser[],
    opts: AuthOptions,
  ) {
    this.opts = opts;
    this.reload();
  }

  configure(opts: Partial<AuthOptions>): void {
    this.opts = { ...this.opts, ...opts };
  }

  reload(): void {
    const next = new Map<string, StoredUser>();
    for (const u of this.loadUsers()) next.set(u.name.toLowerCase(), u);
    this.users = next;
  }

  get userCount(): number {
    return this.users.size;
  }

  groupsOf(name: string): string[] {
    return this.users.get(name.toLowerCase())?.groups ?? [];
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  /** Is this address locked out right now? */
  lockedOut(clientAddr: string): boolean {
    const f = this.failures.get(clientAddr);
    return !!f && f.lockedUntil > this.now();
  }

  async check(name: string, password: string, clientAddr: string): Promise<AuthResult> {
    const now = this.now();
    let f = this.failures.get(clientAddr);
    if (f && f.lockedUntil > now) {
      return { ok: false, reason: `too many failed sign-ins from ${clientAddr}; locked out for ${Math.ceil((f.lockedUntil - now) / 1000)} s`, lockedOut: true };
    }
    if (f && now - f.first > this.opts.lockoutMs) {
      this.failures.delete(clientAddr);
      f = undefined;
    }
    const user = this.users.get(name.toLowerCase());
    let reason = '';
    if (!user) reason = `unknown user "${name}"`;
    else if (!user.enabled) reason = `user "${user.name}" is disabled`;
    else {
      const tag = createHmac('sha256', this.key).update(user.name.toLowerCase()).update('\0').update(password).digest('base64');
      if (this.verified.get(tag) === user.passHash) {
        this.failures.delete(clientAddr);
        return { ok: true, user: { name: user.name, groups: user.groups } };
      }
      if (await verifyPassword(password, user.passHash)) {
        if (this.verified.size > 10000) this.verified.clear();
        this.verified.set(tag, user.passHash);
        this.failures.delete(clientAddr);
        return { ok: true, user: { name: user.name, groups: user.groups } };
      }
      reason = `wrong password for user "${user.name}"`;
    }
    // a failure: count it, maybe lock out, and slow the answer down
    f = this.failures.get(clientAddr) ?? { count: 0, first: now, lockedUntil: 0 };
    f.count++;
    this.failures.set(clientAddr, f);
    if (this.failures.size > 10000) this.pruneFailures(now);
    this.opts.onEvent?.({ type: 'failure', clientAddr, user: name, failures: f.count });
    if (f.count >= this.opts.maxFailures) {
      f.lockedUntil = now + this.opts.lockoutMs;
      this.opts.onEvent?.({ type: 'lockout', clientAddr, user: name, failures: f.count });
      reason += `; ${clientAddr} is now locked out for ${Math.ceil(this.opts.lockoutMs / 1000)} s`;
    }
    const delay = Math.min(2000, (this.opts.stepDelayMs ?? 200) * f.count);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    return { ok: false, reason, lockedOut: f.lockedUntil > now };
  }

  private pruneFailures(now: number): void {
    for (const [addr, f] of this.failures) if (f.lockedUntil < now && now - f.first > this.opts.lockoutMs) this.failures.delete(addr);
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
