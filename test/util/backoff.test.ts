import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from '../../src/util/backoff.js';
import { parseBytes } from '../../src/util/bytes.js';
import { parseDuration } from '../../src/util/duration.js';

describe('backoffDelay', () => {
  const policy = { initialMs: 1000, maxMs: 60_000 };

  it('grows the ceiling exponentially up to the cap (full jitter: random in [0, ceiling))', () => {
    expect([1, 2, 3, 7, 8, 20].map((a) => backoffDelay(a, policy, undefined, () => 0.999999))).toEqual([
      999, 1999, 3999, 59_999, 59_999, 59_999,
    ]);
    expect(backoffDelay(5, policy, undefined, () => 0)).toBe(0);
  });

  it('honours Retry-After, capped at the maximum', () => {
    expect(backoffDelay(1, policy, 7000)).toBe(7000);
    expect(backoffDelay(1, policy, 3_600_000)).toBe(60_000);
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('durations and sizes', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1.5s', 1500],
    ['0', 0],
  ])('parseDuration(%s) = %d', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['10', '10 s', 's', '-1s', '1d'])('parseDuration(%s) is not a duration', (text) => expect(parseDuration(text)).toBeUndefined());

  it.each([
    [1024, 1024],
    ['256KiB', 262_144],
    ['10MiB', 10_485_760],
    ['12MB', 12_000_000],
    ['1.5k', 1536],
  ] as const)('parseBytes(%s) = %d', (text, n) => expect(parseBytes(text)).toBe(n));

  it.each(['lots', '-1', '1.5', '10XB'])('parseBytes(%s) is not a size', (text) => expect(parseBytes(text === '1.5' ? 1.5 : text)).toBeUndefined());
});
