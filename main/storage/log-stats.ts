/**
 * Statistics from the log's aggregates (log_agg, kept by the log writer): traffic
 * over time in buckets of a minute to a day, and the top clients, users, hosts
 * or services of a period. Reads per-minute buckets for short periods and
 * per-hour ones for long periods; top lists add the minute buckets at the edges
 * of a long period to its whole hours, so they are exact to the minute.
 */
import type { StatDim, Totals, TopItem, TrafficPoint } from '../contract/index.js';
import type { Db } from './db.js';
import { AGG_DIM, AGG_HOUR, AGG_MINUTE } from './log-writer.js';
import { MINUTE_AGG_DAYS } from './log-retention.js';

const BUCKETS = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000];

export function bucketFor(spanMs: number, points: number): number {
  return BUCKETS.find((b) => spanMs / b <= points) ?? BUCKETS[BUCKETS.length - 1]!;
}

const SUMS = 'sum(requests) AS requests, sum(denied) AS denied, sum(errors) AS errors, sum(bytes_up) AS bytesUp, sum(bytes_down) AS bytesDown';

export interface TrafficArgs {
  from: number;
  to: number;
  dim?: StatDim;
  key?: string;
  points: number;
  now?: number;
}

export function traffic(db: Db, a: TrafficArgs): { from: number; to: number; bucketMs: number; points: TrafficPoint[]; totals: Totals } {
  const to = Math.max(a.to, a.from + 60_000);
  const bucketMs = bucketFor(to - a.from, a.points);
  const now = a.now ?? Date.now();
  // minute buckets are kept for a week or so; beyond, or for hour-sized buckets, read the hour ones
  const res = bucketMs < AGG_HOUR && a.from > now - (MINUTE_AGG_DAYS - 1) * 86_400_000 ? AGG_MINUTE : AGG_HOUR;
  const from = a.from - (a.from % bucketMs);
  const dim = a.dim ? AGG_DIM[a.dim] : AGG_DIM.all;
  const key = a.dim ? (a.key ?? '') : '';
  const rows = db
    .prepare(
      `SELECT bucket - bucket % ? AS t, ${SUMS} FROM log_agg
       WHERE res = ? AND dim = ? AND bucket >= ? AND bucket < ?${a.dim && a.key !== undefined ? ' AND key = ?' : ''}
       GROUP BY t ORDER BY t`,
    )
    .all(bucketMs, res, dim, from - (from % res), to, ...(a.dim && a.key !== undefined ? [key] : [])) as TrafficPoint[];
  const byT = new Map(rows.map((r) => [r.t, r]));
  const points: TrafficPoint[] = [];
  const totals: Totals = { requests: 0, denied: 0, errors: 0, bytesUp: 0, bytesDown: 0 };
  for (let t = from; t < to && points.length <= 5000; t += bucketMs) {
    const p = byT.get(t) ?? { t, requests: 0, denied: 0, errors: 0, bytesUp: 0, bytesDown: 0 };
    points.push(p);
    totals.requests += p.requests;
    totals.denied += p.denied;
    totals.errors += p.errors;
    totals.bytesUp += p.bytesUp;
    totals.bytesDown += p.bytesDown;
  }
  return { from, to, bucketMs, points, totals };
}

/** [res, from, to) pieces covering a period: minutes at the edges, hours in between. */
export function periodPieces(from: number, to: number): Array<[number, number, number]> {
  const f = from - (from % AGG_MINUTE);
  if (to - f <= 6 * AGG_HOUR) return [[AGG_MINUTE, f, to]];
  const h1 = Math.ceil(f / AGG_HOUR) * AGG_HOUR;
  const h2 = Math.floor(to / AGG_HOUR) * AGG_HOUR;
  const out: Array<[number, number, number]> = [];
  if (f < h1) out.push([AGG_MINUTE, f, h1]);
  if (h1 < h2) out.push([AGG_HOUR, h1, h2]);
  if (h2 < to) out.push([AGG_MINUTE, h2, to]);
  return out;
}

export function top(db: Db, a: { from: number; to: number; dim: StatDim; by: 'bytes' | 'requests'; limit: number }): TopItem[] {
  const pieces = periodPieces(a.from, a.to);
  const dim = AGG_DIM[a.dim];
  const union = pieces
    .map(() => 'SELECT key, requests, denied, errors, bytes_up, bytes_down FROM log_agg WHERE res = ? AND dim = ? AND bucket >= ? AND bucket < ?')
    .join(' UNION ALL ');
  const order = a.by === 'bytes' ? 'bytesUp + bytesDown' : 'requests';
  return db
    .prepare(`SELECT key, ${SUMS} FROM (${union}) GROUP BY key ORDER BY ${order} DESC, key LIMIT ?`)
    .all(...pieces.flatMap(([res, f, t]) => [res, dim, f, t]), a.limit) as TopItem[];
}
