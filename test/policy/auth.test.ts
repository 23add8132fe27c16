/**
 * Sign-in throttling (policy/auth.ts) on real scrypt hashes: failures slow
 * down further attempts per source and per (source, user) instead of locking
 * anyone out; a pair verified before is always accepted; a throttled key gets
 * one password check per delay, however many connections ask in parallel.
 * A settable clock drives the delays; waits (wait: true) use real timers,
 * each bounded by a small maxDelayMs.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator, parseBasic, type AuthAccount, type AuthEvent, type AuthOptions, type AuthResult } from '../../main/policy/auth.js';
import { hashPassword } from '../../main/policy/passwords.js';

const NAT = '10.0.0.7';
let accounts: AuthAccount[];

before(async () => {
  accounts = [
    { name: 'alice', passHash: await hashPassword('wonderland'), enabled: true, groups: ['staff'] },
    { name: 'Bob', passHash: await hashPassword('builder'), enabled: true, groups: [] },
    { name: 'carol', passHash: await hashPassword('singer'), enabled: false, groups: [] },
  ];
});

interface Harness {
  auth: Authenticator;
  events: AuthEvent[];
  /** failed password checks so far (each one emits exactly one 'failure') */
  failures: () => number;
  now: () => number;
  advance: (ms: number) => void;
  /** n wrong passwords, each after the clock has passed the address's delays (a fake clock is moved there) */
  failTimes: (n: number, name?: string, addr?: string) => Promise<void>;
}

/** an Authenticator on a clock that moves only when told (or on the real clock with `realClock`) */
function setup(opts: Partial<AuthOptions> = {}, realClock = false): Harness {
  let t = 1_000_000;
  const now = realClock ? Date.now : () => t;
  const events: AuthEvent[] = [];
  const auth = new Authenticator(() => accounts, {
    freeFailures: 3,
    forgetMs: 60_000,
    maxDelayMs: 4000,
    clock: now,
    onEvent: (e) => events.push(e),
    ...opts,
  });
  const advance = (ms: number) => {
    assert.ok(!realClock, 'the real clock cannot be moved');
    t += ms;
  };
  const failTimes = async (n: number, name = 'alice', addr = NAT) => {
    for (let i = 0; i < n; i++) {
      const wait = Math.max(0, ...auth.throttles().filter((x) => x.clientAddr === addr).map((x) => x.until - now()));
      if (wait > 0) advance(wait);
      const r = await auth.check(name, 'guess', addr);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.throttled, false, `failure ${i + 1} of ${n} was throttled`);
    }
  };
  return { auth, events, failures: () => events.filter((e) => e.type === 'failure').length, now, advance, failTimes };
}

function throttledOf(r: AuthResult): { reason: string; retryAfterMs: number } {
  assert.ok(!r.ok && r.throttled, `expected a throttled answer, got ${JSON.stringify(r)}`);
  return r;
}

describe('sign-in checks', () => {
  test('accepts a correct pair with the user name in any case and returns the stored name and groups', async () => {
    const { auth } = setup();
    assert.deepEqual(await auth.check('ALICE', 'wonderland', NAT), { ok: true, user: { name: 'alice', groups: ['staff'] } });
    assert.equal(auth.userCount, 3);
    assert.deepEqual(auth.groupsOf('Alice'), ['staff']);
  });

  test('refuses with a sentence naming the user: wrong password, unknown user, disabled user', async () => {
    const { auth } = setup();
    assert.deepEqual(await auth.check('alice', 'nope', NAT), { ok: false, reason: 'wrong password for user "alice"', throttled: false });
    assert.deepEqual(await auth.check('bob2', 'x', NAT), { ok: false, reason: 'unknown user "bob2"', throttled: false });
    assert.deepEqual(await auth.check('carol', 'singer', NAT), { ok: false, reason: 'user "carol" is disabled', throttled: false });
  });

  test('stops accepting a remembered pair once the password changes or the user is disabled', async () => {
    const { auth } = setup();
    const saved = accounts;
    try {
      assert.equal((await auth.check('alice', 'wonderland', NAT)).ok, true);
      accounts = saved.map((u) => (u.name === 'alice' ? { ...u, enabled: false } : u));
      auth.reload();
      assert.equal((await auth.check('alice', 'wonderland', NAT)).ok, false);
      accounts = [...saved.filter((u) => u.name !== 'alice'), { ...saved[0]!, passHash: await hashPassword('looking-glass') }];
      auth.reload();
      assert.deepEqual(await auth.check('alice', 'wonderland', NAT), { ok: false, reason: 'wrong password for user "alice"', throttled: false });
    } finally {
      accounts = saved;
    }
  });
});

describe('throttling', () => {
  test('lets the free failures through unslowed, then answers the next attempt as throttled for 250 ms', async () => {
    const { auth, events, failTimes } = setup();
    await failTimes(3);
    assert.deepEqual(auth.throttles(), []);
    await failTimes(1);
    const t = throttledOf(await auth.check('alice', 'guess', NAT));
    assert.equal(t.retryAfterMs, 250);
    assert.equal(t.reason, `sign-ins for "alice" from ${NAT} are slowed down after 4 failures; retry in 1 s`);
    assert.deepEqual(
      events.filter((e) => e.type === 'throttle').map((e) => [e.user, e.failures, e.retryAfterMs]),
      [
        ['alice', 4, 250],
        ['alice', 4, 250],
      ],
      'one throttle event as the source key and one as the (source, user) key start to wait',
    );
  });

  test('doubles the delay of a (source, user) key per failure up to maxDelayMs', async () => {
    const { auth, now, failTimes } = setup({ freeFailures: 1, maxDelayMs: 1500 });
    await failTimes(1);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      await failTimes(1);
      seen.push(throttledOf(await auth.check('alice', 'guess', NAT)).retryAfterMs);
      assert.equal(auth.throttles()[0]!.until - now(), seen.at(-1));
    }
    assert.deepEqual(seen, [250, 500, 1000, 1500, 1500]);
  });

  test('grows the source key four times more slowly than the (source, user) key, so one mistyping device barely slows its neighbours', async () => {
    const { auth, now, failTimes } = setup({ freeFailures: 1 });
    await failTimes(1);
    const delayOf = (user: string | null) => auth.throttles().find((t) => t.user === user)!.until - now();
    const steps: Array<[number, number]> = [];
    for (let i = 0; i < 5; i++) {
      await failTimes(1);
      steps.push([delayOf('alice'), delayOf(null)]);
    }
    assert.deepEqual(steps, [
      [250, 250],
      [500, 297],
      [1000, 354],
      [2000, 420],
      [4000, 500],
    ]);
  });

  test('answers a throttled attempt without waiting (wait: false) with retryAfterMs, without checking the password or counting it', async () => {
    const { auth, failures, failTimes } = setup();
    await failTimes(4);
    const before = failures();
    // the right password would be accepted if it were checked
    const t = throttledOf(await auth.check('alice', 'wonderland', NAT, { wait: false }));
    assert.equal(t.retryAfterMs, 250);
    assert.equal(failures(), before);
    assert.equal(auth.throttles().find((x) => x.user === 'alice')!.failures, 4);
  });

  test("accepts a pair verified before at once while its source is throttled by another user's failures", async () => {
    const { auth, failTimes } = setup();
    assert.equal((await auth.check('alice', 'wonderland', NAT)).ok, true);
    await failTimes(8, 'bob');
    for (let i = 0; i < 20; i++) throttledOf(await auth.check('bob', 'guess', NAT));
    assert.ok(auth.throttles().some((t) => t.user === null), 'the source address is throttled');
    assert.deepEqual(await auth.check('alice', 'wonderland', NAT, { wait: false }), { ok: true, user: { name: 'alice', groups: ['staff'] } });
  });

  test("accepts a pair verified before even while someone guesses that same user's password from its address", async () => {
    const { auth, failTimes } = setup();
    assert.equal((await auth.check('alice', 'wonderland', NAT)).ok, true);
    await failTimes(6, 'alice');
    throttledOf(await auth.check('alice', 'guess', NAT));
    assert.equal((await auth.check('alice', 'wonderland', NAT, { wait: false })).ok, true);
  });

  test('does not slow down other addresses', async () => {
    const { auth, failTimes } = setup();
    await failTimes(6);
    throttledOf(await auth.check('alice', 'guess', NAT));
    assert.equal((await auth.check('alice', 'wonderland', '10.0.0.8')).ok, true);
  });

  test('gives 10 parallel wrong guesses past the free failures one password check per delay window', async () => {
    const { auth, failures, advance, failTimes } = setup();
    await failTimes(3);
    let delay = 0;
    for (const expectDelay of [250, 500, 1000, 2000, 4000, 4000]) {
      const before = failures();
      const rs = await Promise.all(Array.from({ length: 10 }, () => auth.check('alice', 'guess', NAT)));
      assert.equal(failures() - before, 1, `checks in the window after a ${delay} ms delay`);
      assert.equal(rs.filter((r) => !r.ok && r.throttled).length, 9);
      delay = throttledOf(await auth.check('alice', 'guess', NAT)).retryAfterMs;
      assert.equal(delay, expectDelay);
      advance(delay);
    }
  });

  test('gives a burst of parallel guesses on a fresh key its free checks and one more, not one per connection', async () => {
    const { auth, failures } = setup();
    const rs = await Promise.all(Array.from({ length: 10 }, () => auth.check('alice', 'guess', NAT)));
    assert.equal(failures(), 4);
    assert.equal(rs.filter((r) => !r.ok && r.throttled).length, 6);
  });

  test('forgets failures forgetMs after the last one', async () => {
    const { auth, events, advance, failTimes } = setup({ forgetMs: 10_000 });
    await failTimes(5);
    advance(9_999);
    const shown = auth.throttles();
    assert.ok(shown.length > 0 && shown.every((t) => t.failures >= 5), 'the wait is over, yet the owner still sees the slowed-down key until it is forgotten');
    await failTimes(1);
    assert.equal(events.at(-1)!.failures, 6, 'within forgetMs the count goes on');
    advance(10_000);
    assert.deepEqual(auth.throttles(), []);
    await failTimes(1);
    assert.equal(events.at(-1)!.failures, 1, 'after forgetMs the count starts again');
    assert.deepEqual(auth.throttles(), []);
  });

  test('clears the (source, user) key and resets the source key when a pair is verified', async () => {
    const { auth, events, failTimes, advance } = setup();
    await failTimes(4);
    advance(250);
    assert.equal((await auth.check('alice', 'wonderland', NAT)).ok, true);
    assert.deepEqual(auth.throttles(), []);
    assert.equal(auth.trackedKeys, 0);
    await failTimes(1);
    assert.equal(events.at(-1)!.failures, 1);
  });

  test('never slows anything down with maxDelayMs 0', async () => {
    const { auth, failures, failTimes } = setup({ maxDelayMs: 0 });
    await failTimes(20);
    assert.equal(failures(), 20);
    assert.deepEqual(auth.throttles(), []);
    assert.equal((await auth.check('alice', 'wonderland', NAT, { wait: false })).ok, true);
  });

  test('names the source address alone when the source key holds the attempt', async () => {
    const { auth, failTimes } = setup({ freeFailures: 1 });
    await failTimes(1, 'x1');
    await failTimes(1, 'x2');
    const t = throttledOf(await auth.check('x3', 'guess', NAT));
    assert.equal(t.reason, `sign-ins from ${NAT} are slowed down after 2 failures; retry in 1 s`);
  });
});

describe('waiting for a turn (wait: true)', () => {
  test('waits out the delay, then checks: a valid pair is accepted within maxDelayMs', async () => {
    const { auth, failTimes } = setup({ freeFailures: 1, maxDelayMs: 200 }, true);
    await failTimes(2, 'bob');
    const hold = auth.throttles().find((t) => t.user === null)!;
    assert.ok(hold.until > Date.now(), 'the source is throttled');
    const r = await auth.check('alice', 'wonderland', NAT, { wait: true });
    assert.ok(r.ok, JSON.stringify(r));
    assert.ok(Date.now() >= hold.until - 2, "the check waited for the source key's turn");
  });

  test('checks one of many waiting wrong guesses per turn and answers the rest as throttled', async () => {
    const { auth, failures, failTimes } = setup({ freeFailures: 1, maxDelayMs: 100 }, true);
    await failTimes(2);
    const before = failures();
    const rs = await Promise.all(Array.from({ length: 10 }, () => auth.check('alice', 'guess', NAT, { wait: true })));
    assert.equal(failures() - before, 1);
    assert.equal(rs.filter((r) => !r.ok && r.throttled).length, 9);
  });

  test('waits no longer than maxDelayMs in total, even for a key set to wait longer', async () => {
    const { auth, failTimes } = setup({ freeFailures: 1, maxDelayMs: 60_000 }, true);
    await failTimes(2); // the key now waits 250 ms
    auth.configure({ maxDelayMs: 50 });
    const r = await auth.check('alice', 'wonderland', NAT, { wait: true });
    assert.ok(!r.ok && r.throttled, 'still throttled after the capped wait');
  });

  test('close() ends pending waits at once, answering them as throttled', async () => {
    const { auth, failTimes } = setup({ freeFailures: 1, maxDelayMs: 60_000 }, true);
    await failTimes(2); // the key now waits 250 ms; had it waited, the right password would be accepted
    const pending = auth.check('alice', 'wonderland', NAT, { wait: true });
    auth.close();
    throttledOf(await pending);
  });
});

describe('visibility and bounds', () => {
  test('throttles() lists the keys delaying now, newest first; clearThrottles() forgets one address or all', async () => {
    const { auth, advance, failTimes } = setup({ freeFailures: 1 });
    await failTimes(2, 'alice', '10.0.0.1');
    advance(1);
    await failTimes(2, 'bob', '10.0.0.2');
    assert.deepEqual(
      auth.throttles().map((t) => [t.clientAddr, t.user, t.failures, t.until]),
      [
        ['10.0.0.2', 'Bob', 2, 1_000_251],
        ['10.0.0.2', null, 2, 1_000_251],
        ['10.0.0.1', 'alice', 2, 1_000_250],
        ['10.0.0.1', null, 2, 1_000_250],
      ],
    );
    assert.equal(auth.clearThrottles('10.0.0.2'), 2);
    assert.deepEqual(auth.throttles().map((t) => t.clientAddr), ['10.0.0.1', '10.0.0.1']);
    assert.equal((await auth.check('bob', 'builder', '10.0.0.2', { wait: false })).ok, true);
    assert.equal(auth.clearThrottles(), 2);
    assert.deepEqual(auth.throttles(), []);
  });

  test('keeps at most 10,000 keys, dropping expired ones first and then the oldest', async () => {
    const { auth, advance } = setup({ freeFailures: 0, forgetMs: 1000 });
    const failFrom = async (net: number, n: number) => {
      for (let i = 0; i < n; i++) await auth.check('nobody', 'x', `10.${net}.${i >> 8}.${i & 255}`);
    };
    await failFrom(1, 4000);
    assert.equal(auth.trackedKeys, 8000, 'a source key and a (source, user) key per address');
    advance(5000);
    await failFrom(2, 2500);
    assert.equal(auth.trackedKeys, 5000, 'the expired keys were dropped when the table filled');
    assert.equal(auth.throttles().length, 5000);
    await failFrom(3, 6000);
    assert.ok(auth.trackedKeys <= 10_000, `${auth.trackedKeys} keys`);
    assert.ok(auth.throttles().some((t) => t.clientAddr === '10.3.23.111'), 'the newest address is kept');
    assert.ok(!auth.throttles().some((t) => t.clientAddr === '10.2.0.0'), 'the oldest address was dropped');
  });
});

describe('parseBasic', () => {
  test('reads "Basic base64(name:password)" with a colon inside the password (RFC 7617 §2)', () => {
    const h = `Basic ${Buffer.from('alice:a:b').toString('base64')}`;
    assert.deepEqual(parseBasic(h), { name: 'alice', password: 'a:b' });
    assert.equal(parseBasic('Bearer x'), null);
    assert.equal(parseBasic(undefined), null);
  });
});
