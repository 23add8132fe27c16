/**
 * One row of the request log: what the recorder completes and the log stores.
 * LogRowSchema says what each field holds; LOG_FIELDS is the one list of the
 * 20 fields besides the id, in the one order that every positional form of a
 * row follows: the tuple rows travel as (RowTuple, from the recorder to the
 * writing thread and into the INSERT), the log table's column lists, and the
 * CSV export's columns.
 */
import { z } from 'zod';

export const LogRowSchema = z.object({
  id: z.number(),
  /** start time, ms since the epoch */
  ts: z.number(),
  service: z.string(),
  clientAddr: z.string(),
  clientPort: z.number(),
  user: z.string(),
  method: z.string(),
  /** full URL for proxied requests, host:port for tunnels */
  url: z.string(),
  host: z.string(),
  port: z.number(),
  status: z.number(),
  /** bytes received from the client / sent to the client */
  bytesUp: z.number(),
  bytesDown: z.number(),
  /** datagrams from / to the client (UDP rows) */
  packetsUp: z.number(),
  packetsDown: z.number(),
  durationMs: z.number(),
  allowed: z.boolean(),
  rule: z.string(),
  error: z.string(),
  /** the upstream chain that carried it ("" direct) */
  chain: z.string(),
  /** the port mapping it came through ("" for the proxies) */
  mapping: z.string(),
});
export type LogRow = z.infer<typeof LogRowSchema>;

export type LogFieldKey = Exclude<keyof LogRow, 'id'>;

export interface LogField {
  key: LogFieldKey;
  /** the column of the `log` table (storage/migrations.ts) */
  column: string;
  /** the CSV export's header, where it is not the column's name */
  csv?: string;
}

/** The fields of a row besides its id, in tuple order. */
export const LOG_FIELDS = [
  { key: 'ts', column: 'ts' },
  { key: 'service', column: 'service' },
  { key: 'clientAddr', column: 'client_addr', csv: 'client' },
  { key: 'clientPort', column: 'client_port' },
  { key: 'user', column: 'user' },
  { key: 'method', column: 'method' },
  { key: 'url', column: 'url' },
  { key: 'host', column: 'host' },
  { key: 'port', column: 'port' },
  { key: 'status', column: 'status' },
  { key: 'allowed', column: 'allowed' },
  { key: 'rule', column: 'rule' },
  { key: 'bytesUp', column: 'bytes_up' },
  { key: 'bytesDown', column: 'bytes_down' },
  { key: 'packetsUp', column: 'packets_up' },
  { key: 'packetsDown', column: 'packets_down' },
  { key: 'durationMs', column: 'duration_ms' },
  { key: 'error', column: 'error' },
  { key: 'chain', column: 'chain' },
  { key: 'mapping', column: 'mapping' },
] as const satisfies readonly LogField[];

type Fields = typeof LOG_FIELDS;

// every field of LogRow but the id is in LOG_FIELDS: a compile error here names the one left out
type Missing = Exclude<LogFieldKey, Fields[number]['key']>;
const everyField: [Missing] extends [never] ? true : Missing = true;

type TupleValue<K extends LogFieldKey> = K extends 'allowed' ? 0 | 1 : LogRow[K];

/**
 * A row as it is queued, crosses to the writing thread (as JSON) and is bound to the INSERT: the
 * values of LOG_FIELDS in order, `allowed` as 0 or 1. An array of 20 values is half the JSON of
 * the same row as an object (no field names), and both ends handle it in about half the time;
 * the writer binds it as it is.
 */
export type RowTuple = TupleOf<Fields>;

// generic, so that mapping keeps the tuple a tuple (elements only, not `length` and the methods)
type TupleOf<L extends readonly LogField[]> = { -readonly [I in keyof L]: L[I] extends { key: infer K extends LogFieldKey } ? TupleValue<K> : never };

type IndexOf<K, L extends readonly unknown[] = Fields, Seen extends unknown[] = []> = L extends readonly [infer H, ...infer Rest]
  ? H extends { key: K }
    ? Seen['length']
    : IndexOf<K, Rest, [...Seen, H]>
  : never;

/** Where each field sits in a RowTuple: `t[ROW_INDEX.host]` is the host. */
export const ROW_INDEX = Object.freeze(Object.fromEntries(LOG_FIELDS.map((f, i) => [f.key, i]))) as { readonly [K in LogFieldKey]: IndexOf<K> };

const I = ROW_INDEX;

// The two conversions below name every field rather than loop over LOG_FIELDS: they run once per
// row, and a loop measured about 20 times slower (a row built by keyed stores ends up a slow
// dictionary object). The positions still come from LOG_FIELDS; test/contract/log-row.test.ts
// checks that every field goes both ways.

/** A row (without its id) as a tuple. */
export function toTuple(r: Omit<LogRow, 'id'>): RowTuple {
  const t = new Array(LOG_FIELDS.length) as RowTuple;
  t[I.ts] = r.ts;
  t[I.service] = r.service;
  t[I.clientAddr] = r.clientAddr;
  t[I.clientPort] = r.clientPort;
  t[I.user] = r.user;
  t[I.method] = r.method;
  t[I.url] = r.url;
  t[I.host] = r.host;
  t[I.port] = r.port;
  t[I.status] = r.status;
  t[I.bytesUp] = r.bytesUp;
  t[I.bytesDown] = r.bytesDown;
  t[I.packetsUp] = r.packetsUp;
  t[I.packetsDown] = r.packetsDown;
  t[I.durationMs] = r.durationMs;
  t[I.allowed] = r.allowed ? 1 : 0;
  t[I.rule] = r.rule;
  t[I.error] = r.error;
  t[I.chain] = r.chain;
  t[I.mapping] = r.mapping;
  return t;
}

/** The row a tuple holds, with its id, as an object of one fixed shape. */
export function fromTuple(t: Readonly<RowTuple>, id: number): LogRow {
  return {
    id,
    ts: t[I.ts],
    service: t[I.service],
    clientAddr: t[I.clientAddr],
    clientPort: t[I.clientPort],
    user: t[I.user],
    method: t[I.method],
    url: t[I.url],
    host: t[I.host],
    port: t[I.port],
    status: t[I.status],
    bytesUp: t[I.bytesUp],
    bytesDown: t[I.bytesDown],
    packetsUp: t[I.packetsUp],
    packetsDown: t[I.packetsDown],
    durationMs: t[I.durationMs],
    allowed: t[I.allowed] === 1,
    rule: t[I.rule],
    error: t[I.error],
    chain: t[I.chain],
    mapping: t[I.mapping],
  };
}
