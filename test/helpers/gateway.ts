/** Starts a real Gatehouse runtime in this process on loopback, with a temp data dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Settings } from '../../main/contract/index.js';
import { startRuntime, type Runtime } from '../../main/runtime.js';
import { silentLogger } from '../../main/logger.js';
import { openDb } from '../../main/storage/db.js';
import { recentLog } from '../../main/storage/log-writer.js';
import type { LogRow } from '../../main/contract/index.js';

export interface TestGateway {
  rt: Runtime;
  dataDir: string;
  port: number;
  proxy: string;
  socksPort: number;
  /** waits until the log holds at least n rows (bounded), newest last */
  logRows(n: number): Promise<LogRow[]>;
  /** waits until a row matching `pred` is written (bounded) and returns it */
  waitForRow(pred: (r: LogRow) => boolean): Promise<LogRow>;
  close(): Promise<void>;
}

export async function startGateway(overrides: Partial<Settings> = {}, opts: { admin?: boolean; logBacklogMax?: number } = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-test-'));
  const rt = await startRuntime({
    dataDir,
    sharing: 'on',
    admin: opts.admin ?? false,
    overrides: { listen: ['127.0.0.1'], 'http.port': 0, 'socks.port': 0, 'admin.port': 0, ...overrides },
    logger: silentLogger,
    logDelayMs: 20,
    watchMs: 100,
    logBacklogMax: opts.logBacklogMax,
  });
  const http = rt.status().services.find((s) => s.name === 'http')!;
  const socks = rt.status().services.find((s) => s.name === 'socks')!;
  const port = http.port!;
  let closed = false;
  return {
    rt,
    dataDir,
    port,
    proxy: `http://127.0.0.1:${port}`,
    socksPort: socks.port!,
    async logRows(n: number) {
      for (let i = 0; i < 100; i++) {
        const r = await rt.control.call('log.recent', { limit: 1000 });
        if (r.ok && (r.value as LogRow[]).length >= n) return (r.value as LogRow[]).slice().reverse();
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`the log did not reach ${n} rows`);
    },
    async waitForRow(pred) {
      for (let i = 0; i < 100; i++) {
        const r = await rt.control.call('log.recent', { limit: 1000 });
        const hit = r.ok ? (r.value as LogRow[]).find(pred) : undefined;
        if (hit) return hit;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error('no matching log row was written');
    },
    async close() {
      if (closed) return;
      closed = true;
      await rt.stop(500);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Reads the log straight from the file (after stop). */
export function readLog(dataDir: string): LogRow[] {
  const db = openDb(dataDir);
  try {
    return recentLog(db, 100000).reverse();
  } finally {
    db.close();
  }
}

const execFileP = promisify(execFile);

/** Runs curl without blocking the event loop (the proxy under test runs in this process). */
export async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('curl', ['-sS', '--max-time', '20', '--noproxy', '', ...args], { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
