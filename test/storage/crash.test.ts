/**
 * Crash safety of the data directory, with `gatehouse serve` as a child
 * process under load from a loopback client: after `kill -9` the database
 * opens cleanly (integrity check, FTS index check), settings and users are as
 * they were, and every request answered more than a batch's time before the
 * kill has its row (only the last unwritten batch may be missing). After a
 * clean stop (SIGTERM) under the same load, every answered request has its row.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDb, DB_FILE } from '../../main/storage/db.js';
import { SettingsRepo } from '../../main/storage/settings-repo.js';
import { UsersRepo } from '../../main/storage/users-repo.js';
import { startHttpOrigin, type Origin } from '../helpers/origin.js';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'gh-crash-'));
let origin: Origin;
before(async () => {
  origin = await startHttpOrigin();
});
after(async () => {
  await origin?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** the batch delay (200 ms) plus the writing thread's turn, with room for a busy machine */
const BATCH_WINDOW_MS = 1500;

function prepare(dir: string): void {
  execFileSync(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'settings', 'set', 'log.retentionDays', '12', '--data-dir', dir], { cwd: ROOT });
  execFileSync(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'users', 'add', 'alice', '--password-stdin', '--data-dir', dir], { cwd: ROOT, input: 'secret-pw\n' });
}

async function serve(dir: string): Promise<{ child: ChildProcess; port: number; exited: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli.ts', 'serve', '--json', '--data-dir', dir, '--listen', '127.0.0.1', '--http-port', '0', '--socks-port', '0', '--admin-port', '0', '--sharing', 'on'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready line in 30 s')), 30_000);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      buf += c;
      for (const line of buf.split('\n')) {
        try {
          const m = JSON.parse(line) as { event?: string; http?: string };
          if (m.event === 'ready') {
            clearTimeout(timer);
            resolve(Number(m.http!.split(':').pop()));
          }
        } catch {
          // a log line or half a line
        }
      }
    });
    void exited.then(() => reject(new Error('serve exited before it was ready')));
  });
  return { child, port, exited };
}

/** Requests through the proxy, 8 at a time, until stopped (or 20,000 sent); each answered one is noted with its time. */
function load(port: number) {
  const answered = new Map<string, number>();
  let stop = false;
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const tag = `r${sent++}`;
      const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: `${origin.url}/hello?tag=${tag}`, agent: false, timeout: 5000 });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          answered.set(tag, Date.now());
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.on('timeout', () => req.destroy());
      req.end();
    });
  const workers = Array.from({ length: 8 }, async () => {
    while (!stop && sent < 20_000) await one();
  });
  return {
    answered,
    stop: async () => {
      stop = true;
      await Promise.all(workers);
    },
  };
}

function rowsOnDisk(dir: string): number {
  const db = new Database(join(dir, DB_FILE), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT count(*) FROM log WHERE url LIKE '%tag=%'").pluck().get() as number;
  } finally {
    db.close();
  }
}

async function waitForRows(dir: string, n: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if (rowsOnDisk(dir) >= n) return;
    } catch {
      // the file may not be readable for a moment
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`fewer than ${n} rows were written`);
}

function tagsOnDisk(dir: string): Set<string> {
  const db = openDb(dir);
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.exec("INSERT INTO log_fts(log_fts) VALUES('integrity-check')");
    assert.equal(new SettingsRepo(db).load()['log.retentionDays'], 12, 'settings intact');
    assert.deepEqual(new UsersRepo(db).list().map((u) => u.name), ['alice'], 'users intact');
    const urls = db.prepare("SELECT url FROM log WHERE url LIKE '%tag=%'").pluck().all() as string[];
    return new Set(urls.map((u) => new URL(u).searchParams.get('tag')!));
  } finally {
    db.close();
  }
}

test('after kill -9 under load the database opens cleanly, settings and users are intact, and only the last batch of rows is missing', async () => {
  const dir = join(tmp, 'kill');
  prepare(dir);
  const gw = await serve(dir);
  const traffic = load(gw.port);
  try {
    await waitForRows(dir, 300);
    // keep the load going for a while, so many requests were answered well before the kill
    await new Promise((r) => setTimeout(r, BATCH_WINDOW_MS + 1500));
    const killedAt = Date.now();
    gw.child.kill('SIGKILL');
    await gw.exited;
    await traffic.stop();
    const onDisk = tagsOnDisk(dir);
    const settled = [...traffic.answered].filter(([, at]) => at < killedAt - BATCH_WINDOW_MS).map(([tag]) => tag);
    assert.ok(settled.length >= 100, `${settled.length} requests answered well before the kill`);
    const lost = settled.filter((t) => !onDisk.has(t));
    assert.deepEqual(lost, [], 'every request answered a batch window before the kill has its row');
    // and nothing was written twice or made up
    assert.ok(onDisk.size <= traffic.answered.size + 8);
  } finally {
    gw.child.kill('SIGKILL');
    await traffic.stop();
  }
});

test('a clean stop under load writes the row of every answered request', async () => {
  const dir = join(tmp, 'term');
  prepare(dir);
  const gw = await serve(dir);
  const traffic = load(gw.port);
  try {
    await waitForRows(dir, 200);
    gw.child.kill('SIGTERM');
    await traffic.stop();
    await gw.exited;
    const onDisk = tagsOnDisk(dir);
    const lost = [...traffic.answered.keys()].filter((t) => !onDisk.has(t));
    assert.deepEqual(lost, []);
  } finally {
    gw.child.kill('SIGKILL');
  }
});
