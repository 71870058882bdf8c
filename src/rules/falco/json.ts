// How the k8saudit and json plugins see an event's JSON: every value they extract is text, a string
// as itself and anything else as its compact JSON (`201`, `true`, `{"a":"b"}`, `null`).

/** A value as the plugins render it; undefined stays undefined (the field is missing). */
export function textOf(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'undefined':
      return undefined;
    // Response codes and flags are read on most events: cheaper than JSON.stringify, the same text.
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return JSON.stringify(value) ?? undefined;
  }
}

/** An object that is not an array, or undefined. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * One step of a lookup as the plugins' JSON library takes it: an object's own key, or an array's
 * element when the key is a decimal index. Anything else is missing (never an inherited property).
 */
export function step(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined;
    return value[Number(key)];
  }
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/** The keys of an RFC 6901 pointer, as the json plugin splits it: a leading "/" is dropped, ~1 is "/", ~0 is "~". */
export function pointerKeys(pointer: string): string[] {
  const body = pointer.startsWith('/') ? pointer.slice(1) : pointer;
  return body.split('/').map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
}
