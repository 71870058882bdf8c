import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommitTracker } from '../../src/pipeline/commit-tracker.js';

describe('CommitTracker', () => {
  it('commits nothing while an earlier batch is outstanding', () => {
    const t = new CommitTracker();
    const [a, b, c] = [t.register(), t.register(), t.register()];
    expect(t.complete(c, { at: 3 })).toBeUndefined();
    expect(t.complete(b, { at: 2 })).toBeUndefined();
    expect(t.complete(a, { at: 1 })).toEqual({ at: 3 });
    expect(t.outstanding).toBe(0);
  });

  it('skips batches without a cursor but still moves past them', () => {
    const t = new CommitTracker();
    const [a, b] = [t.register(), t.register()];
    expect(t.complete(a, { at: 1 })).toEqual({ at: 1 });
    expect(t.complete(b, undefined)).toBeUndefined();
    const c = t.register();
    expect(t.complete(c, { at: 3 })).toEqual({ at: 3 });
  });

  it('in any completion order, every commit is the newest cursor of a delivered prefix', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }).chain((n) => fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n })),
        (order) => {
          const t = new CommitTracker();
          const seqs = order.map(() => t.register());
          const delivered = new Set<number>();
          let last = -1;
          for (const i of order) {
            delivered.add(i);
            const commit = t.complete(seqs[i]!, { at: i });
            if (commit) {
              const at = commit.at as number;
              // every batch up to the committed one is delivered, and commits only move forward
              for (let k = 0; k <= at; k++) expect(delivered.has(k)).toBe(true);
              expect(at).toBeGreaterThan(last);
              last = at;
            }
          }
          expect(last).toBe(order.length - 1);
        },
      ),
    );
  });
});
