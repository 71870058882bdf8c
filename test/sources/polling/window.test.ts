// The one overlap-window cursor (src/sources/polling/window.ts), in each provider's unit, and the
// cursor shapes the previous version checkpointed.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { aksPositions } from '../../../src/sources/aks/poller.js';
import { eksPositions } from '../../../src/sources/eks/poller.js';
import { gkePositions } from '../../../src/sources/gke/poller.js';
import { parseTimeNs } from '../../../src/sources/gke/time.js';
import { parseTicks } from '../../../src/sources/aks/kusto-time.js';
import {
  afterPage,
  completeWindow,
  CursorError,
  initialWindowCursor,
  readWindowCursor,
  SeenSet,
  windowFor,
  writeWindowCursor,
  type WindowCursor,
} from '../../../src/sources/polling/window.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** A cursor (EKS unit: ms) at `start` whose seen set holds one key per position given. */
function cursorWith(start: bigint, positions: bigint[]): WindowCursor {
  const cursor = initialWindowCursor(start);
  for (const p of positions) cursor.seen.add(p, `id${p}`);
  return cursor;
}

function positionsOf(cursor: WindowCursor): bigint[] {
  return Object.keys(writeWindowCursor(cursor, eksPositions).seen).map(BigInt);
}

describe('window cursor', () => {
  it('reads [floor, now − settleLag): nothing when nothing has settled since the start', () => {
    const c = initialWindowCursor(10_000n);
    expect(windowFor(c, 20_000n, 5000n)).toEqual({ start: 10_000n, end: 20_000n });
    expect(windowFor(c, 10_000n, 5000n)).toBeUndefined();
  });

  it('moves the watermark to the window end and the floor to watermark − overlap, keeping only keys above it', () => {
    const c = initialWindowCursor(0n);
    c.seen.add(1000n, 'a');
    c.seen.add(9000n, 'b');
    c.seen.add(9000n, 'c');
    const next = completeWindow(c, { start: 0n, end: 10_000n }, 5000n);
    expect(writeWindowCursor(next, eksPositions)).toEqual({ unit: 'ms', watermark: 10_000, floor: 5000, seen: { 9000: ['b', 'c'] } });
    expect(windowFor(next, 19_000n, 5000n)).toEqual({ start: 5000n, end: 19_000n });
    expect(next.seen.has(9000n, 'c')).toBe(true);
    expect(next.seen.has(9000n, 'd')).toBe(false);
  });

  it('never lowers the floor below the first start (startFrom) or the watermark', () => {
    const c = completeWindow(initialWindowCursor(100_000n), { start: 100_000n, end: 101_000n }, 300_000n);
    expect(c.floor).toBe(100_000n);
    expect(windowFor(c, 200_000n, 300_000n)!.start).toBe(100_000n); // not watermark − overlap, below startFrom
    expect(completeWindow(c, { start: 100_000n, end: 50_000n }, 300_000n).watermark).toBe(101_000n);
  });

  it('inside a long window keeps keys only from the resume point or the next floor, whichever is lower', () => {
    // Backfill: a window to 100 000 with overlap 1000; the page ended at 800.
    const mid = afterPage(cursorWith(0n, [10n, 500n, 800n, 900n]), { position: 800n }, { start: 0n, end: 100_000n }, 1000n);
    expect(mid.resume).toEqual({ position: 800n });
    expect(positionsOf(mid)).toEqual([800n, 900n]);
    expect(windowFor(mid, 199_000n, 1000n)).toEqual({ start: 800n, end: 199_000n, resume: { position: 800n } });
    // Near the window end the next floor (1000 − 600) is lower than the resume point: keep from there.
    const late = afterPage(cursorWith(0n, [10n, 500n, 800n, 900n]), { position: 900n }, { start: 0n, end: 1000n }, 600n);
    expect(positionsOf(late)).toEqual([500n, 800n, 900n]);
  });

  it('a keyset resume point travels with the record key it resumes after', () => {
    const c = afterPage(initialWindowCursor(0n), { position: 70n, after: 'k|ResponseComplete' }, { start: 0n, end: 100n }, 10n);
    const json = writeWindowCursor(c, aksPositions);
    expect(json).toMatchObject({ resume: '1970-01-01T00:00:00.0000070Z', resumeAfter: 'k|ResponseComplete' });
    expect(readWindowCursor(JSON.parse(JSON.stringify(json)) as typeof json, aksPositions, 10n).resume).toEqual({ position: 70n, after: 'k|ResponseComplete' });
    expect(writeWindowCursor(completeWindow(c, { start: 0n, end: 100n }, 10n), aksPositions).resume).toBeUndefined();
  });

  it('leaves a written cursor untouched when keys are added or pruned later', () => {
    const c = cursorWith(0n, [1n]);
    const snapshot = writeWindowCursor(c, eksPositions);
    c.seen.add(1n, 'b');
    c.seen.prune(5n);
    expect(snapshot.seen).toEqual({ 1: ['id1'] });
  });

  it('is JSON-serializable in every unit and reads back to the same cursor', () => {
    for (const codec of [eksPositions, gkePositions, aksPositions]) {
      const c = afterPage(cursorWith(1_767_323_045_000n, [1_767_323_045_123n, 1_767_323_046_000n]), { position: 1_767_323_045_123n }, { start: 1_767_323_045_000n, end: 1_767_323_050_000n }, 1000n);
      const text = JSON.stringify(writeWindowCursor(c, codec));
      const back = readWindowCursor(JSON.parse(text) as Record<string, unknown>, codec, 1000n);
      expect(back.watermark).toBe(c.watermark);
      expect(back.floor).toBe(c.floor);
      expect(back.resume).toEqual(c.resume);
      expect(JSON.stringify(writeWindowCursor(back, codec))).toBe(text);
    }
    expect(JSON.parse(JSON.stringify(writeWindowCursor(initialWindowCursor(parseTimeNs('2026-01-02T03:04:05.123456789Z')!), gkePositions)))).toEqual({
      unit: 'ns',
      watermark: '2026-01-02T03:04:05.123456789Z',
      floor: '2026-01-02T03:04:05.123456789Z',
      seen: {},
    });
  });

  it('refuses a cursor of another shape, or of another provider, with a clear error', () => {
    expect(() => readWindowCursor({ next: 3 }, eksPositions, 0n)).toThrow(CursorError);
    expect(() => readWindowCursor({ next: 3 }, eksPositions, 0n)).toThrow(/not a window cursor in ms \(found keys next\); remove this source's entry from the checkpoint file/);
    expect(() => readWindowCursor({ offset: 5 }, gkePositions, 0n)).toThrow(/not a window cursor in ns/);
    const eks = writeWindowCursor(initialWindowCursor(5n), eksPositions);
    const gke = writeWindowCursor(initialWindowCursor(5n), gkePositions);
    const aks = writeWindowCursor(initialWindowCursor(5n), aksPositions);
    expect(() => readWindowCursor(gke, eksPositions, 0n)).toThrow(/found a cursor in ns/);
    expect(() => readWindowCursor(eks, gkePositions, 0n)).toThrow(/found a cursor in ms/);
    expect(() => readWindowCursor(aks, gkePositions, 0n)).toThrow(/found a cursor in 100ns/);
    // An old AKS checkpoint is not an old GKE one, though both hold RFC 3339 text.
    expect(() => readWindowCursor({ ingested: '2026-01-02T03:04:05.1234567Z', seen: {} }, gkePositions, 0n)).toThrow(CursorError);
    expect(() => readWindowCursor({ ...eks, seen: { 1: [2] } }, eksPositions, 0n)).toThrow(CursorError);
    expect(() => readWindowCursor({ ...gke, watermark: 'yesterday' }, gkePositions, 0n)).toThrow(CursorError);
  });
});

describe('seen set', () => {
  it('keys include the position: the start and end entries of a GKE exec share an insertId', () => {
    const seen = new SeenSet();
    expect(seen.add(5n, 'exec-1')).toBe(true);
    expect(seen.has(5n, 'exec-1')).toBe(true);
    expect(seen.has(6n, 'exec-1')).toBe(false);
    expect(seen.add(6n, 'exec-1')).toBe(true); // the end entry is handed on too
    expect(seen.add(5n, 'exec-1')).toBe(false);
    seen.add(9n, 'b');
    seen.prune(6n);
    expect(seen.size).toBe(2);
    expect(seen.toJson(gkePositions)).toEqual({ '1970-01-01T00:00:00.000000006Z': ['exec-1'], '1970-01-01T00:00:00.000000009Z': ['b'] });
  });

  it('takes a burst of 10,000 keys in one millisecond with one O(1) add each, never copying what it holds', () => {
    const seen = new SeenSet();
    const adds = vi.spyOn(Set.prototype, 'add');
    seen.add(1_767_323_045_000n, 'event-0');
    const group = seen.at(1_767_323_045_000n);
    for (let i = 1; i < 10_000; i++) seen.add(1_767_323_045_000n, `event-${i}`);
    const counted = adds.mock.calls.length;
    vi.restoreAllMocks();
    // One Set.add per key, into the structure the first key made: nothing already held is copied
    // (the previous version copied the millisecond's whole eventId array for every event: quadratic).
    expect(counted).toBe(10_000);
    expect(seen.at(1_767_323_045_000n)).toBe(group);
    expect(group!.size).toBe(10_000);
    expect(Object.values(seen.toJson(eksPositions))).toEqual([Array.from({ length: 10_000 }, (_, i) => `event-${i}`)]);
  });
});

describe('checkpoints of the previous version', () => {
  it('EKS {watermark, floor, resume, seen: {ms: eventIds}}: resumes where it was', () => {
    const old = { watermark: 10_000, floor: 5000, resume: 7000, seen: { 7000: ['a'], 9000: ['b', 'c'] } };
    const c = readWindowCursor(JSON.parse(JSON.stringify(old)) as Record<string, unknown>, eksPositions, 5000n);
    expect(c).toMatchObject({ watermark: 10_000n, floor: 5000n, resume: { position: 7000n } });
    expect(c.seen.has(9000n, 'c')).toBe(true);
    expect(windowFor(c, 20_000n, 5000n)).toEqual({ start: 7000n, end: 20_000n, resume: { position: 7000n } });
    expect(writeWindowCursor(c, eksPositions)).toEqual({ unit: 'ms', ...old });
    // The old initial cursor, and a complete one.
    expect(readWindowCursor({ watermark: 5, floor: 5, seen: {} }, eksPositions, 0n)).toMatchObject({ watermark: 5n, floor: 5n });
    expect(() => readWindowCursor({ watermark: 1, floor: 1, seen: { 1: [2] } }, eksPositions, 0n)).toThrow(CursorError);
  });

  it('GKE {watermark, seen: ["<ns>|<insertId>"], resume, since}: resumes where it was, keys by time', () => {
    const t = (s: string): bigint => parseTimeNs(s)!;
    const overlap = 120_000_000_000n;
    const old = {
      watermark: '2026-01-02T03:04:00.000000000Z',
      seen: [`${t('2026-01-02T03:03:30.5Z')}|exec-1`, `${t('2026-01-02T03:03:31Z')}|exec-1`, 'garbage-without-time'],
      resume: '2026-01-02T03:04:10.000000001Z',
      since: '2026-01-02T03:03:00.000000000Z',
    };
    const c = readWindowCursor(old, gkePositions, overlap);
    expect(c.watermark).toBe(t('2026-01-02T03:04:00Z'));
    expect(c.floor).toBe(t('2026-01-02T03:03:00Z')); // since is above watermark − overlap
    expect(c.resume).toEqual({ position: t('2026-01-02T03:04:10.000000001Z') });
    expect(c.seen.size).toBe(2);
    expect(c.seen.has(t('2026-01-02T03:03:31Z'), 'exec-1')).toBe(true);
    expect(windowFor(c, t('2026-01-02T03:05:00Z'), overlap)!.start).toBe(t('2026-01-02T03:04:10.000000001Z'));
    // Complete, with since long passed: the window starts at watermark − overlap.
    const done = readWindowCursor({ watermark: '2026-01-02T03:04:00.000000000Z', seen: [] }, gkePositions, overlap);
    expect(windowFor(done, t('2026-01-02T03:05:00Z'), overlap)!.start).toBe(t('2026-01-02T03:02:00Z'));
    // The old initial cursor: watermark = resume = since = startFrom.
    const s = '2026-01-02T03:04:05.123456789Z';
    expect(windowFor(readWindowCursor({ watermark: s, seen: [], resume: s, since: s }, gkePositions, overlap), t('2026-01-02T03:05:00Z'), overlap)!.start).toBe(t(s));
  });

  it('AKS {ingested, seen: {time: keys}, page: {ing, key}}: resumes after the last row read', () => {
    const overlap = 6_000_000_000n; // 10 minutes in ticks
    const ing = '2026-01-02T03:04:05.1234567Z';
    const old = { ingested: '2026-01-02T03:04:05.1234567Z', seen: { [ing]: ['a|ResponseComplete'], '2026-01-02T03:00:00.0000000Z': ['b|ResponseComplete'] }, page: { ing, key: 'a|ResponseComplete' } };
    const c = readWindowCursor(old, aksPositions, overlap);
    expect(c).toMatchObject({ watermark: parseTicks(ing), floor: parseTicks(ing)! - overlap, resume: { position: parseTicks(ing), after: 'a|ResponseComplete' } });
    expect(c.seen.has(parseTicks('2026-01-02T03:00:00Z')!, 'b|ResponseComplete')).toBe(true);
    expect(writeWindowCursor(c, aksPositions)).toMatchObject({ unit: '100ns', watermark: ing, resume: ing, resumeAfter: 'a|ResponseComplete' });
    // A page with an empty key started a sub-window: read from that time on.
    expect(readWindowCursor({ ...old, page: { ing, key: '' } }, aksPositions, overlap).resume).toEqual({ position: parseTicks(ing) });
    // A complete one re-reads the overlap before its ingestion watermark, as that version did.
    const done = readWindowCursor({ ingested: ing, seen: {} }, aksPositions, overlap);
    expect(windowFor(done, parseTicks(ing)! + 1n, overlap)!.start).toBe(parseTicks(ing)! - overlap);
  });
});
