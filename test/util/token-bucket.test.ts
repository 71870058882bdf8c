import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QuotaRegistry, TokenBucket } from '../../src/util/token-bucket.js';
import { VirtualClock } from '../helpers/clock.js';

describe('TokenBucket', () => {
  it('never lets more than capacity + rate × elapsed requests through', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 60 }), async (capacity, rate, n) => {
        const clock = new VirtualClock();
        const start = clock.now();
        const bucket = new TokenBucket(capacity, rate, clock);
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          await bucket.take();
          times.push(clock.now() - start);
        }
        times.forEach((t, i) => expect(i + 1).toBeLessThanOrEqual(capacity + Math.floor((t / 1000) * rate) + 1e-9));
      }),
      { numRuns: 50 },
    );
  });

  it('serves concurrent callers in order and holds everyone during a throttling pause', async () => {
    const clock = new VirtualClock();
    const start = clock.now();
    const bucket = new TokenBucket(1, 1, clock);
    const order: number[] = [];
    await bucket.take();
    bucket.pause(30_000);
    await Promise.all([1, 2, 3].map((i) => bucket.take().then(() => order.push(i))));
    expect(order).toEqual([1, 2, 3]);
    expect(clock.now() - start).toBeGreaterThanOrEqual(30_000 + 2000);
  });

  it('gives every source of one quota key the same bucket', () => {
    const registry = new QuotaRegistry(new VirtualClock());
    const a = registry.bucket('gke:project-a', 60, 1);
    expect(registry.bucket('gke:project-a', 60, 1)).toBe(a);
    expect(registry.bucket('gke:project-b', 60, 1)).not.toBe(a);
  });

  it('a waiter that gives up does not block the ones behind it', async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1, 0.001, clock);
    await bucket.take();
    const abort = new AbortController();
    abort.abort();
    await expect(bucket.take(abort.signal)).rejects.toThrow();
    bucket.pause(0);
    await expect(Promise.race([bucket.take(), new Promise((r) => setTimeout(() => r('stuck'), 1000))])).resolves.toBeUndefined();
  });
});
