import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readAhead } from '../../../src/sources/polling/read-ahead.js';

interface Item {
  position: bigint;
  key: string;
}
interface FakePage {
  items: Item[];
  more: boolean;
}

/**
 * A log of items sorted by position, read the way FilterLogEvents reads it: [from, to) in pages of
 * `pageSize`, each page naming the next. Counts requests, and how many are in flight at once.
 */
function fakeLog(items: Item[], pageSize: number) {
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0, ranges: [] as [bigint, bigint][] };
  async function* read(from: bigint, to: bigint): AsyncGenerator<FakePage> {
    stats.ranges.push([from, to]);
    const inRange = items.filter((i) => i.position >= from && i.position < to);
    let offset = 0;
    do {
      stats.requests++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      await new Promise((r) => setTimeout(r, 1));
      stats.inFlight--;
      const page = inRange.slice(offset, offset + pageSize);
      offset += pageSize;
      yield { items: page, more: offset < inRange.length };
    } while (offset < inRange.length);
  }
  return { read, stats };
}

async function readAll(items: Item[], pageSize: number, parallel: number, end: bigint) {
  const log = fakeLog(items, pageSize);
  const pages: { page: FakePage; last: boolean }[] = [];
  for await (const p of readAhead<FakePage>(
    {
      start: 0n,
      end,
      parallel,
      read: log.read,
      more: (p) => p.more,
      positions: (p) => (p.items.length === 0 ? undefined : { first: p.items[0]!.position, last: p.items.at(-1)!.position }),
      size: (p) => p.items.length,
    },
    new AbortController().signal,
  )) {
    pages.push(p);
  }
  return { pages, stats: log.stats };
}

const sortedItems = fc
  .array(fc.integer({ min: 0, max: 500 }), { maxLength: 300 })
  .map((positions) => positions.sort((a, b) => a - b).map((p, i) => ({ position: BigInt(p), key: `k${i}` })));

describe('readAhead', () => {
  it('hands on every item of the window, in position order, the last page marked last (property)', async () => {
    await fc.assert(
      fc.asyncProperty(sortedItems, fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 5 }), async (items, pageSize, parallel) => {
        const { pages } = await readAll(items, pageSize, parallel, 501n);
        // As the window cursor does: an item read twice (a range starts at the position the previous ended on) is dropped by key.
        const seen = new Set<string>();
        const handed = pages.flatMap(({ page }) => page.items).filter((i) => !seen.has(i.key) && seen.add(i.key));
        expect(handed.map((i) => i.key).sort()).toEqual(items.map((i) => i.key).sort());
        const positions = handed.map((i) => i.position);
        expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(pages.map((p) => p.last)).toEqual(pages.map((_, i) => i === pages.length - 1));
      }),
      { numRuns: 150 },
    );
  });

  it('reads ranges at once when the first page is full, and a window one page holds with one request', async () => {
    const dense = Array.from({ length: 400 }, (_, i) => ({ position: BigInt(i), key: `k${i}` }));
    const parallel = await readAll(dense, 20, 4, 1000n);
    expect(parallel.stats.maxInFlight).toBe(4);
    const single = await readAll(dense, 20, 1, 1000n);
    expect(single.stats.maxInFlight).toBe(1);
    expect(single.stats.requests).toBe(20);
    // A range per page of the log, about: not many more requests than one chain makes.
    expect(parallel.stats.requests).toBeLessThanOrEqual(single.stats.requests + 8);
    const quiet = await readAll(dense.slice(0, 5), 20, 4, 1000n);
    expect(quiet.stats.requests).toBe(1);
  });

  it('reads the rest of the window as one chain once a range comes back sparse', async () => {
    // Dense at the start, then a few items spread over a long tail.
    const items = [...Array.from({ length: 100 }, (_, i) => ({ position: BigInt(i), key: `d${i}` })), ...[5000, 9000, 20000].map((p) => ({ position: BigInt(p), key: `t${p}` }))];
    const { stats } = await readAll(items, 20, 3, 100_000n);
    expect(stats.ranges.at(-1)![1]).toBe(100_000n);
    expect(stats.requests).toBeLessThan(15);
  });

  it('fails with the error of a range, after handing on the ranges before it, and stops the others', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ position: BigInt(i), key: `k${i}` }));
    const log = fakeLog(items, 10);
    let ranges = 0;
    async function* read(from: bigint, to: bigint): AsyncGenerator<FakePage> {
      if (++ranges === 3) throw new Error('throttled');
      yield* log.read(from, to);
    }
    const handed: FakePage[] = [];
    const reading = (async () => {
      for await (const { page } of readAhead<FakePage>(
        { start: 0n, end: 100n, parallel: 2, read, more: (p) => p.more, positions: (p) => (p.items.length ? { first: p.items[0]!.position, last: p.items.at(-1)!.position } : undefined), size: (p) => p.items.length },
        new AbortController().signal,
      )) {
        handed.push(page);
      }
    })();
    await expect(reading).rejects.toThrow('throttled');
    // The first page (items 0-9) and the first range ([9, 27): twice what that page covered) came before the range that failed.
    expect(handed.flatMap((p) => p.items.map((i) => i.key))).toEqual([...Array.from({ length: 10 }, (_, i) => `k${i}`), ...Array.from({ length: 18 }, (_, i) => `k${i + 9}`)]);
    const requests = log.stats.requests;
    await new Promise((r) => setTimeout(r, 20));
    expect(log.stats.requests).toBe(requests);
  });
});
