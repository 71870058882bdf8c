// The gke cursor (DESIGN §4, reference/gke.md §7). JSON-serializable; times are RFC 3339 with
// nanoseconds so no precision is lost through the checkpoint file.
//
// - watermark: the end of the last complete window; the next one starts at watermark − overlap.
// - seen: "<epoch ns>|<insertId>" of every entry already emitted (or rejected) at or after the
//   next window's start: late arrivals inside the overlap are read, repeats are skipped. The key
//   includes the timestamp because the start and end entries of an exec share their insertId.
// - resume: inside an unfinished window, the timestamp of the last entry handed on, so a restart
//   re-reads from there rather than from the window's start.
// - since: startFrom; no window reaches before it.

import type { Cursor } from '../../pipeline/types.js';
import { formatTimeNs, parseTimeNs } from './time.js';

export type GkeCursor = Cursor & {
  watermark: string;
  seen: string[];
  resume?: string;
  since?: string;
};

export function initialGkeCursor(startNs: bigint): GkeCursor {
  const start = formatTimeNs(startNs);
  return { watermark: start, seen: [], resume: start, since: start };
}

export function seenKey(timestampNs: bigint, insertId: string): string {
  return `${timestampNs}|${insertId}`;
}

/** The seen keys with their timestamps, so pruning does not re-parse them. */
export class SeenSet {
  private readonly keys = new Map<string, bigint>();

  constructor(list: readonly string[] = []) {
    for (const key of list) {
      try {
        this.keys.set(key, BigInt(key.slice(0, key.indexOf('|'))));
      } catch {
        // an unreadable key cannot match anything: drop it
      }
    }
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string, timestampNs: bigint): void {
    this.keys.set(key, timestampNs);
  }

  /** Forgets keys before `fromNs`: no query of this cursor can return them again. */
  prune(fromNs: bigint): void {
    for (const [key, ns] of this.keys) if (ns < fromNs) this.keys.delete(key);
  }

  list(): string[] {
    return [...this.keys.keys()];
  }

  get size(): number {
    return this.keys.size;
  }
}

/** Reads a checkpointed cursor; a cursor from elsewhere is refused rather than misread. */
export function readGkeCursor(cursor: Cursor): { watermarkNs: bigint; resumeNs?: bigint; sinceNs?: bigint; seen: string[] } {
  const watermarkNs = typeof cursor.watermark === 'string' ? parseTimeNs(cursor.watermark) : undefined;
  if (watermarkNs === undefined) throw new Error(`checkpoint cursor has no valid watermark: ${JSON.stringify(cursor).slice(0, 120)}`);
  const optional = (v: unknown): bigint | undefined => (typeof v === 'string' ? parseTimeNs(v) : undefined);
  const seen = Array.isArray(cursor.seen) ? cursor.seen.filter((k): k is string => typeof k === 'string') : [];
  return { watermarkNs, resumeNs: optional(cursor.resume), sinceNs: optional(cursor.since), seen };
}
