// The predicate layer every rule language compiles to. A condition becomes a tree of plain
// closures built once at load time; evaluating one walks the event without allocating, so the
// cost per event is the comparisons themselves. Languages differ in how a field yields values and
// in what a comparison means; those parts are passed in (a Field, a ValueTest), and the
// combinators here say how values and results combine.

/** A compiled condition: pure, synchronous, never throws on any JSON value. */
export type Predicate = (event: unknown) => boolean;

/** Called with each value a field yields; returning true stops the walk early. */
export type ValueVisitor = (value: unknown) => boolean;

/**
 * Yields the values of one field of an event to `visit`, stopping as soon as it returns true.
 * Returns whether it stopped early. A field that yields nothing is missing.
 */
export type Field = (event: unknown, visit: ValueVisitor) => boolean;

/** One comparison against one value the field yielded. */
export type ValueTest = (value: unknown) => boolean;

export const always: Predicate = () => true;
export const never: Predicate = () => false;

export function allOf(predicates: readonly Predicate[]): Predicate {
  if (predicates.length === 0) return always;
  if (predicates.length === 1) return predicates[0]!;
  if (predicates.length === 2) {
    const [a, b] = predicates as [Predicate, Predicate];
    return (event) => a(event) && b(event);
  }
  // Rule conditions are mostly short chains of checks: small arities as straight code, no loop.
  if (predicates.length === 3) {
    const [a, b, c] = predicates as [Predicate, Predicate, Predicate];
    return (event) => a(event) && b(event) && c(event);
  }
  if (predicates.length === 4) {
    const [a, b, c, d] = predicates as [Predicate, Predicate, Predicate, Predicate];
    return (event) => a(event) && b(event) && c(event) && d(event);
  }
  const list = [...predicates];
  return (event) => {
    for (const p of list) if (!p(event)) return false;
    return true;
  };
}

export function anyOf(predicates: readonly Predicate[]): Predicate {
  if (predicates.length === 0) return never;
  if (predicates.length === 1) return predicates[0]!;
  if (predicates.length === 2) {
    const [a, b] = predicates as [Predicate, Predicate];
    return (event) => a(event) || b(event);
  }
  if (predicates.length === 3) {
    const [a, b, c] = predicates as [Predicate, Predicate, Predicate];
    return (event) => a(event) || b(event) || c(event);
  }
  const list = [...predicates];
  return (event) => {
    for (const p of list) if (p(event)) return true;
    return false;
  };
}

export function negate(predicate: Predicate): Predicate {
  return (event) => !predicate(event);
}

const stopAtFirst: ValueVisitor = () => true;

/** True when the field yields at least one value. */
export function present(field: Field): Predicate {
  return (event) => field(event, stopAtFirst);
}

/** True when some value satisfies the test; false when the field is missing. */
export function someValue(field: Field, test: ValueTest): Predicate {
  return (event) => field(event, test);
}

/** True when no value satisfies the test, which includes a missing field. */
export function noValue(field: Field, test: ValueTest): Predicate {
  return (event) => !field(event, test);
}


