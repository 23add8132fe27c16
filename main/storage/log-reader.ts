/**
 * The proxies' side of the log's reading thread (log-reader-worker.ts): sends
 * a request, resolves with its answer, passes export progress on, cancels.
 * The thread starts on the first request (or at once with `eager`) and is
 * started again after a crash, with the requests it held failed as
 * E_UNAVAILABLE.
 */
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { GatehouseError, type ErrorCode } from '../contract/index.js';
import { DB_FILE } from './db.js';
import type { ExportProgress, FromReader, ReaderOp, ReaderWorkerData, ToReader } from './log-reader-worker.js';
import { spawnWorker } from './spawn-worker.js';

export class CanceledError extends Error {
  constructor() {
    super('canceled');
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onProgress?: (p: ExportProgress) => void;
}

type Value<O extends ReaderOp['op']> = O extends 'query'
  ? import('../contract/index.js').LogPage
  : O extends 'count'
    ? { count: number; maxId: number; tookMs: number }
    : O extends 'export'
      ? ExportProgress
      : O extends 'traffic'
        ? ReturnType<typeof import('./log-stats.js').traffic>
        : O extends 'top'
          ? { items: import('../contract/index.js').TopItem[] }
          : { dbBytes: number; walBytes: number; usedBytes: number; rows: number; oldestTs: number | null; newestTs: number | null };

export class LogReader {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(private readonly opts: { dataDir: string; version: string; checkpointMs?: number; eager?: boolean; onError?: (err: unknown) => void }) {
    if (opts.eager) this.ensure();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    if (this.closed) throw new GatehouseError('E_UNAVAILABLE', 'the log reader is closed');
    const data: ReaderWorkerData = { file: join(this.opts.dataDir, DB_FILE), version: this.opts.version, checkpointMs: this.opts.checkpointMs };
    const w = spawnWorker('log-reader-worker', data);
    w.unref();
    w.on('message', (m: FromReader) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('progress' in m) return p.onProgress?.(m.progress);
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else if (m.error.code === 'CANCELED') p.reject(new CanceledError());
      else p.reject(new GatehouseError(m.error.code as ErrorCode, m.error.message));
    });
    const gone = (why: string) => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const [, p] of this.pending) p.reject(new GatehouseError('E_UNAVAILABLE', `the log reader stopped (${why}); try again`));
      this.pending.clear();
    };
    w.on('error', (err) => {
      this.opts.onError?.(err);
      gone(err.message);
    });
    w.on('exit', (code) => gone(`exit code ${code}`));
    this.worker = w;
    return w;
  }

  request<O extends ReaderOp['op']>(op: O, args: Extract<ReaderOp, { op: O }>['args'], onProgress?: (p: ExportProgress) => void): { id: number; done: Promise<Value<O>> } {
    const id = this.nextId++;
    let w: Worker;
    try {
      w = this.ensure();
    } catch (err) {
      return { id, done: Promise.reject(err) };
    }
    const done = new Promise<Value<O>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
    });
    w.ref();
    void done.finally(() => {
      if (this.pending.size === 0) this.worker?.unref();
    }).catch(() => {});
    w.postMessage({ id, op, args } as ToReader);
    return { id, done };
  }

  call<O extends ReaderOp['op']>(op: O, args: Extract<ReaderOp, { op: O }>['args']): Promise<Value<O>> {
    return this.request<O>(op, args as never).done;
  }

  cancel(id: number): void {
    this.worker?.postMessage({ op: 'cancel', id } satisfies ToReader);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    for (const [, p] of this.pending) p.reject(new GatehouseError('E_UNAVAILABLE', 'Gatehouse is stopping'));
    this.pending.clear();
    if (!w) return;
    // keep the process up until the thread has closed its connections
    w.ref();
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.postMessage({ op: 'close' } satisfies ToReader);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    await w.terminate();
  }
}
