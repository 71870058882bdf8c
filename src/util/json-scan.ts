// A pass over JSON text that allocates nothing: it counts objects and arrays and measures nesting,
// so that a body can be refused before JSON.parse turns three bytes of `{},` into a 60-byte
// object, or before anything recursive walks a value nested thousands of levels deep.

export interface JsonShape {
  /** Objects and arrays, at every depth. */
  containers: number;
  /** The deepest nesting of objects and arrays (a scalar document is 0, `[]` is 1, `[{}]` is 2). */
  maxDepth: number;
}

/** Heap bytes one parsed JSON object or array costs, about (V8, 64-bit, no pointer compression). */
export const BYTES_PER_CONTAINER = 64;

/** What a parsed document will cost on the heap, about: its text plus its objects and arrays. */
export function parsedCost(textBytes: number, shape: JsonShape): number {
  return textBytes + shape.containers * BYTES_PER_CONTAINER;
}

/**
 * Counts containers and depth of JSON text. It does not validate (JSON.parse does): on malformed
 * text the counts are still an upper bound of what parsing could build.
 */
export function scanJson(text: string): JsonShape {
  let containers = 0;
  let depth = 0;
  let maxDepth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string: a backslash escapes the next character, whatever it is.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      containers++;
      if (++depth > maxDepth) maxDepth = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth > 0) depth--;
    }
  }
  return { containers, maxDepth };
}
