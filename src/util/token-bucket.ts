import type { Clock } from './clock.js';

/**
 * A token bucket: at most `capacity` requests at once, refilled at `ratePerSecond`. Callers wait
 * in FIFO order. Provider quotas are per project / account+region / identity, so one bucket is
 * shared by every source drawing on the same quota (see QuotaRegistry).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  /** Until this time (epoch ms) nobody may take a token: the server said it is throttling. */
  private pausedUntil = 0;

  constructor(
    readonly capacity: number,
    readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = capacity;
    this.last = clock.now();
  }

  /** Resolves when a token is taken; rejects if the signal aborts while waiting. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.waitForToken(signal));
    // A rejected wait must not block the callers behind it.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** After a throttling answer: hold every caller of this quota for `ms`. */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + ms);
  }

  private async waitForToken(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.clock.now();
      if (now < this.pausedUntil) {
        await this.clock.sleep(this.pausedUntil - now, signal);
        continue;
      }
      this.refill(now);
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000), signal);
    }
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
  }
}

/** One bucket per quota key, shared by every source of the process that names the same key. */
export class QuotaRegistry {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly clock: Clock) {}

  /** The first caller's limits create the bucket; later callers with the same key share it. */
  bucket(key: string, capacity: number, ratePerSecond: number): TokenBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(capacity, ratePerSecond, this.clock);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}
