// The KQL emulator's lexer: identifiers, integers, quoted strings, datetime(...) literals, operators.

export class KqlError extends Error {
  constructor(
    message: string,
    /** SyntaxError (the text) or SemanticError (a name that does not resolve). */
    readonly kind: 'SyntaxError' | 'SemanticError',
  ) {
    super(message);
    this.name = 'KqlError';
  }
}

export type Token =
  | { t: 'ident'; v: string; at: number }
  | { t: 'num'; v: number; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'time'; v: string; at: number }
  | { t: 'op'; v: string; at: number };

const OPS = ['==', '!=', '=~', '!~', '<=', '>=', '|', ',', '(', ')', '<', '>', '='];

export function lex(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const at = i;
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j]!)) j++;
      const word = text.slice(i, j);
      i = j;
      if (word === 'datetime' && text[i] === '(') {
        const close = text.indexOf(')', i);
        if (close < 0) throw new KqlError(`unterminated datetime( at ${at}`, 'SyntaxError');
        out.push({ t: 'time', v: text.slice(i + 1, close).trim(), at });
        i = close + 1;
      } else out.push({ t: 'ident', v: word, at });
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i;
      while (j < text.length && /[0-9]/.test(text[j]!)) j++;
      out.push({ t: 'num', v: Number(text.slice(i, j)), at });
      i = j;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= text.length) throw new KqlError(`unterminated string at ${at}`, 'SyntaxError');
        const d = text[j]!;
        if (d === c) break;
        if (d === '\\') {
          const e = text[j + 1];
          value += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : (e ?? '');
          j += 2;
          continue;
        }
        value += d;
        j++;
      }
      out.push({ t: 'str', v: value, at });
      i = j + 1;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (!op) throw new KqlError(`unexpected character ${JSON.stringify(c)} at ${at}`, 'SyntaxError');
    out.push({ t: 'op', v: op, at });
    i += op.length;
  }
  return out;
}

