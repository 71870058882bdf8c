import { describe, expect, it } from 'vitest';
import { afterPage, completeWindow, hasSeen, initialCursor, isEksCursor, markSeen, windowFor } from '../../../src/sources/eks/cursor.js';
import { parseFaults } from '../../../src/sources/eks/emulator/faults.js';

describe('EKS cursor', () => {
  it('reads [floor, now − settleLag) with an inclusive endTime one millisecond before', () => {
    const c = initialCursor(10_000);
    expect(windowFor(c, 80_000, 60_000)).toEqual({ startTime: 10_000, endTime: 19_999 });
    expect(windowFor(c, 70_000, 60_000)).toBeUndefined(); // nothing settled since the start
  });

  it('moves the watermark to the window end and the floor to watermark − overlap, keeping only ids above it', () => {
    const c = initialCursor(0);
    const seen: Record<string, string[]> = {};
    markSeen(seen, 1000, 'a');
    markSeen(seen, 9000, 'b');
    markSeen(seen, 9000, 'c');
    const next = completeWindow(c, seen, { startTime: 0, endTime: 9999 }, 5000);
    expect(next).toEqual({ watermark: 10_000, floor: 5000, seen: { 9000: ['b', 'c'] } });
    expect(windowFor(next, 20_000, 1000)).toEqual({ startTime: 5000, endTime: 18_999 });
    expect(hasSeen(next.seen, 9000, 'c')).toBe(true);
    expect(hasSeen(next.seen, 9000, 'd')).toBe(false);
  });

  it('never lowers the floor below the first start (startFrom) or the watermark', () => {
    const c = completeWindow(initialCursor(100_000), {}, { startTime: 100_000, endTime: 100_999 }, 300_000);
    expect(c.floor).toBe(100_000);
    expect(completeWindow(c, {}, { startTime: 100_000, endTime: 50_000 }, 300_000).watermark).toBe(101_000);
  });

  it('inside a long window keeps ids only from the resume point or the next floor, whichever is lower', () => {
    const c = initialCursor(0);
    const seen: Record<string, string[]> = {};
    for (const t of [10, 500, 800, 900]) markSeen(seen, t, `id${t}`);
    // Backfill: window to 100 000 with overlap 1000; the page ended at 800.
    const mid = afterPage(c, seen, 800, { startTime: 0, endTime: 99_999 }, 1000);
    expect(mid.resume).toBe(800);
    expect(Object.keys(mid.seen)).toEqual(['800', '900']);
    expect(windowFor(mid, 200_000, 1000)).toEqual({ startTime: 800, endTime: 198_999 });
    // Near the window end the next floor is lower than the resume point: keep from there.
    const late = afterPage(c, seen, 900, { startTime: 0, endTime: 999 }, 600);
    expect(Object.keys(late.seen)).toEqual(['500', '800', '900']);
  });

  it('leaves earlier snapshots untouched when ids are added', () => {
    const seen: Record<string, string[]> = {};
    markSeen(seen, 1, 'a');
    const snapshot = afterPage(initialCursor(0), seen, 1, { startTime: 0, endTime: 10 }, 10);
    markSeen(seen, 1, 'b');
    expect(snapshot.seen).toEqual({ 1: ['a'] });
  });

  it('recognises only its own shape in a checkpoint', () => {
    expect(isEksCursor(JSON.parse(JSON.stringify(initialCursor(5))))).toBe(true);
    expect(isEksCursor({ next: 3 })).toBe(false);
    expect(isEksCursor({ watermark: 1, floor: 1, seen: { 1: [2] } })).toBe(false);
  });
});

describe('EKS emulator fault spec', () => {
  it('parses the comma list', () => {
    expect(parseFaults('throttle-every=3, page-size=2,empty-every=4,late-every=5,late-ms=90000,error-every=7,error-status=503')).toMatchObject({
      throttleEvery: 3,
      pageSize: 2,
      emptyEvery: 4,
      lateEvery: 5,
      lateMs: 90_000,
      errorEvery: 7,
      errorStatus: 503,
    });
  });
  it.each(['throttle-every=0', 'page-size=x', 'nonsense=1', 'error-status=200'])('refuses %s', (spec) => {
    expect(() => parseFaults(spec)).toThrow();
  });
});
