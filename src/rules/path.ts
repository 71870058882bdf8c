// jpath paths (src/rules/README.md): dot-separated keys; a numeric segment indexes an array; a key applied
// to an array maps over its elements (nested arrays are flattened); `\.` is a dot inside a key and
// `\\` a backslash. JSON null counts as missing, as Go's encoder writes null for "no value".
import type { Field, ValueVisitor } from './predicate.js';

export interface PathSegment {
  /** The key, as written (numeric segments too, for objects whose keys are digits). */
  readonly key: string;
  /** Set for numeric segments: the array index they select. */
  readonly index: number | undefined;
  /** The key names something every object inherits ("constructor"): look it up as an own key only. */
  readonly inherited: boolean;
}

export interface CompiledPath {
  readonly text: string;
  readonly segments: readonly PathSegment[];
  /** The values the path yields, arrays at the end expanded into their elements (for comparisons). */
  readonly field: Field;
  /** The values the path reaches, arrays kept whole (for messages and alert fields). */
  values(event: unknown): unknown[];
}

export class PathError extends Error {
  constructor(
    message: string,
    /** Offset in the path text where the problem is. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'PathError';
  }
}

const INDEX = /^(0|[1-9][0-9]{0,8})$/;

export function parsePath(text: string): PathSegment[] {
  if (text === '') throw new PathError('expected a path such as user.username, found an empty path', 0);
  const segments: PathSegment[] = [];
  let key = '';
  let start = 0;
  const finish = (at: number): void => {
    if (key === '') {
      const what = at === text.length ? 'the end of the path' : '"."';
      throw new PathError(`expected a key before ${what} (an empty key; write \\. for a dot inside a key)`, start);
    }
    segments.push({ key, index: INDEX.test(key) ? Number(key) : undefined, inherited: key in Object.prototype });
    key = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const next = text[i + 1];
      if (next !== '.' && next !== '\\') {
        throw new PathError(`expected \\. or \\\\ after a backslash in a path, found ${next === undefined ? 'the end of the path' : JSON.stringify(`\\${next}`)}`, i);
      }
      key += next;
      i++;
    } else if (c === '.') {
      finish(i);
      start = i + 1;
    } else key += c;
  }
  finish(text.length);
  return segments;
}

export function compilePath(text: string): CompiledPath {
  const segments = parsePath(text);
  return {
    text,
    segments,
    field: pathField(segments),
    values(event) {
      const out: unknown[] = [];
      walk(event, segments, 0, (v) => {
        out.push(v);
        return false;
      }, false);
      return out;
    },
  };
}

/**
 * Descends through objects in a plain loop, the common case, and hands over to the recursive
 * walk only where an array is met.
 */
function pathField(segments: readonly PathSegment[]): Field {
  const n = segments.length;
  return (event, visit) => {
    let value = event;
    for (let i = 0; i < n; i++) {
      if (value === null || typeof value !== 'object') return false;
      if (Array.isArray(value)) return walk(value, segments, i, visit, true);
      value = child(value as Record<string, unknown>, segments[i]!);
    }
    if (value === null || value === undefined) return false;
    if (Array.isArray(value)) return walk(value, segments, n, visit, true);
    return visit(value);
  };
}

function child(object: Record<string, unknown>, segment: PathSegment): unknown {
  // Inherited names ("constructor", "__proto__") must not reach Object.prototype.
  if (segment.inherited && !Object.hasOwn(object, segment.key)) return undefined;
  return object[segment.key];
}

function walk(value: unknown, segments: readonly PathSegment[], i: number, visit: ValueVisitor, expandEnd: boolean): boolean {
  if (value === null || value === undefined) return false;
  if (i === segments.length) {
    if (expandEnd && Array.isArray(value)) {
      for (const element of value) if (walk(element, segments, i, visit, expandEnd)) return true;
      return false;
    }
    return visit(value);
  }
  const segment = segments[i]!;
  if (Array.isArray(value)) {
    if (segment.index !== undefined) return walk(value[segment.index], segments, i + 1, visit, expandEnd);
    // A key applied to an array applies to each element (and into nested arrays).
    for (const element of value) if (walk(element, segments, i, visit, expandEnd)) return true;
    return false;
  }
  if (typeof value === 'object') return walk(child(value as Record<string, unknown>, segment), segments, i + 1, visit, expandEnd);
  return false;
}
