// Reusable field schemas. Custom messages here are the "expected ..." half of an error; the
// formatter (errors.ts) prefixes the key path and the value that was found.
import { z } from 'zod';
import { isRfc3339 } from '../event/event.js';
import { parseBytes } from '../util/bytes.js';
import { parseDuration } from '../util/duration.js';

export const DURATION_HINT = 'a duration such as 500ms, 10s, 1m30s or 2h';

/** A Go-style duration string, parsed to milliseconds. */
export function duration(options: { min?: number; max?: number } = {}) {
  return z.string({ error: DURATION_HINT }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION_HINT });
      return z.NEVER;
    }
    if (options.min !== undefined && ms < options.min) {
      ctx.addIssue({ code: 'custom', message: `a duration of at least ${options.min} ms` });
      return z.NEVER;
    }
    if (options.max !== undefined && ms > options.max) {
      ctx.addIssue({ code: 'custom', message: `a duration of at most ${options.max / 1000} s` });
      return z.NEVER;
    }
    return ms;
  });
}

export const BYTES_HINT = 'a size in bytes, or with a unit such as 256KiB or 10MiB';

/** A byte count: a non-negative integer or a string with a unit. */
export function byteSize(options: { min?: number } = {}) {
  return z.union([z.number(), z.string()], { error: BYTES_HINT }).transform((value, ctx) => {
    const n = parseBytes(value);
    if (n === undefined || (options.min !== undefined && n < options.min)) {
      ctx.addIssue({
        code: 'custom',
        message: options.min === undefined ? BYTES_HINT : `${BYTES_HINT}, at least ${options.min} bytes`,
      });
      return z.NEVER;
    }
    return n;
  });
}

const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
/** Source and sink names appear in URLs (/audit/<name>), metric labels and checkpoint keys. */
export const componentName = z
  .string({ error: 'a name of lower-case letters, digits, ".", "_" or "-", such as prod-gke' })
  .regex(NAME, { message: 'a name of lower-case letters, digits, ".", "_" or "-" (at most 63), such as prod-gke' });

export const filePath = z.string({ error: 'a file path' }).min(1, { message: 'a non-empty file path' });

export function httpUrl(schemes: readonly string[] = ['http', 'https']) {
  const hint = `a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`;
  return z.string({ error: hint }).refine(
    (text) => {
      try {
        return schemes.includes(new URL(text).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: hint },
  );
}

export type StartFrom = { kind: 'now' } | { kind: 'time'; epochMs: number } | { kind: 'ago'; ms: number };
const START_FROM_HINT = '"now", an RFC 3339 time such as 2026-01-02T15:04:05Z, or a negative duration such as -24h';

/** Where a polling source begins on its first run (no checkpoint yet). */
export const startFrom = z
  .string({ error: START_FROM_HINT })
  .default('now')
  .transform((text, ctx): StartFrom => {
    if (text === 'now') return { kind: 'now' };
    if (text.startsWith('-')) {
      const ms = parseDuration(text.slice(1));
      if (ms !== undefined) return { kind: 'ago', ms };
    } else if (isRfc3339(text)) {
      return { kind: 'time', epochMs: Date.parse(text) };
    }
    ctx.addIssue({ code: 'custom', message: START_FROM_HINT });
    return z.NEVER;
  });

/** Resolves a startFrom to an absolute time, given the clock. */
export function resolveStartFrom(start: StartFrom, nowMs: number): number {
  switch (start.kind) {
    case 'now':
      return nowMs;
    case 'time':
      return start.epochMs;
    case 'ago':
      return nowMs - start.ms;
  }
}

export const positiveInt = (hint: string) =>
  z.number({ error: hint }).int({ message: hint }).min(1, { message: hint });

/** Settings every polling source shares; defaults differ per provider (each source's README). */
export function pollingFields(defaults: { pollInterval: string; settleLag: string; overlap: string }) {
  return {
    pollInterval: duration({ min: 100 }).prefault(defaults.pollInterval),
    settleLag: duration().prefault(defaults.settleLag),
    overlap: duration().prefault(defaults.overlap),
    startFrom,
    maxInFlightBatches: positiveInt('a whole number of batches, at least 1').optional(),
  };
}
