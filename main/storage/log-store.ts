/**
 * The request log's two threads, owned in one place: the writing thread
 * (batches, full-text index, aggregates, retention) when this process writes
 * the log (a running gateway), and the reading thread (queries, counts,
 * exports, statistics) for everyone who reads it (the gateway's UI and the
 * CLI alike). Exports are written into <data dir>/exports.
 */
import { join } from 'node:path';
import type { Settings } from '../contract/index.js';
import type { Logger } from '../logger.js';
import type { Db } from './db.js';
import { LogReader } from './log-reader.js';
import type { RetentionLimits } from './log-retention.js';
import { ThreadedLogWriter } from './log-writer-thread.js';

export interface LogStoreOptions {
  dataDir: string;
  db: Db;
  version: string;
  settings: Settings;
  /** start the writing thread (the gateway); the CLI only reads */
  write: boolean;
  /** log writer batching (ms) */
  delayMs?: number;
  /** how often the writing thread looks at the retention limits (ms) */
  pruneEveryMs?: number;
  /** the writing thread's warnings (once per condition: disk full, resumed) */
  logger?: Logger;
  onWriteError?: (err: unknown) => void;
  onReadError?: (err: unknown) => void;
}

export function retentionOf(s: Settings): RetentionLimits {
  return { retentionDays: s['log.retentionDays'], maxRows: s['log.maxRows'], maxSizeMB: s['log.maxSizeMB'] };
}

export class LogStore {
  readonly writer: ThreadedLogWriter | null;
  readonly reader: LogReader;
  readonly exportsDir: string;
  private limits: RetentionLimits;
  private stopping: Promise<{ lost: number }> | null = null;

  constructor(o: LogStoreOptions) {
    this.exportsDir = join(o.dataDir, 'exports');
    this.limits = retentionOf(o.settings);
    this.writer = o.write
      ? new ThreadedLogWriter({ dataDir: o.dataDir, db: o.db, limits: this.limits, delayMs: o.delayMs, pruneEveryMs: o.pruneEveryMs, onError: o.onWriteError, logger: o.logger })
      : null;
    this.reader = new LogReader({ dataDir: o.dataDir, version: o.version, checkpointMs: o.write ? 250 : undefined, eager: o.write, onError: o.onReadError });
  }

  get retention(): RetentionLimits {
    return this.limits;
  }

  /** Retention settings reach the writing thread when they change. */
  setLimits(s: Settings): void {
    const next = retentionOf(s);
    if (JSON.stringify(next) === JSON.stringify(this.limits)) return;
    this.limits = next;
    this.writer?.setLimits(next);
  }

  /**
   * Ends reads and exports, writes the queued rows, stops both threads: within `graceMs` even when
   * the disk is full. Resolves with how many rows could not be written.
   */
  stop(graceMs?: number): Promise<{ lost: number }> {
    this.stopping ??= (async () => {
      await this.reader.close();
      const closed = await this.writer?.close(graceMs);
      return { lost: closed?.lost ?? 0 };
    })();
    return this.stopping;
  }
}
