// Fixed lookups compiled once: a field that follows known keys (`objectRef.resource`,
// `/requestObject/spec/type`) becomes a chain of small closures doing one property load each, as
// the plugins' JSON library looks up (an object's own key; an array's element by decimal index).

type Step = (value: unknown) => unknown;

function stepFor(key: string): Step {
  if (/^(0|[1-9][0-9]*)$/.test(key)) {
    const index = Number(key);
    return (v) => {
      if (typeof v !== 'object' || v === null) return undefined;
      if (Array.isArray(v)) return v[index] as unknown;
      return Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
    };
  }
  // A name every object inherits ("constructor", "__proto__") must be an own key to count.
  if (key in Object.prototype || key === '__proto__') {
    return (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined);
  }
  // JSON objects inherit nothing else, and arrays are excluded (they have "length"), so a plain load is exact.
  return (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined);
}

/** The value at `keys` from a root, or undefined when a step finds nothing. */
export function keysReader(keys: readonly string[]): Step {
  const steps = keys.map(stepFor);
  switch (steps.length) {
    case 0:
      return (v) => v;
    case 1:
      return steps[0]!;
    case 2: {
      const [a, b] = steps as [Step, Step];
      return (root) => {
        const v = a(root);
        return v === undefined ? undefined : b(v);
      };
    }
    case 3: {
      const [a, b, c] = steps as [Step, Step, Step];
      return (root) => {
        let v = a(root);
        if (v === undefined) return undefined;
        v = b(v);
        return v === undefined ? undefined : c(v);
      };
    }
    default:
      return (root) => {
        let v = root;
        for (const s of steps) {
          v = s(v);
          if (v === undefined) return undefined;
        }
        return v;
      };
  }
}
