// The EKS source's position (DESIGN §4, reference/eks.md §3), as pure functions over a
// JSON-serializable value so it can be checkpointed as is.
//
// FilterLogEvents filters on the event timestamp with both bounds inclusive and cannot filter on
// ingestion time, so a late event lands behind any time cursor. Each window therefore re-reads
// `overlap` before the watermark and drops what it already handed on by eventId.

export interface EksCursor extends Record<string, unknown> {
  /** Exclusive end of the last complete window: everything visible before it was handed on. */
  watermark: number;
  /** Lowest timestamp any query reads: max(start of the first run, watermark − overlap). */
  floor: number;
  /**
   * Inside a window: every event before this timestamp has been handed on. A retry resumes here
   * rather than at the window start (nextToken does not survive a failure or a restart), so a
   * throttling storm during a long backfill still makes progress.
   */
  resume?: number;
  /** eventIds handed on, by timestamp (ms, as a string key), for timestamps at or above the floor. */
  seen: Record<string, string[]>;
}

export interface Window {
  /** Inclusive bounds, as FilterLogEvents takes them. */
  startTime: number;
  endTime: number;
}

export function initialCursor(startMs: number): EksCursor {
  return { watermark: startMs, floor: startMs, seen: {} };
}

/**
 * The window a poll at `nowMs` reads: from the resume point (or the floor) up to now − settleLag,
 * exclusive, i.e. endTime = now − settleLag − 1 because endTime is inclusive. Undefined when
 * nothing has settled since the cursor.
 */
export function windowFor(cursor: EksCursor, nowMs: number, settleLagMs: number): Window | undefined {
  const startTime = Math.max(cursor.floor, cursor.resume ?? cursor.floor);
  const endTime = nowMs - settleLagMs - 1;
  return endTime < startTime ? undefined : { startTime, endTime };
}

export function hasSeen(seen: Readonly<Record<string, readonly string[]>>, timestamp: number, eventId: string): boolean {
  return seen[timestamp]?.includes(eventId) ?? false;
}

/** Records an eventId; arrays are replaced, never changed, so earlier snapshots stay intact. */
export function markSeen(seen: Record<string, string[]>, timestamp: number, eventId: string): void {
  const key = String(timestamp);
  const ids = seen[key];
  seen[key] = ids ? [...ids, eventId] : [eventId];
}

/** Copy of `seen` without the timestamps below `below`. */
export function pruneSeen(seen: Readonly<Record<string, string[]>>, below: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of Object.keys(seen)) if (Number(key) >= below) out[key] = seen[key]!;
  return out;
}

/**
 * The cursor after handing on a page whose last event has timestamp `lastTimestamp`, inside the
 * window ending at `window.endTime`. eventIds are kept where a later read can meet them again:
 * at or above the resume point (a retry of this window) or at or above the next window's floor.
 */
export function afterPage(cursor: EksCursor, seen: Readonly<Record<string, string[]>>, lastTimestamp: number, window: Window, overlapMs: number): EksCursor {
  const resume = Math.max(cursor.resume ?? cursor.floor, lastTimestamp);
  const nextFloor = Math.max(cursor.floor, window.endTime + 1 - overlapMs);
  return { watermark: cursor.watermark, floor: cursor.floor, resume, seen: pruneSeen(seen, Math.max(cursor.floor, Math.min(resume, nextFloor))) };
}

/** The cursor once a window has been read to its end: the watermark moves, the overlap follows. */
export function completeWindow(cursor: EksCursor, seen: Readonly<Record<string, string[]>>, window: Window, overlapMs: number): EksCursor {
  const watermark = Math.max(cursor.watermark, window.endTime + 1);
  const floor = Math.max(cursor.floor, watermark - overlapMs);
  return { watermark, floor, seen: pruneSeen(seen, floor) };
}

/** Accepts a checkpointed cursor only if it has the shape this version writes. */
export function isEksCursor(value: unknown): value is EksCursor {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    Number.isFinite(c.watermark) &&
    Number.isFinite(c.floor) &&
    (c.resume === undefined || Number.isFinite(c.resume)) &&
    typeof c.seen === 'object' &&
    c.seen !== null &&
    Object.values(c.seen).every((ids) => Array.isArray(ids) && ids.every((id) => typeof id === 'string'))
  );
}
