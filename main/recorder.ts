/**
 * One record per request or connection, opened when it starts and completed
 * exactly once when it ends (the go-gost recorder model). Completed records go
 * to the log writer; open ones are the live connections count.
 */
import type { LogRow } from './contract/index.js';

export type RecordFields = Omit<LogRow, 'id' | 'ts' | 'durationMs'>;

export interface ConnRecord {
  readonly id: number;
  readonly start: number;
  readonly fields: Readonly<RecordFields>;
  /** fill in as the request proceeds; the last values win */
  set(patch: Partial<RecordFields>): void;
  /** ends the record (only the first call counts) */
  complete(patch?: Partial<RecordFields>): void;
  /** ends the record without a log row (its story is told by other rows) */
  discard(): void;
  /** how to end this connection from outside ("disconnect now") */
  onKill(kill: () => void): void;
}

export interface LiveConnection {
  id: number;
  start: number;
  fields: Readonly<RecordFields>;
}

export interface Recorder {
  /** `start` backdates the record (e.g. a UDP destination's first datagram) */
  open(init: Pick<RecordFields, 'service' | 'clientAddr' | 'clientPort'> & Partial<RecordFields>, start?: number): ConnRecord;
  readonly active: number;
  readonly total: number;
  /** the records open right now */
  live(): LiveConnection[];
  /** ends the live connections that match; returns how many */
  kill(match: (c: LiveConnection) => boolean): number;
}

export type RowSink = (row: Omit<LogRow, 'id'>) => void;

export function createRecorder(sink: RowSink, clock: () => number = Date.now): Recorder {
  let active = 0;
  let total = 0;
  let nextId = 1;
  const open = new Map<number, { id: number; start: number; fields: RecordFields; kill: (() => void) | null }>();
  return {
    live() {
      return [...open.values()].map((o) => ({ id: o.id, start: o.start, fields: o.fields }));
    },
    kill(match) {
      let n = 0;
      for (const o of [...open.values()]) {
        if (o.kill && match(o)) {
          n++;
          o.kill();
        }
      }
      return n;
    },
    get active() {
      return active;
    },
    get total() {
      return total;
    },
    open(init, startAt) {
      const start = startAt ?? clock();
      active++;
      const f: RecordFields = {
        user: '',
        method: '',
        url: '',
        host: '',
        port: 0,
        status: 0,
        bytesUp: 0,
        bytesDown: 0,
        packetsUp: 0,
        packetsDown: 0,
        allowed: true,
        rule: '',
        error: '',
        ...init,
      };
      let done = false;
      const id = nextId++;
      const entry = { id, start, fields: f, kill: null as (() => void) | null };
      open.set(id, entry);
      return {
        id,
        start,
        fields: f,
        onKill(kill) {
          entry.kill = kill;
        },
        set(patch) {
          if (!done) Object.assign(f, patch);
        },
        complete(patch) {
          if (done) return;
          done = true;
          open.delete(id);
          if (patch) Object.assign(f, patch);
          active--;
          total++;
          sink({ ...f, ts: start, durationMs: Math.max(0, clock() - start) });
        },
        discard() {
          if (done) return;
          done = true;
          open.delete(id);
          active--;
        },
      };
    },
  };
}
