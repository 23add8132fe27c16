/**
 * The log viewer's methods: pages, counts, statistics (through the log's
 * reading thread, so a big query never stalls the proxies), the newest rows,
 * and exports — each a job in <data dir>/exports whose progress is published
 * as `export` events.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GatehouseError, type ExportJob, type Handlers } from '../../contract/index.js';
import { EXPORT_EXT } from '../../storage/log-export.js';
import { CanceledError } from '../../storage/log-reader.js';
import type { ControlContext } from '../context.js';

type LogMethods = 'log.query' | 'log.count' | 'log.export' | 'log.exportCancel' | 'log.exports' | 'log.info' | 'log.recent' | 'stats.traffic' | 'stats.top';

const MAX_JOBS = 50;

function stamp(ts: number): string {
  return new Date(ts).toISOString().slice(0, 19).replace(/[:T]/g, '-');
}

export function logHandlers(ctx: ControlContext, onExportError?: (file: string, err: string) => void): Pick<Handlers, LogMethods> {
  const { reader, exportsDir } = ctx.log;
  const jobs = new Map<string, { job: ExportJob; requestId: number }>();
  const publish = (job: ExportJob) => ctx.emit({ type: 'export', job: { ...job } });
  return {
    'log.query': (q) => reader.call('query', q),
    'log.count': ({ filter }) => reader.call('count', { filter }),
    'log.recent': ({ limit, afterId }) => ctx.recentLog(limit, afterId),
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
            onExportError?.(file, job.error);
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
      pruned: ctx.log.writer?.pruned ?? 0,
      ...ctx.log.retention,
      exportsDir,
    }),
    'stats.traffic': (a) => reader.call('traffic', a),
    'stats.top': (a) => reader.call('top', a),
  };
}
