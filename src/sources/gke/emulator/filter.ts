// The subset of the Cloud Logging query language the emulator understands: comparisons
// `path OP value` (OP one of = != < <= > >= =~ !~ :), AND, OR, NOT / `-`, parentheses and
// juxtaposition (= AND). As in Cloud Logging, OR binds tighter than AND. `timestamp` compares as
// time (nanoseconds), everything else as text. Anything else is an INVALID_ARGUMENT.

import { parseTimeNs } from '../time.js';

export type Matcher = (entry: FilterableEntry) => boolean;

/** An entry as the filter sees it: its JSON form and its timestamp in epoch nanoseconds. */
export interface FilterableEntry {
  json: Record<string, unknown>;
  timestampNs: bigint;
}

export class FilterError extends Error {}

type Token = { kind: 'lparen' | 'rparen' | 'and' | 'or' | 'not' | 'minus' } | { kind: 'cmp'; path: string; op: string; value: string };

const OPS = ['>=', '<=', '!=', '=~', '!~', '=', '<', '>', ':'];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const word = (): string => {
    const start = i;
    while (i < text.length && !/[\s()=<>!:~"]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  const quoted = (): string => {
    i++; // opening quote
    let out = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) {
        // Keep regex escapes (\.) as written; unescape only quotes and backslashes.
        const next = text[i + 1]!;
        out += next === '"' || next === '\\' ? next : `\\${next}`;
        i += 2;
      } else out += text[i++];
    }
    if (text[i] !== '"') throw new FilterError('unterminated string in filter');
    i++;
    return out;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'lparen' : 'rparen' });
      i++;
      continue;
    }
    if (c === '-' && (i + 1 >= text.length || /[\s(a-zA-Z]/.test(text[i + 1]!)) && !/[\w.]/.test(text[i - 1] ?? ' ')) {
      tokens.push({ kind: 'minus' });
      i++;
      continue;
    }
    const path = word();
    if (path === '') throw new FilterError(`unexpected ${JSON.stringify(c)} in filter at ${i}`);
    if (path === 'AND' || path === 'OR' || path === 'NOT') {
      tokens.push({ kind: path === 'AND' ? 'and' : path === 'OR' ? 'or' : 'not' });
      continue;
    }
    while (text[i] === ' ') i++;
    const op = OPS.find((o) => text.startsWith(o, i));
    if (!op) throw new FilterError(`unsupported filter term ${JSON.stringify(path)}: expected a comparison`);
    i += op.length;
    while (text[i] === ' ') i++;
    const value = text[i] === '"' ? quoted() : word();
    tokens.push({ kind: 'cmp', path, op, value });
  }
  return tokens;
}

export function compileFilter(text: string): Matcher {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];

  // expr := conj ; conj := disj (AND? disj)* ; disj := unary (OR unary)* ; unary := (NOT|-) unary | primary
  const conj = (): Matcher => {
    const parts = [disj()];
    for (;;) {
      const t = peek();
      if (!t || t.kind === 'rparen') break;
      if (t.kind === 'and') pos++;
      parts.push(disj());
    }
    return parts.length === 1 ? parts[0]! : (e) => parts.every((p) => p(e));
  };
  const disj = (): Matcher => {
    const parts = [unary()];
    while (peek()?.kind === 'or') {
      pos++;
      parts.push(unary());
    }
    return parts.length === 1 ? parts[0]! : (e) => parts.some((p) => p(e));
  };
  const unary = (): Matcher => {
    const t = peek();
    if (t?.kind === 'not' || t?.kind === 'minus') {
      pos++;
      const inner = unary();
      return (e) => !inner(e);
    }
    return primary();
  };
  const primary = (): Matcher => {
    const t = tokens[pos++];
    if (!t) throw new FilterError('filter ends early');
    if (t.kind === 'lparen') {
      const inner = conj();
      if (tokens[pos++]?.kind !== 'rparen') throw new FilterError('missing ) in filter');
      return inner;
    }
    if (t.kind !== 'cmp') throw new FilterError(`unexpected ${t.kind.toUpperCase()} in filter`);
    return comparison(t.path, t.op, t.value);
  };

  if (tokens.length === 0) return () => true;
  const matcher = conj();
  if (pos !== tokens.length) throw new FilterError('unbalanced ) in filter');
  return matcher;
}

function comparison(path: string, op: string, value: string): Matcher {
  if (path === 'timestamp') {
    const bound = parseTimeNs(value);
    if (bound === undefined) throw new FilterError(`timestamp ${JSON.stringify(value)} is not an RFC 3339 time`);
    return (e) => compare(e.timestampNs < bound ? -1 : e.timestampNs > bound ? 1 : 0, op);
  }
  const keys = path.split('.');
  let regex: RegExp | undefined;
  if (op === '=~' || op === '!~') {
    try {
      regex = new RegExp(value);
    } catch {
      throw new FilterError(`invalid regular expression ${JSON.stringify(value)}`);
    }
  }
  return (e) => {
    let current: unknown = e.json;
    for (const key of keys) {
      if (typeof current !== 'object' || current === null) return op === '!=' || op === '!~' ? true : false;
      current = (current as Record<string, unknown>)[key];
    }
    if (current === undefined || current === null) return op === '!=' || op === '!~';
    const text = typeof current === 'string' ? current : JSON.stringify(current);
    if (regex) return regex.test(text) === (op === '=~');
    if (op === ':') return text.includes(value);
    return compare(text < value ? -1 : text > value ? 1 : 0, op);
  };
}

function compare(order: number, op: string): boolean {
  switch (op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    default:
      throw new FilterError(`operator ${op} does not apply to timestamp`);
  }
}
