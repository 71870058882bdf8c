// One evaluation of the rule set on one event is a scope. Work that several rules would repeat on
// the same event (rendering an object as text, building a field's list of values) is done once per
// scope and reused; outside a scope nothing is cached, so a predicate called on its own is still
// exact. A scope ends when the outermost evaluation returns, so an event changed between two
// evaluations is never read stale.

let depth = 0;
let generation = 1;

/** Runs `evaluate` as one evaluation scope (nested calls share the outer one). */
export function withEvaluation<T>(evaluate: () => T): T {
  depth++;
  try {
    return evaluate();
  } finally {
    if (--depth === 0) generation++;
  }
}

/** Whether a scope is open, and which: a number that changes every time the outermost scope ends. */
export function currentScope(): number {
  return depth > 0 ? generation : 0;
}

/**
 * `compute` cached for the last event it saw, within one scope. One slot, not a map: rules run
 * one event at a time, so the last event is the only one worth keeping.
 */
export function perEvaluation<T>(compute: (event: unknown) => T): (event: unknown) => T {
  let scope = 0;
  let lastEvent: unknown;
  let lastValue: T;
  return (event) => {
    if (depth === 0) return compute(event);
    if (scope === generation && lastEvent === event) return lastValue;
    lastValue = compute(event);
    lastEvent = event;
    scope = generation;
    return lastValue;
  };
}
