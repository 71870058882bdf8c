// A Falco rule's output: text with %field placeholders (`%ka.user.name`, `%ka.uri.param[command]`),
// rendered as Falco renders it: a missing field is <NA>, a list field is (a,b), everything else its
// text. A placeholder is the longest known field name at the "%" (so `%ka.target.name/%ka.verb.`
// reads two fields); a "%" not followed by a field name is text.
import type { MessageTemplate } from '../template.js';
import { fieldLabel } from './ast.js';
import { argumentProblem, type FieldReaders } from './compile.js';
import { FalcoConditionError } from './errors.js';
import { longestFieldAt, type Extractor, type FieldValue } from './fields.js';

export const MISSING = '<NA>';

const LOOKS_LIKE_FIELD = /[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+/y;

interface Placeholder {
  label: string;
  read: Extractor;
}

/** Compiles an output; throws FalcoConditionError (line and column in the output) for an unknown field or a bad argument. */
export function compileOutput(text: string, fields: FieldReaders): MessageTemplate {
  const parts: (string | Placeholder)[] = [];
  const byLabel = new Map<string, Placeholder>();
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '%') {
      literal += c;
      continue;
    }
    const def = longestFieldAt(text, i + 1);
    if (!def) {
      LOOKS_LIKE_FIELD.lastIndex = i + 1;
      const m = LOOKS_LIKE_FIELD.exec(text);
      if (m) throw FalcoConditionError.at(text, i, `invalid formatting token %${m[0]}: no such field`);
      literal += c;
      continue;
    }
    let end = i + 1 + def.name.length;
    let arg: string | undefined;
    if (def.arg !== 'none' && text[end] === '[') {
      const close = text.indexOf(']', end);
      if (close < 0) throw FalcoConditionError.at(text, end, `expected a ']' closing the argument of %${def.name}`);
      arg = text.slice(end + 1, close);
      end = close + 1;
    }
    const problem = argumentProblem(def, arg);
    if (problem) throw FalcoConditionError.at(text, i, problem);
    const label = fieldLabel({ name: def.name, arg });
    let placeholder = byLabel.get(label);
    if (!placeholder) {
      placeholder = { label, read: fields.reader(def, arg) };
      byLabel.set(label, placeholder);
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(placeholder);
    i = end - 1;
  }
  if (literal) parts.push(literal);
  const placeholders = [...byLabel.values()];

  return {
    text,
    render(event) {
      let out = '';
      for (const part of parts) out += typeof part === 'string' ? part : renderValue(part.read(event));
      return out;
    },
    fieldValues(event) {
      const values: Record<string, unknown> = {};
      for (const p of placeholders) {
        const v = p.read(event);
        values[p.label] = v === undefined ? null : renderValue(v);
      }
      return values;
    },
  };
}

export function renderValue(value: FieldValue | undefined): string {
  if (value === undefined) return MISSING;
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  return `(${value.join(',')})`;
}
