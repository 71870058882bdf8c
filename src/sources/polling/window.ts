// The overlap-window cursor every polled source keeps (src/sources/polling/README.md explains each
// field and what it costs). Positions are bigints in the provider's own unit (GKE nanoseconds, EKS
// milliseconds, AKS 100 ns ticks); only the provider's codec turns them into checkpoint text.

import type { Cursor } from '../../pipeline/types.js';

/** How a provider writes its positions into the checkpoint and reads them back. */
export interface PositionCodec {
  /** Written into the cursor, so that a cursor of another provider is refused rather than misread. */
  readonly unit: string;
  format(position: bigint): string | number;
  /** Undefined for anything that is not a position this codec wrote (numbers and their text alike). */
  parse(value: unknown): bigint | undefined;
  /** A wall-clock time (epoch ms) as a position. */
  fromMs(ms: number): bigint;
  /** Reads the cursor shape the previous version of this provider wrote, or undefined. */
  readLegacy?(value: Cursor, codec: PositionCodec, overlap: bigint): WindowCursor | undefined;
}

/**
 * Where a retry continues inside an unfinished window: from `position` inclusive, or, when the API
 * pages by keyset (AKS), strictly after the record (position, after).
 */
export interface ResumePoint {
  position: bigint;
  after?: string;
}

export interface WindowCursor {
  /** Exclusive end of the last complete window: everything visible before it was handed on. */
  watermark: bigint;
  /** Nothing before it is read: startFrom, raised to watermark − overlap as windows complete. */
  floor: bigint;
  resume?: ResumePoint;
  seen: SeenSet;
}

/** A window to read: [start, end), or from `resume` when the previous read of it stopped part-way. */
export interface Window {
  start: bigint;
  end: bigint;
  resume?: ResumePoint;
}

/** The cursor as the checkpoint file holds it. */
export interface WindowCursorJson extends Cursor {
  unit: string;
  watermark: string | number;
  floor: string | number;
  resume?: string | number;
  resumeAfter?: string;
  /** Keys handed on, grouped by their position. */
  seen: Record<string, string[]>;
}

/** A checkpointed cursor that cannot be read: resuming from a guess could skip or repeat events. */
export class CursorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CursorError';
  }
}

/**
 * The records already handed on that a re-read can return again, grouped by position. An add is
 * O(1) and changes no earlier snapshot: snapshots are written out by `toJson`, never shared.
 */
export class SeenSet {
  private readonly groups = new Map<bigint, Set<string>>();
  private count = 0;

  has(position: bigint, key: string): boolean {
    return this.groups.get(position)?.has(key) ?? false;
  }

  /** Records (position, key); false when it was already there. */
  add(position: bigint, key: string): boolean {
    let group = this.groups.get(position);
    if (group === undefined) {
      group = new Set();
      this.groups.set(position, group);
    } else if (group.has(key)) {
      return false;
    }
    group.add(key);
    this.count++;
    return true;
  }

  /** Forgets every key at a position below `below`: no read of the cursor can return them again. */
  prune(below: bigint): void {
    for (const [position, group] of this.groups) {
      if (position < below) {
        this.count -= group.size;
        this.groups.delete(position);
      }
    }
  }

  get size(): number {
    return this.count;
  }

  /** The keys at one position (tests look at the structure through it). */
  at(position: bigint): ReadonlySet<string> | undefined {
    return this.groups.get(position);
  }

  toJson(codec: PositionCodec): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [position, group] of this.groups) out[String(codec.format(position))] = [...group];
    return out;
  }

  /** Reads `{position: keys}`; undefined when any part of it is not that shape. */
  static fromJson(json: unknown, codec: PositionCodec): SeenSet | undefined {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
    const seen = new SeenSet();
    for (const [text, keys] of Object.entries(json as Record<string, unknown>)) {
      const position = codec.parse(text);
      if (position === undefined || !Array.isArray(keys)) return undefined;
      for (const key of keys) {
        if (typeof key !== 'string') return undefined;
        seen.add(position, key);
      }
    }
    return seen;
  }
}

export function initialWindowCursor(start: bigint): WindowCursor {
  return { watermark: start, floor: start, seen: new SeenSet() };
}

/**
 * The window a poll reads when the settled part of the log ends at `end`: from the resume point,
 * else from watermark − overlap, never below the floor. Undefined when nothing has settled past
 * where the cursor is.
 */
export function windowFor(cursor: WindowCursor, end: bigint, overlap: bigint): Window | undefined {
  const start = max(cursor.floor, cursor.resume?.position ?? cursor.watermark - overlap);
  if (end <= start || end <= cursor.watermark) return undefined;
  return cursor.resume ? { start, end, resume: cursor.resume } : { start, end };
}

/**
 * After a page of an unfinished window: a retry continues at `resume`. Keys stay where a read can
 * still meet them: at or above the resume point (this window, read again) or the next window's
 * start (end − overlap), whichever is lower.
 */
export function afterPage(cursor: WindowCursor, resume: ResumePoint, window: Window, overlap: bigint): WindowCursor {
  const nextStart = max(cursor.floor, window.end - overlap);
  cursor.seen.prune(max(cursor.floor, min(resume.position, nextStart)));
  return { watermark: cursor.watermark, floor: cursor.floor, resume, seen: cursor.seen };
}

/** The window was read to its end: the watermark moves there, the floor follows at watermark − overlap. */
export function completeWindow(cursor: WindowCursor, window: Window, overlap: bigint): WindowCursor {
  const watermark = max(cursor.watermark, window.end);
  const floor = max(cursor.floor, watermark - overlap);
  cursor.seen.prune(floor);
  return { watermark, floor, seen: cursor.seen };
}

export function writeWindowCursor(cursor: WindowCursor, codec: PositionCodec): WindowCursorJson {
  const out: WindowCursorJson = {
    unit: codec.unit,
    watermark: codec.format(cursor.watermark),
    floor: codec.format(cursor.floor),
    seen: cursor.seen.toJson(codec),
  };
  if (cursor.resume) {
    out.resume = codec.format(cursor.resume.position);
    if (cursor.resume.after !== undefined) out.resumeAfter = cursor.resume.after;
  }
  return out;
}

/**
 * Reads a checkpointed cursor: the shape this version writes, or the one the provider's previous
 * version wrote (so an upgrade resumes where it was). Anything else is refused.
 */
export function readWindowCursor(value: Cursor, codec: PositionCodec, overlap: bigint): WindowCursor {
  const cursor = readCurrent(value, codec) ?? codec.readLegacy?.(value, codec, overlap);
  if (cursor) return cursor;
  const found = typeof value.unit === 'string' ? `a cursor in ${value.unit}` : `keys ${Object.keys(value).slice(0, 6).join(', ') || 'none'}`;
  throw new CursorError(`the checkpoint is not a window cursor in ${codec.unit} (found ${found}); remove this source's entry from the checkpoint file to start again from startFrom`);
}

function readCurrent(value: Cursor, codec: PositionCodec): WindowCursor | undefined {
  if (value.unit !== codec.unit) return undefined;
  const watermark = codec.parse(value.watermark);
  const floor = codec.parse(value.floor);
  const seen = SeenSet.fromJson(value.seen, codec);
  if (watermark === undefined || floor === undefined || seen === undefined) return undefined;
  const cursor: WindowCursor = { watermark, floor, seen };
  if (value.resume !== undefined) {
    const position = codec.parse(value.resume);
    if (position === undefined) return undefined;
    if (value.resumeAfter !== undefined && typeof value.resumeAfter !== 'string') return undefined;
    cursor.resume = typeof value.resumeAfter === 'string' ? { position, after: value.resumeAfter } : { position };
  }
  return cursor;
}

export function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

export function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
