// The jpath grammar (src/rules/README.md) with the precedence the README decides: comparisons
// bind tightest, then prefix `not` (on the next comparison or parenthesised group), then `and`,
// then `or`; both left-associative.
//
//   condition  := or EOF
//   or         := and ("or" and)*
//   and        := unary ("and" unary)*
//   unary      := "not" unary | "(" or ")" | comparison
//   comparison := jpath op literal | jpath "in" "(" literal ("," literal)* ")"
//   jpath      := "jpath" "(" string ")"
//   op         := = | != | < | > | <= | >= | contains | startswith
import { compilePath, PathError, type CompiledPath } from '../path.js';
import { numberLiteral, stringLiteral, type ComparisonOperator, type Literal } from '../values.js';
import { describeToken, Lexer, type Token } from './lexer.js';

export type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; operand: Condition }
  | { kind: 'compare'; path: CompiledPath; op: ComparisonOperator; literal: Literal; offset: number }
  | { kind: 'in'; path: CompiledPath; literals: Literal[]; offset: number };

/** Parentheses and `not`s nested deeper than this are refused rather than overflowing the stack. */
export const MAX_DEPTH = 200;

const OPERATORS = 'an operator: =, !=, <, >, <=, >=, contains, startswith or in';

export function parseCondition(text: string): Condition {
  return new Parser(text).parse();
}

class Parser {
  private readonly lexer: Lexer;
  private depth = 0;

  constructor(text: string) {
    this.lexer = new Lexer(text);
  }

  parse(): Condition {
    const start = this.lexer.peek();
    if (start.kind === 'eof') throw this.expected('a condition such as jpath("verb") = "create"', start);
    const condition = this.or();
    const end = this.lexer.next();
    if (end.kind !== 'eof') {
      throw this.expected(end.kind === ')' ? '"and", "or" or the end of the condition (this ")" closes nothing)' : '"and", "or" or the end of the condition', end);
    }
    return condition;
  }

  private expected(what: string, found: Token): Error {
    return this.lexer.error(`expected ${what}, found ${describeToken(found)}`, found.offset);
  }

  private isWord(token: Token, word: string): boolean {
    return token.kind === 'word' && token.text === word;
  }

  private or(): Condition {
    let left = this.and();
    while (this.isWord(this.lexer.peek(), 'or')) {
      this.lexer.next();
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Condition {
    let left = this.unary();
    while (this.isWord(this.lexer.peek(), 'and')) {
      this.lexer.next();
      left = { kind: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): Condition {
    const token = this.lexer.peek();
    if (this.isWord(token, 'not') || token.kind === '(') {
      if (++this.depth > MAX_DEPTH) {
        throw this.lexer.error(`expected at most ${MAX_DEPTH} nested parentheses and nots, found more`, token.offset);
      }
      this.lexer.next();
      let result: Condition;
      if (token.kind === '(') {
        const inner = this.or();
        const close = this.lexer.next();
        if (close.kind !== ')') throw this.expected('"and", "or" or ")"', close);
        result = inner;
      } else {
        result = { kind: 'not', operand: this.unary() };
      }
      this.depth--;
      return result;
    }
    return this.comparison();
  }

  private comparison(): Condition {
    const start = this.lexer.next();
    if (!this.isWord(start, 'jpath')) throw this.expected('jpath("…"), "not" or "("', start);
    const open = this.lexer.next();
    if (open.kind !== '(') throw this.expected('"(" after jpath', open);
    const pathToken = this.lexer.next();
    if (pathToken.kind !== 'string') throw this.expected('a path in double quotes, such as jpath("user.username")', pathToken);
    const path = this.path(pathToken);
    const close = this.lexer.next();
    if (close.kind !== ')') throw this.expected('")" after the path (jpath takes one path)', close);

    const opToken = this.lexer.next();
    let op: ComparisonOperator;
    if (opToken.kind === 'op') op = opToken.op;
    else if (this.isWord(opToken, 'contains') || this.isWord(opToken, 'startswith')) op = (opToken as { text: 'contains' | 'startswith' }).text;
    else if (this.isWord(opToken, 'in')) return { kind: 'in', path, literals: this.list(), offset: start.offset };
    else throw this.expected(OPERATORS, opToken);
    const literal = this.literal(`a string in double quotes or an integer after ${op}`);
    return { kind: 'compare', path, op, literal, offset: start.offset };
  }

  private list(): Literal[] {
    const open = this.lexer.next();
    if (open.kind !== '(') throw this.expected('"(" after in, as in in ("a", "b")', open);
    const literals = [this.literal('a string in double quotes or an integer')];
    for (;;) {
      const token = this.lexer.next();
      if (token.kind === ')') return literals;
      if (token.kind !== ',') throw this.expected('"," or ")" in the list', token);
      literals.push(this.literal('a string in double quotes or an integer after ","'));
    }
  }

  private literal(what: string): Literal {
    const token = this.lexer.next();
    if (token.kind === 'string') return stringLiteral(token.value);
    if (token.kind === 'integer') return numberLiteral(token.value);
    if (this.isWord(token, 'jpath')) throw this.expected(`${what} (comparing two paths is not supported)`, token);
    throw this.expected(what, token);
  }

  private path(token: Extract<Token, { kind: 'string' }>): CompiledPath {
    try {
      return compilePath(token.value);
    } catch (err) {
      if (!(err instanceof PathError)) throw err;
      // Point at the character inside the string literal that the problem is about.
      const offset = token.sourceOffsets[err.offset] ?? token.end - 1;
      throw this.lexer.error(err.message, offset);
    }
  }
}
