/**
 * Enforces a rule's limits: concurrent connections per key (rule + user or
 * client address) and bandwidth per key and direction, shared by every
 * connection of that key through one token bucket. Throttled streams wait
 * for tokens; unthrottled traffic never passes through here.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { AppliedLimits } from './policy.js';

export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly rate: number,
    private readonly burst = Math.max(rate / 4, 16 * 1024),
  ) {
    this.tokens = this.burst;
    this.last = Date.now();
  }
  /** ms to wait before `n` bytes may pass; takes the tokens now */
  take(n: number): number {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}

/** A pass-through stream that holds chunks back to the bucket's rate. */
export class ThrottleStream extends Transform {
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly bucket: TokenBucket) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    // split big chunks so one write cannot blow through the bucket
    const slice = Math.max(4096, Math.floor(this.bucket.rate / 10));
    const parts: Buffer[] = [];
    for (let i = 0; i < chunk.length; i += slice) parts.push(chunk.subarray(i, i + slice));
    const next = () => {
      const part = parts.shift();
      if (!part) return cb();
      const wait = this.bucket.take(part.length);
      const go = () => {
        this.timer = null;
        this.push(part);
        next();
      };
      if (wait === 0) go();
      else this.timer = setTimeout(go, wait);
    };
    next();
  }
  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    cb(err);
  }
}

export interface Lease {
  release(): void;
  up: TokenBucket | null;
  down: TokenBucket | null;
}

export class Limiter {
  private readonly counts = new Map<string, number>();
  private readonly buckets = new Map<string, { up: TokenBucket | null; down: TokenBucket | null; upRate: number | null; downRate: number | null }>();

  /** Takes a connection slot for the key; null when the key is at its maximum. */
  acquire(l: AppliedLimits): Lease | null {
    const n = this.counts.get(l.key) ?? 0;
    if (l.maxConnections !== null && n >= l.maxConnections) return null;
    this.counts.set(l.key, n + 1);
    let b = this.buckets.get(l.key);
    if (!b || b.upRate !== l.upBps || b.downRate !== l.downBps) {
      b = {
        up: l.upBps ? new TokenBucket(l.upBps) : null,
        down: l.downBps ? new TokenBucket(l.downBps) : null,
        upRate: l.upBps,
        downRate: l.downBps,
      };
      this.buckets.set(l.key, b);
    }
    let released = false;
    return {
      up: b.up,
      down: b.down,
      release: () => {
        if (released) return;
        released = true;
        const c = (this.counts.get(l.key) ?? 1) - 1;
        if (c <= 0) {
          this.counts.delete(l.key);
          this.buckets.delete(l.key);
        } else this.counts.set(l.key, c);
      },
    };
  }

  active(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
