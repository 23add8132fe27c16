/**
 * One record per request or connection, opened when it starts and completed
 * exactly once when it ends (the go-gost recorder model). Completed records go
 * to the log writer; open ones are the live connections count.
 */
import type { LogRow } from './contract/index.js';

export type RecordFields = Omit<LogRow, 'id' | 'ts' | 'durationMs'>;

export interface ConnRecord {
  readonly start: number;
  readonly fields: Readonly<RecordFields>;
  /** fill in as the request proceeds; the last values win */
  set(patch: Partial<RecordFields>): void;
  /** ends the record (only the first call counts) */
  complete(patch?: Partial<RecordFields>): void;
  /** ends the record without a log row (its story is told by other rows) */
  discard(): void;
}

export interface Recorder {
  /** `start` backdates the record (e.g. a UDP destination's first datagram) */
  open(init: Pick<RecordFields, 'service' | 'clientAddr' | 'clientPort'> & Partial<RecordFields>, start?: number): ConnRecord;
  readonly active: number;
  readonly total: number;
}

export type RowSink = (row: Omit<LogRow, 'id'>) => void;

export function createRecorder(sink: RowSink, clock: () => number = Date.now): Recorder {
  let active = 0;
  let total = 0;
  return {
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
      return {
        start,
        fields: f,
        set(patch) {
          if (!done) Object.assign(f, patch);
        },
        complete(patch) {
          if (done) return;
          done = true;
          if (patch) Object.assign(f, patch);
          active--;
          total++;
          sink({ ...f, ts: start, durationMs: Math.max(0, clock() - start) });
        },
        discard() {
          if (done) return;
          done = true;
          active--;
        },
      };
    },
  };
}
