// What each comparison means on one value, as libsinsp compares: strings byte-wise and
// case-sensitively (strcmp), `icontains` and `iglob` folding ASCII case, `glob` as fnmatch, `pmatch`
// by whole path components, `regex` as a full match. Which operators a field type accepts, and the
// error for one it does not, are libsinsp's too.
import type { BinaryOperator } from './ast.js';

/** One comparison on one text value (the literal side is compiled in). */
export type TextTest = (value: string) => boolean;

const STRING_OPERATORS: ReadonlySet<BinaryOperator> = new Set(['=', '!=', '<', '<=', '>', '>=', 'contains', 'in', 'icontains', 'startswith', 'glob', 'pmatch', 'endswith', 'intersects', 'iglob', 'regex']);
const NUMERIC_OPERATORS: ReadonlySet<BinaryOperator> = new Set(['=', '!=', '<', '<=', '>', '>=', 'in', 'intersects']);
const LIST_FIELD_OPERATORS: ReadonlySet<BinaryOperator> = new Set(['in', 'intersects']);

/** Falco's refusal of an operator for a field's type, or undefined when it is accepted. */
export function operatorProblem(op: BinaryOperator, type: 'string' | 'uint64', list: boolean): string | undefined {
  if (list) return LIST_FIELD_OPERATORS.has(op) ? undefined : `'${op}' operator not supported list filters`;
  if (type === 'uint64') return NUMERIC_OPERATORS.has(op) ? undefined : `'${op}' operator not supported for numeric filters`;
  return STRING_OPERATORS.has(op) ? undefined : `'${op}' operator not supported for string filters`;
}

/** The test for a single-value operator against one literal. Throws Error with Falco's reason for a bad pattern. */
export function textTest(op: BinaryOperator, literal: string): TextTest {
  switch (op) {
    case '=':
      return (v) => v === literal;
    case '!=':
      return (v) => v !== literal;
    case '<':
      return (v) => v < literal;
    case '<=':
      return (v) => v <= literal;
    case '>':
      return (v) => v > literal;
    case '>=':
      return (v) => v >= literal;
    case 'contains':
      return (v) => v.includes(literal);
    case 'icontains': {
      const lower = asciiLower(literal);
      return (v) => asciiLower(v).includes(lower);
    }
    case 'startswith':
      return (v) => v.startsWith(literal);
    case 'endswith':
      return (v) => v.endsWith(literal);
    case 'glob': {
      const re = globRegExp(literal, false);
      return (v) => re.test(v);
    }
    case 'iglob': {
      const re = globRegExp(literal, true);
      return (v) => re.test(v);
    }
    case 'regex': {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${literal})$`, 'u');
      } catch (err) {
        throw new Error(`invalid regular expression '${literal}': ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`, { cause: err });
      }
      return (v) => re.test(v);
    }
    default:
      throw new Error(`'${op}' is not a single-value operator`);
  }
}

/** `in` and `intersects` on one value: equal to one of the items. */
export function setTest(items: readonly string[]): TextTest {
  if (items.length === 0) return () => false;
  if (items.length === 1) {
    const [only] = items as [string];
    return (v) => v === only;
  }
  const set = new Set(items);
  return (v) => set.has(v);
}

/**
 * `pmatch`: the value is one of the paths, or below one (`/etc` matches `/etc` and `/etc/passwd`,
 * not `/etcd`). A path item may hold glob wildcards in its components.
 */
export function pathPrefixTest(items: readonly string[]): TextTest {
  const exact = new Set<string>();
  const globbed: RegExp[][] = [];
  for (const item of items) {
    const parts = components(item);
    if (/[*?[]/.test(item)) globbed.push(parts.map((p) => globRegExp(p, false)));
    else exact.add(parts.join('/'));
  }
  return (value) => {
    const parts = components(value);
    for (let n = parts.length; n >= 1; n--) if (exact.has(parts.slice(0, n).join('/'))) return true;
    for (const pattern of globbed) {
      if (pattern.length > parts.length) continue;
      if (pattern.every((re, i) => re.test(parts[i]!))) return true;
    }
    return false;
  };
}

/** Path components, repeated and trailing slashes ignored; a leading "/" is kept as an empty first component. */
function components(path: string): string[] {
  const parts = path.split('/');
  return parts.filter((p, i) => p !== '' || i === 0);
}

const ASCII_UPPER = /[A-Z]/g;

/** Lower case for ASCII letters only, as strcasestr folds in the C locale. */
export function asciiLower(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(ASCII_UPPER, (c) => String.fromCharCode(c.charCodeAt(0) + 32)) : text;
}

/** An fnmatch pattern as a regular expression matching the whole text: *, ?, [set], [!set], \x. */
export function globRegExp(pattern: string, ignoreCase: boolean): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]!);
    else if (c === '[') {
      const close = findClassEnd(pattern, i);
      if (close < 0) source += '\\[';
      else {
        let body = pattern.slice(i + 1, close);
        let negate = false;
        if (body.startsWith('!') || body.startsWith('^')) {
          negate = true;
          body = body.slice(1);
        }
        source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (m, offset: number) => (m === '^' && offset > 0 ? '^' : `\\${m}`))}]`;
        i = close;
      }
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '');
}

/** The "]" closing a bracket expression opened at `open` ("]" right after "[" or "[!" is a member). */
function findClassEnd(pattern: string, open: number): number {
  let i = open + 1;
  if (pattern[i] === '!' || pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  for (; i < pattern.length; i++) if (pattern[i] === ']') return i;
  return -1;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

/** A numeric literal as libsinsp reads one for a uint64 field: decimal or 0x hex, whole. */
export function parseUnsigned(text: string): bigint | undefined {
  if (/^[0-9]+$/.test(text) || /^0[xX][0-9a-fA-F]+$/.test(text)) return BigInt(text);
  return undefined;
}
