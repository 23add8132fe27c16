/**
 * Control API methods of the traffic log viewer: filtered queries with keyset
 * pagination, counts, exports, statistics and the log's size. Kept apart from
 * index.ts so the viewer's contract can grow on its own. The filter's meaning
 * is written once, in log-filter.ts, for SQL (storage) and for live rows (UI).
 */
import { z } from 'zod';
import { LogRowSchema } from './log-row.js';

export { LogRowSchema, type LogRow } from './log-row.js';

/** 1xx…5xx by HTTP status; "other" is everything else (0 = no HTTP answer, SOCKS reply codes). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

const Text = z.string().max(300);
const List = (item: z.ZodType<string>) => z.array(item).max(100);

/** Every part is optional; the parts combine with AND, the values inside one part with OR. */
export const LogFilterSchema = z
  .object({
    /** start time at or after, ms since the epoch */
    from: z.number().int().min(0).optional(),
    /** start time before, ms since the epoch */
    to: z.number().int().min(0).optional(),
    clients: List(Text).optional(),
    users: List(Text).optional(),
    /** exact host names (a click on a host); `text` searches inside hosts and URLs */
    hosts: List(Text).optional(),
    services: List(Text).optional(),
    methods: List(Text).optional(),
    rules: List(Text).optional(),
    /** statuses and status classes: a row matches when it is in either */
    statuses: z.array(z.number().int().min(0).max(999)).max(100).optional(),
    statusClasses: z.array(z.enum(STATUS_CLASSES)).max(6).optional(),
    /** true: allowed rows only; false: denied rows only */
    allowed: z.boolean().optional(),
    /** words searched in host and URL: each word matches a whole word or the start of one */
    text: z.string().max(500).optional(),
    /** bytes up + down at least */
    minBytes: z.number().int().min(0).optional(),
    minDurationMs: z.number().int().min(0).optional(),
    /** a snapshot: only rows with an id up to this (pages and counts of one view stay consistent) */
    maxId: z.number().int().min(0).optional(),
  })
  .strict();
export type LogFilter = z.infer<typeof LogFilterSchema>;

export const LOG_SORTS = ['time', 'duration', 'bytes'] as const;
export const LogSortSchema = z.enum(LOG_SORTS);
export type LogSort = z.infer<typeof LogSortSchema>;
export const SortOrderSchema = z.enum(['desc', 'asc']);
export type SortOrder = z.infer<typeof SortOrderSchema>;

/** A position in a sorted listing: the sort key of a row (time, duration or bytes) and its id. */
export const LogCursorSchema = z.object({ key: z.number(), id: z.number().int() }).strict();
export type LogCursor = z.infer<typeof LogCursorSchema>;

/** Where a row stands in a listing sorted by `sort`: the cursor for the page after (or before) it. */
export function logCursorOf(row: { ts: number; durationMs: number; bytesUp: number; bytesDown: number; id: number }, sort: (typeof LOG_SORTS)[number]): LogCursor {
  return { key: sort === 'time' ? row.ts : sort === 'duration' ? row.durationMs : row.bytesUp + row.bytesDown, id: row.id };
}

export const LogQueryInputSchema = z
  .object({
    filter: LogFilterSchema.default({}),
    sort: LogSortSchema.default('time'),
    order: SortOrderSchema.default('desc'),
    limit: z.number().int().min(1).max(5000).default(200),
    /** the rows after this one in the listing's order (next page) */
    after: LogCursorSchema.optional(),
    /** the rows just before this one (previous page), still in the listing's order */
    before: LogCursorSchema.optional(),
    /** skip this many rows from the top (a jump; slower than a cursor deep in the log) */
    offset: z.number().int().min(0).max(100_000_000).optional(),
  })
  .strict();
export type LogQueryInput = z.input<typeof LogQueryInputSchema>;
export type LogQuery = z.output<typeof LogQueryInputSchema>;

export const LogPageSchema = z.object({
  rows: z.array(LogRowSchema),
  /** more rows follow in the direction asked */
  hasMore: z.boolean(),
  /** the snapshot the page was read at: pass it as filter.maxId for the next pages and the count */
  maxId: z.number(),
  /** how long the database took, ms */
  tookMs: z.number(),
});
export type LogPage = z.infer<typeof LogPageSchema>;

export const EXPORT_FORMATS = ['csv', 'jsonl', 'har'] as const;
export const ExportFormatSchema = z.enum(EXPORT_FORMATS);
export type ExportFormat = z.infer<typeof ExportFormatSchema>;

export const ExportJobSchema = z.object({
  id: z.string(),
  format: ExportFormatSchema,
  state: z.enum(['running', 'done', 'failed', 'canceled']),
  /** rows written so far */
  rows: z.number(),
  /** rows the filter matches, once counted */
  total: z.number().nullable(),
  /** rows left out because the format cannot hold them (HAR: rows that are not HTTP requests) */
  skipped: z.number(),
  bytes: z.number(),
  /** file name inside the exports folder, and its full path */
  file: z.string(),
  path: z.string(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
  error: z.string().nullable(),
});
export type ExportJob = z.infer<typeof ExportJobSchema>;

export const STAT_DIMS = ['client', 'user', 'host', 'service'] as const;
export const StatDimSchema = z.enum(STAT_DIMS);
export type StatDim = z.infer<typeof StatDimSchema>;

const Counters = {
  requests: z.number(),
  denied: z.number(),
  errors: z.number(),
  bytesUp: z.number(),
  bytesDown: z.number(),
};
export const TrafficPointSchema = z.object({ t: z.number(), ...Counters });
export type TrafficPoint = z.infer<typeof TrafficPointSchema>;
export const TopItemSchema = z.object({ key: z.string(), ...Counters });
export type TopItem = z.infer<typeof TopItemSchema>;
export const TotalsSchema = z.object(Counters);
export type Totals = z.infer<typeof TotalsSchema>;

const Period = {
  from: z.number().int().min(0),
  to: z.number().int().min(0),
};

export const LogInfoSchema = z.object({
  /** bytes of the database file and of its write-ahead log */
  dbBytes: z.number(),
  walBytes: z.number(),
  /** bytes the database uses (file size less free pages) */
  usedBytes: z.number(),
  /** rows in the log (an estimate from the id range: exact unless rows were removed out of order) */
  rows: z.number(),
  oldestTs: z.number().nullable(),
  newestTs: z.number().nullable(),
  /** rows removed by the retention limits since this start */
  pruned: z.number(),
  retentionDays: z.number(),
  maxRows: z.number(),
  maxSizeMB: z.number(),
  exportsDir: z.string(),
});
export type LogInfo = z.infer<typeof LogInfoSchema>;

const Empty = z.object({}).strict();

export const logMethods = {
  /** one page of the filtered log, newest first unless asked otherwise */
  'log.query': { input: LogQueryInputSchema, output: LogPageSchema },
  /** how many rows the filter matches (a separate call, so it never holds up the first page) */
  'log.count': {
    input: z.object({ filter: LogFilterSchema.default({}) }).strict(),
    output: z.object({ count: z.number(), maxId: z.number(), tookMs: z.number() }),
  },
  /** writes the filtered log to a file in the exports folder; progress comes as `export` events */
  'log.export': {
    input: z
      .object({
        filter: LogFilterSchema.default({}),
        sort: LogSortSchema.default('time'),
        order: SortOrderSchema.default('desc'),
        format: ExportFormatSchema,
      })
      .strict(),
    output: ExportJobSchema,
  },
  'log.exportCancel': { input: z.object({ id: z.string().max(100) }).strict(), output: ExportJobSchema },
  /** this run's exports, newest first */
  'log.exports': { input: Empty, output: z.array(ExportJobSchema) },
  /** size of the log and the retention limits in force */
  'log.info': { input: Empty, output: LogInfoSchema },
  /** requests and bytes over time, in at most `points` buckets; optionally of one client, user, host or service */
  'stats.traffic': {
    input: z
      .object({ ...Period, dim: StatDimSchema.optional(), key: z.string().max(300).optional(), points: z.number().int().min(10).max(1000).default(240) })
      .strict(),
    output: z.object({ from: z.number(), to: z.number(), bucketMs: z.number(), points: z.array(TrafficPointSchema), totals: TotalsSchema }),
  },
  /** the busiest clients, users, hosts or services of a period */
  'stats.top': {
    input: z
      .object({ ...Period, dim: StatDimSchema, by: z.enum(['bytes', 'requests']).default('bytes'), limit: z.number().int().min(1).max(100).default(10) })
      .strict(),
    output: z.object({ items: z.array(TopItemSchema) }),
  },
} as const;
