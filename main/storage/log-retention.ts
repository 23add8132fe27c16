/**
 * Keeps the request log within its limits: rows older than log.retentionDays,
 * the oldest rows beyond log.maxRows, and the oldest rows while the database
 * uses more than log.maxSizeMB; aggregates older than the retention (minute
 * buckets after MINUTE_AGG_DAYS at most). Each call of pruneStep deletes one
 * small batch in its own transaction, so the writer never holds the database
 * for long; the caller repeats it while `more` is true.
 */
import type { Db } from './db.js';
import { AGG_HOUR, AGG_MINUTE } from './log-writer.js';

export interface RetentionLimits {
  retentionDays: number;
  /** 0: no limit */
  maxRows: number;
  /** 0: no limit */
  maxSizeMB: number;
}

/** Minute buckets serve periods of up to two days; a week of them is plenty. */
export const MINUTE_AGG_DAYS = 8;
const DAY = 86_400_000;

export interface PruneResult {
  deleted: number;
  aggDeleted: number;
  /** a limit is still exceeded: call again soon */
  more: boolean;
}

export interface LogExtent {
  minId: number;
  maxId: number;
  /** rows, estimated from the id range (ids only ever grow; pruning removes the oldest) */
  rows: number;
}

export function logExtent(db: Db): LogExtent {
  const r = db.prepare<[], { lo: number | null; hi: number | null }>('SELECT min(id) AS lo, max(id) AS hi FROM log').get();
  if (!r || r.lo === null || r.hi === null) return { minId: 0, maxId: 0, rows: 0 };
  return { minId: r.lo, maxId: r.hi, rows: r.hi - r.lo + 1 };
}

/** Bytes the database holds in use (its pages less the free ones). */
export function usedBytes(db: Db): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  const size = db.pragma('page_size', { simple: true }) as number;
  return (pages - free) * size;
}

export function pruneStep(db: Db, limits: RetentionLimits, now: number, batch: number): PruneResult {
  let deleted = 0;
  let aggDeleted = 0;
  let more = false;
  const cutoff = now - limits.retentionDays * DAY;
  db.transaction(() => {
    // 1. by age: the oldest rows by start time
    const aged = db
      .prepare('DELETE FROM log WHERE id IN (SELECT id FROM log WHERE ts < ? ORDER BY ts LIMIT ?)')
      .run(cutoff, batch).changes;
    deleted += aged;
    if (aged === batch) more = true;
    // 2. by count, then 3. by size: the oldest rows by id (a range of the primary key)
    const room = batch - deleted;
    if (room > 0 && (limits.maxRows > 0 || limits.maxSizeMB > 0)) {
      const ext = logExtent(db);
      let excess = limits.maxRows > 0 ? Math.max(0, ext.rows - limits.maxRows) : 0;
      if (excess === 0 && limits.maxSizeMB > 0 && ext.rows > 0 && usedBytes(db) > limits.maxSizeMB * 1024 * 1024) excess = room;
      if (excess > 0) {
        const n = Math.min(excess, room);
        const gone = db.prepare('DELETE FROM log WHERE id < ?').run(ext.minId + n).changes;
        deleted += gone;
        if (gone > 0 && excess > n) more = true;
        if (gone > 0 && limits.maxSizeMB > 0) more = true; // look at the size again
      }
    }
    // 4. aggregates past their time
    const del = db.prepare(
      `DELETE FROM log_agg WHERE (res, dim, bucket, key) IN
         (SELECT res, dim, bucket, key FROM log_agg WHERE res = ? AND dim = ? AND bucket < ? LIMIT ?)`,
    );
    const minuteCutoff = now - Math.min(limits.retentionDays, MINUTE_AGG_DAYS) * DAY;
    for (let dim = 0; dim <= 4; dim++) {
      for (const [res, cut] of [
        [AGG_MINUTE, minuteCutoff],
        [AGG_HOUR, cutoff],
      ] as const) {
        const n = del.run(res, dim, cut - res, batch).changes;
        aggDeleted += n;
        if (n === batch) more = true;
      }
    }
  })();
  return { deleted, aggDeleted, more };
}
