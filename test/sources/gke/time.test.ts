import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatTimeNs, parseTimeNs } from '../../../src/sources/gke/time.js';

// Years 0001 to 9999: what RFC 3339 can write.
const MIN_NS = BigInt(Date.UTC(1, 0, 1)) * 1_000_000n;
const MAX_NS = BigInt(Date.UTC(9999, 11, 31, 23, 59, 59)) * 1_000_000n + 999_999_999n;

describe('gke time: formatTimeNs', () => {
  it('prints nine fractional digits, UTC', () => {
    expect(formatTimeNs(1_700_000_000_123_456_789n)).toBe('2023-11-14T22:13:20.123456789Z');
    expect(formatTimeNs(1_700_000_000_000_000_005n)).toBe('2023-11-14T22:13:20.000000005Z');
    expect(formatTimeNs(0n)).toBe('1970-01-01T00:00:00.000000000Z');
  });

  it('borrows a second for instants before 1970', () => {
    expect(formatTimeNs(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
    expect(formatTimeNs(-1_000_000_000n)).toBe('1969-12-31T23:59:59.000000000Z');
    expect(formatTimeNs(-1_500_000_000n)).toBe('1969-12-31T23:59:58.500000000Z');
  });

  it('parseTimeNs reads back every instant it prints, in any order of calls (the cached second)', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: MIN_NS, max: MAX_NS }), { minLength: 1, maxLength: 20 }), fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }), (instants, step) => {
        // Neighbours a little apart, the way a page's entries are: the same second, or the next.
        for (const ns of instants.flatMap((t) => [t, t + BigInt(step)]).filter((t) => t >= MIN_NS && t <= MAX_NS)) {
          const text = formatTimeNs(ns);
          expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
          expect(parseTimeNs(text)).toBe(ns);
          expect(text.slice(0, 23)).toBe(new Date(Number(ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n))).toISOString().slice(0, 23));
        }
      }),
    );
  });
});
