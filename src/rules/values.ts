// How jpath compares a value from the event with a literal (src/rules/README.md): numerically when both are
// numbers, otherwise as text, case-sensitively. Numbers and booleans read as their JSON text;
// objects and arrays as compact JSON without quotes around keys and strings, so that
// `contains "privileged:true"` finds a privileged container as Twistlock's published rule expects.
import type { ValueTest } from './predicate.js';
import { currentScope } from './scope.js';

export type Literal = { readonly kind: 'string'; readonly text: string } | { readonly kind: 'number'; readonly value: number; readonly text: string };

export function stringLiteral(text: string): Literal {
  return { kind: 'string', text };
}

export function numberLiteral(value: number): Literal {
  return { kind: 'number', value, text: String(value) };
}

/** A value's text for string comparisons and messages. */
export function valueText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    default:
      return objectText(value);
  }
}

// Several rules often test the same object (a ConfigMap's data against eight credential words):
// within one evaluation scope (scope.ts) its text is rendered once.
let renderedIn = 0;
let rendered: Map<object, string> | undefined;

function objectText(value: unknown): string {
  const scope = currentScope();
  if (scope === 0 || typeof value !== 'object' || value === null) return compactText(value);
  if (renderedIn !== scope) {
    rendered = new Map();
    renderedIn = scope;
  }
  let text = rendered!.get(value);
  if (text === undefined) {
    text = compactText(value);
    rendered!.set(value, text);
  }
  return text;
}

/** Compact JSON without quotes: {name:nginx,securityContext:{privileged:true}}, [a,b], null. */
export function compactText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'object') return '';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + compactText(value[i]);
    return `${out}]`;
  }
  let out = '{';
  let first = true;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${key}:${compactText(v)}`;
    first = false;
  }
  return `${out}}`;
}

export type ComparisonOperator = '=' | '!=' | '<' | '>' | '<=' | '>=' | 'contains' | 'startswith';

/** Equality of one value with a literal. */
export function equalsTest(literal: Literal): ValueTest {
  if (literal.kind === 'number') {
    const { value: n, text } = literal;
    return (value) => (typeof value === 'number' ? value === n : valueText(value) === text);
  }
  const { text } = literal;
  return (value) => (typeof value === 'string' ? value === text : valueText(value) === text);
}

/** Any of the literals equals the value: `in (…)`. */
export function inTest(literals: readonly Literal[]): ValueTest {
  const tests = literals.map(equalsTest);
  if (tests.length === 1) return tests[0]!;
  return (value) => {
    for (const t of tests) if (t(value)) return true;
    return false;
  };
}

export function orderTest(op: '<' | '>' | '<=' | '>=', literal: Literal): ValueTest {
  const holds = ORDER[op];
  const text = literal.text;
  if (literal.kind === 'number') {
    const n = literal.value;
    return (value) => (typeof value === 'number' ? holds(value, n) : holds(valueText(value), text));
  }
  return (value) => holds(valueText(value), text);
}

// JavaScript orders strings by UTF-16 code unit, which is the decided string order.
const ORDER: Record<'<' | '>' | '<=' | '>=', (a: number | string, b: number | string) => boolean> = {
  '<': (a, b) => a < b,
  '>': (a, b) => a > b,
  '<=': (a, b) => a <= b,
  '>=': (a, b) => a >= b,
};

export function containsTest(literal: Literal): ValueTest {
  const text = literal.text;
  return (value) => valueText(value).includes(text);
}

export function startsWithTest(literal: Literal): ValueTest {
  const text = literal.text;
  return (value) => valueText(value).startsWith(text);
}
