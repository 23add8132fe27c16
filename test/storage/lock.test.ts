/**
 * One gateway per data directory (main/storage/lock.ts), on real files and real
 * processes: a second acquisition is refused with E_LOCKED naming the first
 * (PID, admin URL), in this process and from another one; a lock left by a
 * process that died, by an earlier boot, or naming a PID since reused is stale
 * and taken over; of several processes racing for a stale lock exactly one
 * wins; release() removes only a lock that is still ours.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { GatehouseError } from '../../main/contract/errors.js';
import { LOCK_FILE, acquireDataDirLock, lockedMessage, readDataDirLock } from '../../main/storage/lock.js';

const root = mkdtempSync(join(tmpdir(), 'gh-lock-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => {
  const d = join(root, `d${++n}`);
  mkdirSync(d);
  return d;
};

function refusal(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatehouseError, `not a GatehouseError: ${String(err)}`);
    return err;
  }
  assert.fail('expected E_LOCKED');
}

/** A PID that was alive a moment ago and is not any more. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '']);
  await once(c, 'exit');
  return c.pid!;
}

const LOCK_MODULE = new URL('../../main/storage/lock.ts', import.meta.url).href;

/**
 * Another process that tries to take the lock, prints "won" or the E_LOCKED message, and
 * holds what it won until its stdin closes.
 */
function lockHolder(dir: string, adminUrl: string): { child: ChildProcess; said: Promise<string> } {
  const code = `
    import { acquireDataDirLock } from ${JSON.stringify(LOCK_MODULE)};
    let lock = null;
    try {
      lock = acquireDataDirLock(${JSON.stringify(dir)}, { pid: process.pid, adminUrl: ${JSON.stringify(adminUrl)} });
      process.stdout.write('won\\n');
    } catch (err) {
      process.stdout.write((err.code ?? '') + ' ' + err.message + '\\n');
    }
    process.stdin.on('end', () => { lock?.release(); process.exit(0); });
    process.stdin.resume();
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const said = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code}) before saying anything: ${out}`)));
  });
  return { child, said };
}

test('a second gateway on the same directory is refused with E_LOCKED naming the first one’s PID and admin URL', () => {
  const dir = freshDir();
  const first = acquireDataDirLock(dir, { pid: process.pid, adminUrl: 'http://127.0.0.1:8088' });
  const err = refusal(() => acquireDataDirLock(dir, { pid: process.pid }));
  assert.equal(err.code, 'E_LOCKED');
  assert.equal(err.httpStatus, 409);
  assert.equal(
    err.message,
    `another Gatehouse is already running on ${dir} (PID ${process.pid}, admin http://127.0.0.1:8088); stop it first or use --data-dir for a second one`,
  );
  // the file holds what a reader (gatehouse status) wants to know
  const rec = readDataDirLock(dir)!;
  assert.equal(rec.pid, process.pid);
  assert.equal(rec.adminUrl, 'http://127.0.0.1:8088');
  assert.equal(rec.host, hostname());
  assert.ok(Math.abs(rec.startedAt - Date.now()) < 60_000);
  first.release();
});

test('update() records the admin URL once it is known, and the refusal names it from then on', () => {
  const dir = freshDir();
  const lock = acquireDataDirLock(dir, { pid: process.pid });
  assert.equal(refusal(() => acquireDataDirLock(dir, { pid: process.pid })).message, `another Gatehouse is already running on ${dir} (PID ${process.pid}); stop it first or use --data-dir for a second one`);
  assert.equal(lock.update({ adminUrl: 'http://127.0.0.1:9090' }), true);
  assert.match(refusal(() => acquireDataDirLock(dir, { pid: process.pid })).message, /\(PID \d+, admin http:\/\/127\.0\.0\.1:9090\)/);
  lock.release();
  assert.equal(lock.update({ adminUrl: 'http://x' }), false, 'a released lock is not rewritten');
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
});

test('release() removes the lock and the next gateway takes it; release() of a lock taken over by another leaves theirs', () => {
  const dir = freshDir();
  const a = acquireDataDirLock(dir, { pid: process.pid });
  a.release();
  a.release(); // again: nothing
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  const b = acquireDataDirLock(dir, { pid: process.pid, adminUrl: 'http://127.0.0.1:1' });
  // someone replaced the file (by hand, or a gateway that judged us dead): ours no longer
  const theirs = JSON.stringify({ pid: 1, adminUrl: null, startedAt: Date.now(), host: hostname(), nonce: 'other' });
  writeFileSync(join(dir, LOCK_FILE), theirs);
  b.release();
  assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), theirs);
});

test('a lock left by a process that has exited (its PID is not alive) is stale and taken over', async () => {
  const dir = freshDir();
  const pid = await deadPid();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, adminUrl: 'http://127.0.0.1:8088', startedAt: Date.now() - 1000, host: hostname() }));
  const lock = acquireDataDirLock(dir, { pid: process.pid });
  const rec = readDataDirLock(dir)!;
  assert.equal(rec.pid, process.pid);
  assert.equal(rec.adminUrl, null);
  // and it is ours now: a third is refused
  assert.equal(refusal(() => acquireDataDirLock(dir, { pid: process.pid })).code, 'E_LOCKED');
  lock.release();
  assert.deepEqual(readdirSync(dir), [], 'no file is left behind by the takeover (the stale one was moved aside and removed)');
});

test('a lock naming this process’s own PID that this process does not hold was left by an earlier process with the same PID (a container restart): stale', () => {
  const dir = freshDir();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, adminUrl: null, startedAt: Date.now() - 60_000, host: hostname(), nonce: 'earlier' }));
  const lock = acquireDataDirLock(dir, { pid: process.pid });
  assert.notEqual(readDataDirLock(dir)!.nonce, 'earlier');
  lock.release();
});

test('on Linux, a lock from an earlier boot, or whose PID now belongs to a process started later, is stale; the same process still holds it', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const startTicks = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
  children.add(sleeper);
  await once(sleeper, 'spawn');
  const pid = sleeper.pid!;
  const base = { pid, adminUrl: null, startedAt: Date.now(), host: hostname(), nonce: 'x' };

  const reused = freshDir();
  writeFileSync(join(reused, LOCK_FILE), JSON.stringify({ ...base, boot: bootId, startTicks: startTicks(pid) - 1 }));
  acquireDataDirLock(reused, { pid: process.pid }).release();

  const rebooted = freshDir();
  writeFileSync(join(rebooted, LOCK_FILE), JSON.stringify({ ...base, boot: 'an-earlier-boot', startTicks: startTicks(pid) }));
  acquireDataDirLock(rebooted, { pid: process.pid }).release();

  const live = freshDir();
  writeFileSync(join(live, LOCK_FILE), JSON.stringify({ ...base, boot: bootId, startTicks: startTicks(pid) }));
  assert.match(refusal(() => acquireDataDirLock(live, { pid: process.pid })).message, new RegExp(`\\(PID ${pid}\\)`));
  sleeper.kill('SIGKILL');
  await once(sleeper, 'exit');
});

test('a lock file that is not JSON is waited for while young (its creator is writing it) and taken over once old', () => {
  const dir = freshDir();
  const path = join(dir, LOCK_FILE);
  writeFileSync(path, '{"pid":');
  const old = new Date(Date.now() - 10_000);
  utimesSync(path, old, old);
  const lock = acquireDataDirLock(dir, { pid: process.pid });
  assert.equal(readDataDirLock(dir)!.pid, process.pid);
  lock.release();
});

test('a lock of a gateway on another host (a shared folder) is never judged stale from here, and the refusal names the host', () => {
  const dir = freshDir();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 999_999, adminUrl: null, startedAt: 0, host: 'other-pc', nonce: 'n' }));
  const err = refusal(() => acquireDataDirLock(dir, { pid: process.pid }));
  assert.equal(err.message, lockedMessage(dir, { pid: 999_999, adminUrl: null, host: 'other-pc' }));
  assert.match(err.message, /\(PID 999999 on host other-pc\)/);
});

test('a gateway in another process holding the lock refuses this one; once it is killed (lock left behind), the lock is taken over', async () => {
  const dir = freshDir();
  const { child, said } = lockHolder(dir, 'http://127.0.0.1:8123');
  assert.equal(await said, 'won');
  const err = refusal(() => acquireDataDirLock(dir, { pid: process.pid }));
  assert.equal(err.code, 'E_LOCKED');
  assert.equal(err.message, `another Gatehouse is already running on ${dir} (PID ${child.pid}, admin http://127.0.0.1:8123); stop it first or use --data-dir for a second one`);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(readDataDirLock(dir)!.pid, child.pid, 'a kill leaves the lock file');
  const lock = acquireDataDirLock(dir, { pid: process.pid });
  assert.equal(readDataDirLock(dir)!.pid, process.pid);
  lock.release();
});

test('this process holding the lock refuses a gateway started in another process', async () => {
  const dir = freshDir();
  const lock = acquireDataDirLock(dir, { pid: process.pid, adminUrl: 'http://127.0.0.1:8088' });
  const { child, said } = lockHolder(dir, 'http://127.0.0.1:1');
  assert.equal(await said, `E_LOCKED another Gatehouse is already running on ${dir} (PID ${process.pid}, admin http://127.0.0.1:8088); stop it first or use --data-dir for a second one`);
  child.stdin!.end();
  await once(child, 'exit');
  lock.release();
});

test('of four processes racing for a stale lock, exactly one wins and the others are refused naming it', async () => {
  const dir = freshDir();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid(), adminUrl: null, startedAt: 0, host: hostname(), nonce: 'dead' }));
  const racers = Array.from({ length: 4 }, (_, i) => lockHolder(dir, `http://127.0.0.1:${9000 + i}`));
  const said = await Promise.all(racers.map((r) => r.said));
  const winners = racers.filter((_, i) => said[i] === 'won');
  assert.equal(winners.length, 1, said.join('\n'));
  const winner = winners[0]!.child.pid;
  for (const s of said.filter((x) => x !== 'won')) assert.match(s, new RegExp(`^E_LOCKED another Gatehouse is already running on .*\\(PID ${winner}, admin `));
  assert.equal(readDataDirLock(dir)!.pid, winner);
  for (const r of racers) r.child.stdin!.end();
  await Promise.all(racers.map((r) => (r.child.exitCode === null ? once(r.child, 'exit') : null)));
  assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'the winner released it');
});

test('a data directory that cannot be created is E_STORAGE with one line naming it, not a raw errno', () => {
  const file = join(freshDir(), 'a-file');
  writeFileSync(file, 'x');
  const dir = join(file, 'data');
  const err = refusal(() => acquireDataDirLock(dir, { pid: process.pid }));
  assert.equal(err.code, 'E_STORAGE');
  assert.equal(err.message, `cannot use the data directory ${dir} (ENOTDIR: ${file} is a file): choose another with --data-dir`);
});
