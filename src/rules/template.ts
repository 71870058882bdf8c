// Alert messages: text with {path} placeholders, each a jpath path. A path that is missing
// renders <NA> (as Falco renders a missing field); one value renders as its text; several (a
// path through an array) render as a compact list [a,b]. {{ and }} are literal braces.
import { Positions } from './jpath/errors.js';
import { compilePath, PathError, type CompiledPath } from './path.js';
import { compactText, valueText } from './values.js';

export const MISSING = '<NA>';

export class TemplateError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = 'TemplateError';
  }
}

type Part = string | CompiledPath;

/** A rule's message in any language: its text, rendered for an event, and the fields it shows. */
export interface MessageTemplate {
  readonly text: string;
  render(event: unknown): string;
  /** Each placeholder's value for alert output_fields: null when missing. */
  fieldValues(event: unknown): Record<string, unknown>;
}

export interface JpathMessageTemplate extends MessageTemplate {
  /** The placeholders' paths, each once, in order of first use. */
  readonly paths: readonly CompiledPath[];
}

export function compileTemplate(text: string): JpathMessageTemplate {
  const parts: Part[] = [];
  const byText = new Map<string, CompiledPath>();
  const positions = new Positions(text);
  const fail = (reason: string, offset: number): TemplateError => {
    const { line, column } = positions.at(offset);
    return new TemplateError(reason, line, column);
  };
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '}' && text[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (c !== '{') literal += c;
    else if (text[i + 1] === '{') {
      literal += '{';
      i++;
    } else {
      const close = findClose(text, i + 1);
      if (close < 0) throw fail('expected "}" to close the placeholder that starts here (write {{ for a literal brace)', i);
      const pathText = text.slice(i + 1, close);
      let path = byText.get(pathText);
      if (!path) {
        try {
          path = compilePath(pathText);
        } catch (err) {
          if (err instanceof PathError) throw fail(`in the placeholder: ${err.message}`, i + 1 + err.offset);
          throw err;
        }
        byText.set(pathText, path);
      }
      if (literal) parts.push(literal);
      literal = '';
      parts.push(path);
      i = close;
    }
  }
  if (literal) parts.push(literal);
  const paths = [...byText.values()];

  return {
    text,
    paths,
    render(event) {
      let out = '';
      for (const part of parts) out += typeof part === 'string' ? part : renderValues(part.values(event));
      return out;
    },
    fieldValues(event) {
      const fields: Record<string, unknown> = {};
      for (const path of paths) {
        const values = path.values(event);
        fields[path.text] = values.length === 0 ? null : values.length === 1 ? values[0] : values;
      }
      return fields;
    },
  };
}

/** The closing brace of a placeholder; a backslash escapes the next character of the path. */
function findClose(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '}') return i;
    else if (c === '{' || c === '\n') return -1;
  }
  return -1;
}

export function renderValues(values: readonly unknown[]): string {
  if (values.length === 0) return MISSING;
  if (values.length === 1) return valueText(values[0]);
  return compactText(values);
}
