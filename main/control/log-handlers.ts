/**
 * The log viewer's part of the control service: it owns the log's two threads
 * (the writing thread behind `writer`, the reading thread behind the query,
 * count, export and statistics methods), the export jobs and their files in
 * <data dir>/exports, and passes the retention settings to the writing thread
 * whenever they change. The runtime pushes rows into `writer`, spreads
 * `handlers` into the control service and awaits `stop()` before closing the
 * database.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GatehouseError, type ExportJob, type GatehouseEvent, type Handlers, type Settings } from '../contract/index.js';
import type { Db } from '../storage/db.js';
import { EXPORT_EXT } from '../storage/log-export.js';
import { CanceledError, LogReader } from '../storage/log-reader.js';
import type { RetentionLimits } from '../storage/log-retention.js';
import { ThreadedLogWriter } from '../storage/log-writer-thread.js';
import type { Logger } from '../logger.js';

export type LogMethodName =
  | 'log.query'
  | 'log.count'
  | 'log.export'
  | 'log.exportCancel'
  | 'log.exports'
  | 'log.info'
  | 'stats.traffic'
  | 'stats.top';

export interface LogDeps {
  db: Db;
  dataDir: string;
  version: string;
  /** the settings in force (read for the retention limits) */
  settings: () => Settings;
  emit: (e: GatehouseEvent) => void;
  logger?: Logger;
  /** log writer batching (ms) */
  delayMs?: number;
  /** how often the writing thread looks at the retention limits (ms) */
  pruneEveryMs?: number;
}

export interface LogService {
  handlers: Pick<Handlers, LogMethodName>;
  writer: ThreadedLogWriter;
  reader: LogReader;
  exportsDir: string;
  /** ends exports, writes every queued row, stops both threads */
  stop(): Promise<void>;
}

const MAX_JOBS = 50;

function limitsOf(s: Settings): RetentionLimits {
  return { retentionDays: s['log.retentionDays'], maxRows: s['log.maxRows'], maxSizeMB: s['log.maxSizeMB'] };
}

function stamp(ts: number): string {
  return new Date(ts).toISOString().slice(0, 19).replace(/[:T]/g, '-');
}

export function createLogHandlers(deps: LogDeps): LogService {
  const log = deps.logger;
  const exportsDir = join(deps.dataDir, 'exports');
  let limits = limitsOf(deps.settings());
  const writer = new ThreadedLogWriter({
    dataDir: deps.dataDir,
    db: deps.db,
    limits,
    delayMs: deps.delayMs,
    pruneEveryMs: deps.pruneEveryMs,
    onError: (err) => log?.error('log write failed; will retry', { err: String((err as Error)?.message ?? err) }),
  });
  const reader = new LogReader({
    dataDir: deps.dataDir,
    version: deps.version,
    checkpointMs: 250,
    eager: true,
    onError: (err) => log?.error('log reader failed', { err: String((err as Error)?.message ?? err) }),
  });

  // retention settings reach the writing thread within a second of a change
  const watch = setInterval(() => {
    const next = limitsOf(deps.settings());
    if (JSON.stringify(next) === JSON.stringify(limits)) return;
    limits = next;
    writer.setLimits(next);
  }, 1000);
  watch.unref();

  const jobs = new Map<string, { job: ExportJob; requestId: number }>();
  const publish = (job: ExportJob) => deps.emit({ type: 'export', job: { ...job } });

  const handlers: LogService['handlers'] = {
    'log.query': (q) => reader.call('query', q),
    'log.count': ({ filter }) => reader.call('count', { filter }),
    'log.export': ({ filter, sort, order, format }) => {
      mkdirSync(exportsDir, { recursive: true });
      const startedAt = Date.now();
      const id = randomBytes(6).toString('hex');
      const file = `gatehouse-log-${stamp(startedAt)}-${id.slice(0, 4)}.${EXPORT_EXT[format]}`;
      const path = join(exportsDir, file);
      const job: ExportJob = { id, format, state: 'running', rows: 0, total: null, skipped: 0, bytes: 0, file, path, startedAt, finishedAt: null, error: null };
      const req = reader.request('export', { filter, sort, order, format, path }, (p) => {
        Object.assign(job, p);
        publish(job);
      });
      jobs.set(id, { job, requestId: req.id });
      while (jobs.size > MAX_JOBS) jobs.delete(jobs.keys().next().value!);
      req.done.then(
        (p) => {
          Object.assign(job, p, { state: 'done', finishedAt: Date.now() });
          publish(job);
        },
        (err) => {
          job.finishedAt = Date.now();
          if (err instanceof CanceledError) job.state = 'canceled';
          else {
            job.state = 'failed';
            job.error = String((err as Error)?.message ?? err);
            log?.error('log export failed', { file, err: job.error });
          }
          publish(job);
        },
      );
      publish(job);
      return { ...job };
    },
    'log.exportCancel': ({ id }) => {
      const entry = jobs.get(id);
      if (!entry) throw new GatehouseError('E_NOT_FOUND', `no export "${id}" in this run`);
      if (entry.job.state === 'running') reader.cancel(entry.requestId);
      return { ...entry.job };
    },
    'log.exports': () => [...jobs.values()].map((e) => ({ ...e.job })).reverse(),
    'log.info': async () => ({
      ...(await reader.call('info', {})),
      pruned: writer.pruned,
      ...limits,
      exportsDir,
    }),
    'stats.traffic': (a) => reader.call('traffic', a),
    'stats.top': (a) => reader.call('top', a),
  };

  let stopping: Promise<void> | null = null;
  return {
    handlers,
    writer,
    reader,
    exportsDir,
    stop() {
      stopping ??= (async () => {
        clearInterval(watch);
        await reader.close();
        await writer.close();
      })();
      return stopping;
    },
  };
}
