import { JpathError, Positions } from './errors.js';

export type Token =
  | { kind: 'eof'; offset: number }
  | { kind: '(' | ')' | ','; offset: number }
  | { kind: 'op'; op: '=' | '!=' | '<' | '>' | '<=' | '>='; offset: number }
  | { kind: 'word'; text: string; offset: number }
  | { kind: 'string'; value: string; offset: number; end: number; sourceOffsets: number[] }
  | { kind: 'integer'; value: number; text: string; offset: number };

const MAX_INTEGER = Number.MAX_SAFE_INTEGER;

function isWordStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isWordPart(c: string): boolean {
  return isWordStart(c) || (c >= '0' && c <= '9') || c === '.';
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Reads tokens on demand, so the first problem in reading order is the one reported. */
export class Lexer {
  private pos = 0;
  private peeked: Token | undefined;
  readonly positions: Positions;

  constructor(private readonly text: string) {
    this.positions = new Positions(text);
  }

  error(reason: string, offset: number): JpathError {
    const { line, column } = this.positions.at(offset);
    return new JpathError(reason, line, column, offset);
  }

  peek(): Token {
    this.peeked ??= this.read();
    return this.peeked;
  }

  next(): Token {
    const token = this.peek();
    this.peeked = undefined;
    return token;
  }

  private read(): Token {
    const text = this.text;
    this.skipSpaceAndComments();
    const start = this.pos;
    if (start >= text.length) return { kind: 'eof', offset: start };
    const c = text[start]!;
    const next = text[start + 1];
    switch (c) {
      case '(':
      case ')':
      case ',':
        this.pos++;
        return { kind: c, offset: start };
      case '"':
        return this.readString();
      case '=':
        if (next === '=') throw this.error('expected = (jpath compares with a single =), found "=="', start);
        if (next === '>') throw this.error('expected >= (greater or equal), found "=>"', start);
        if (next === '<') throw this.error('expected <= (less or equal), found "=<"', start);
        this.pos++;
        return { kind: 'op', op: '=', offset: start };
      case '!':
        if (next === '=') {
          this.pos += 2;
          return { kind: 'op', op: '!=', offset: start };
        }
        throw this.error('expected != or not, found "!"', start);
      case '<':
      case '>':
        if (next === '=') {
          this.pos += 2;
          return { kind: 'op', op: c === '<' ? '<=' : '>=', offset: start };
        }
        if (c === '<' && next === '>') throw this.error('expected != (not equal), found "<>"', start);
        this.pos++;
        return { kind: 'op', op: c, offset: start };
      case '&':
        throw this.error(`expected and, found ${JSON.stringify(next === '&' ? '&&' : '&')}`, start);
      case '|':
        throw this.error(`expected or, found ${JSON.stringify(next === '|' ? '||' : '|')}`, start);
      case "'":
        throw this.error('expected a string in double quotes, found "\'" (single quotes do not delimit strings)', start);
      default:
        break;
    }
    if (isDigit(c) || (c === '-' && isDigit(next))) return this.readInteger();
    if (isWordStart(c)) {
      let end = start + 1;
      while (end < text.length && isWordPart(text[end]!)) end++;
      this.pos = end;
      return { kind: 'word', text: text.slice(start, end), offset: start };
    }
    throw this.error(`expected jpath("…"), an operator, a string or an integer, found ${describeChar(c, text.codePointAt(start)!)}`, start);
  }

  private skipSpaceAndComments(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if (c === '/' && text[this.pos + 1] === '/') {
        // Twistlock scripts may carry `//` comment lines; a comment runs to the end of its line.
        const eol = text.indexOf('\n', this.pos);
        this.pos = eol < 0 ? text.length : eol + 1;
      } else break;
    }
  }

  private readString(): Token {
    const text = this.text;
    const start = this.pos;
    let value = '';
    const sourceOffsets: number[] = [];
    let i = start + 1;
    for (;;) {
      if (i >= text.length || text[i] === '\n') {
        const where = i >= text.length ? 'the end of the condition' : 'the end of the line';
        throw this.error(`expected a closing " for the string that starts here, found ${where}`, start);
      }
      const c = text[i]!;
      if (c === '"') break;
      if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
        value += text[i + 1];
        sourceOffsets.push(i);
        i += 2;
        continue;
      }
      // Other backslashes stay, so path escapes such as \. reach the path parser.
      value += c;
      sourceOffsets.push(i);
      i++;
    }
    this.pos = i + 1;
    return { kind: 'string', value, offset: start, end: i + 1, sourceOffsets };
  }

  private readInteger(): Token {
    const text = this.text;
    const start = this.pos;
    let end = text[start] === '-' ? start + 1 : start;
    while (isDigit(text[end])) end++;
    if (text[end] === '.' && isDigit(text[end + 1])) {
      let stop = end + 1;
      while (isDigit(text[stop])) stop++;
      throw this.error(`expected an integer (jpath numbers are whole), found ${text.slice(start, stop)}`, start);
    }
    if (end < text.length && isWordStart(text[end]!)) {
      let stop = end;
      while (stop < text.length && isWordPart(text[stop]!)) stop++;
      throw this.error(`expected an integer, found ${JSON.stringify(text.slice(start, stop))}`, start);
    }
    const literal = text.slice(start, end);
    const value = Number(literal);
    if (Math.abs(value) > MAX_INTEGER) throw this.error(`expected an integer between -${MAX_INTEGER} and ${MAX_INTEGER}, found ${literal}`, start);
    this.pos = end;
    return { kind: 'integer', value, text: literal, offset: start };
  }
}

function describeChar(c: string, codePoint: number): string {
  if (codePoint < 0x20 || codePoint === 0x7f) return `the control character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  return JSON.stringify(String.fromCodePoint(codePoint) || c);
}

/** How a token is named in "found …". */
export function describeToken(token: Token): string {
  switch (token.kind) {
    case 'eof':
      return 'the end of the condition';
    case 'word':
      return KEYWORDS.has(token.text) ? `"${token.text}"` : `the word ${JSON.stringify(token.text)}`;
    case 'string':
      return `the string ${JSON.stringify(token.value.length > 40 ? `${token.value.slice(0, 37)}...` : token.value)}`;
    case 'integer':
      return `the integer ${token.text}`;
    case 'op':
      return `"${token.op}"`;
    default:
      return `"${token.kind}"`;
  }
}

export const KEYWORDS: ReadonlySet<string> = new Set(['and', 'or', 'not', 'in', 'contains', 'startswith', 'jpath']);
