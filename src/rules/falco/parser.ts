// Falco's condition grammar, read the way libsinsp's filter parser reads it: without a separate
// tokenizer, so that the same text is accepted and refused, with the same precedence (`or` below
// `and` below prefix `not`), the same word shapes (a field name has a dot, a bare identifier is a
// macro) and Falco's own error wording. Errors carry the line and column where reading stopped.
//
//   or       := and ("or" and)*
//   and      := not ("and" not)*
//   not      := ("not" blank)* ( "not(" or ")" | check )
//   check    := "(" or ")" | field ( "exists" | op value | listop list ) | identifier
//   field    := name.name[.name…] ( "[" (quoted | bare-arg) "]" )?
//   list     := "(" (value ("," value)*)? ")" | identifier
import type { BinaryOperator, Expr, FieldRef, Operand, Value } from './ast.js';
import { FalcoConditionError } from './errors.js';

// Character classes as libsinsp's POSIX patterns define them ([[:space:]] is these six).
const IDENTIFIER = /[a-zA-Z]+[a-zA-Z0-9_]*/y;
const FIELD_NAME = /[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+/y;
const FIELD_ARG_BARE = /[^\]["' \t\n\r\f\v]+/y;
const HEX_NUMBER = /0[xX][0-9a-fA-F]+/y;
const NUMBER = /[+-]?[0-9]+\.?[0-9]*(?:[eE][+-][0-9]+)?/y;
const BARE_STRING = /[^()"' \t\n\r\f\v=,]+/y;
const NOT_BLANK = /not[ \t\n\r\f\v]+/y;

const UNARY_OPERATORS = ['exists'] as const;
const NUMERIC_OPERATORS = ['<=', '<', '>=', '>'] as const;
// Those written with a trailing space need a blank after them (`contains(` is not `contains (`).
const STRING_OPERATORS = ['==', '=', '!=', 'glob ', 'iglob ', 'contains ', 'icontains ', 'bcontains ', 'startswith ', 'bstartswith ', 'endswith ', 'regex '] as const;
const LIST_OPERATORS = ['intersects', 'in', 'pmatch'] as const;
const TRANSFORMERS = ['val(', 'tolower(', 'toupper(', 'b64(', 'basename(', 'len(', 'join('] as const;

const ALL_OPERATORS = [...UNARY_OPERATORS, ...NUMERIC_OPERATORS, ...STRING_OPERATORS, ...LIST_OPERATORS].map((o) => `'${o.trim()}'`).join(', ');

/** libsinsp's limit on the parser's recursion. */
export const MAX_DEPTH = 100;

export function parseCondition(text: string): Expr {
  return new Parser(text).parse();
}

/** A field reference on its own, as exceptions name them: `ka.target.name`, `jevt.value[/a/b]`. */
export function parseFieldRef(text: string): FieldRef {
  const parser = new Parser(text);
  return parser.fieldOnly();
}

class Parser {
  private pos = 0;
  private lastToken = '';
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): Expr {
    if (this.text.length === 0) throw this.fail('filter input string is empty');
    const result = this.or();
    if (this.pos !== this.text.length) throw this.fail(`unexpected token after '${this.lastToken}', expecting 'or', 'and'`);
    return result;
  }

  fieldOnly(): FieldRef {
    const start = this.pos;
    if (!this.lexRegex(FIELD_NAME)) throw this.fail('expected a field name, such as ka.target.name');
    const field = this.fieldRemainder(this.lastToken, start);
    if (this.pos !== this.text.length) throw this.fail(`unexpected token after '${this.lastToken}' in a field name`);
    return field;
  }

  private fail(reason: string, offset = this.pos): FalcoConditionError {
    return FalcoConditionError.at(this.text, offset, reason);
  }

  private enter(): void {
    if (++this.depth >= MAX_DEPTH) throw this.fail(`exceeded max depth limit of ${MAX_DEPTH}`);
  }

  private or(): Expr {
    this.enter();
    const offset = this.pos;
    this.blank();
    const children = [this.and()];
    this.blank();
    while (this.lexString('or')) {
      if (this.blank()) children.push(this.and());
      else if (this.lexString('(')) children.push(this.embeddedRemainder());
      else throw this.fail("expected blank or '(' after 'or'");
      this.blank();
    }
    this.depth--;
    return children.length > 1 ? { kind: 'or', children, offset } : children[0]!;
  }

  private and(): Expr {
    this.enter();
    const offset = this.pos;
    this.blank();
    const children = [this.not()];
    this.blank();
    while (this.lexString('and')) {
      if (this.blank()) children.push(this.not());
      else if (this.lexString('(')) children.push(this.embeddedRemainder());
      else throw this.fail("expected blank or '(' after 'and'");
      this.blank();
    }
    this.depth--;
    return children.length > 1 ? { kind: 'and', children, offset } : children[0]!;
  }

  private not(): Expr {
    this.enter();
    const offset = this.pos;
    this.blank();
    let negated = false;
    while (this.lexRegex(NOT_BLANK)) negated = !negated;
    let child: Expr;
    if (this.lexString('not(')) {
      negated = !negated;
      child = this.embeddedRemainder();
    } else child = this.check();
    this.depth--;
    return negated ? { kind: 'not', child, offset } : child;
  }

  /** What follows a "(": a whole expression and its ")". */
  private embeddedRemainder(): Expr {
    this.enter();
    this.blank();
    const child = this.or();
    this.blank();
    if (!this.lexString(')')) throw this.fail("expected a ')' token");
    this.depth--;
    return child;
  }

  private check(): Expr {
    this.enter();
    this.blank();
    const offset = this.pos;
    let result: Expr;
    if (this.lexString('(')) result = this.embeddedRemainder();
    else if (this.lexRegex(FIELD_NAME)) result = this.condition(this.fieldRemainder(this.lastToken, offset), offset);
    else if (this.atTransformer()) throw this.transformerUnsupported();
    else if (this.lexRegex(IDENTIFIER)) result = { kind: 'identifier', name: this.lastToken, offset };
    else throw this.fail("expected a '(' token, a field check, or an identifier");
    this.depth--;
    return result;
  }

  private fieldRemainder(name: string, offset: number): FieldRef {
    this.enter();
    let arg: string | undefined;
    if (this.lexString('[')) {
      if (!this.lexQuoted() && !this.lexRegex(FIELD_ARG_BARE)) throw this.fail('expected a valid field argument: a quoted string or a bare string');
      arg = this.lastToken;
      if (!this.lexString(']')) throw this.fail("expected a ']' token");
    }
    this.depth--;
    return { name, arg, offset };
  }

  private condition(field: FieldRef, offset: number): Expr {
    this.enter();
    this.blank();
    const opOffset = this.pos;
    let result: Expr;
    if (this.lexOperator(UNARY_OPERATORS)) result = { kind: 'exists', field, offset };
    else if (this.lexOperator(NUMERIC_OPERATORS)) {
      const op = this.lastToken.trim() as BinaryOperator;
      result = { kind: 'compare', field, op, operand: { kind: 'value', value: this.numberValue() }, offset, opOffset };
    } else if (this.lexOperator(STRING_OPERATORS)) {
      const written = this.lastToken.trim();
      const op = (written === '==' ? '=' : written) as BinaryOperator;
      result = { kind: 'compare', field, op, operand: { kind: 'value', value: this.stringValue() }, offset, opOffset };
    } else if (this.lexOperator(LIST_OPERATORS)) {
      const op = this.lastToken as BinaryOperator;
      result = { kind: 'compare', field, op, operand: this.listValue(), offset, opOffset };
    } else throw this.fail(`expected a valid check operator: one of ${ALL_OPERATORS}`);
    this.depth--;
    return result;
  }

  private numberValue(): Value {
    this.enter();
    this.blank();
    const offset = this.pos;
    if (this.atTransformer()) throw this.transformerUnsupported();
    if (!this.lexRegex(HEX_NUMBER) && !this.lexRegex(NUMBER)) throw this.fail('expected a number value or a field with a valid transformer');
    this.depth--;
    return { text: this.lastToken, offset };
  }

  private stringValue(inList = false): Value {
    this.enter();
    this.blank();
    const offset = this.pos;
    if (!inList && this.atTransformer()) throw this.transformerUnsupported();
    if (!this.lexQuoted() && !this.lexRegex(BARE_STRING)) throw this.fail(inList ? 'expected a string value' : 'expected a string value or a field with a valid transformer');
    this.depth--;
    return { text: this.lastToken, offset };
  }

  private listValue(): Operand {
    this.enter();
    this.blank();
    const offset = this.pos;
    let result: Operand;
    if (this.lexString('(')) {
      const items: Value[] = [];
      this.blank();
      const before = this.pos;
      // "()" is an empty list: a value is optional before the first ")".
      if (this.lexQuoted() || this.lexRegex(BARE_STRING)) {
        items.push({ text: this.lastToken, offset: before });
        this.blank();
        while (this.lexString(',')) {
          items.push(this.stringValue(true));
          this.blank();
        }
      }
      if (!this.lexString(')')) throw this.fail("expected a ')' token");
      result = { kind: 'list', items, offset, bare: false };
    } else if (this.atTransformer()) throw this.transformerUnsupported();
    else if (this.lexRegex(IDENTIFIER)) result = { kind: 'list', items: [{ text: this.lastToken, offset }], offset, bare: true };
    else throw this.fail('expected a list, an identifier, or a field with a valid transformer');
    this.depth--;
    return result;
  }

  private atTransformer(): boolean {
    return TRANSFORMERS.some((t) => this.text.startsWith(t, this.pos));
  }

  private transformerUnsupported(): FalcoConditionError {
    const name = TRANSFORMERS.find((t) => this.text.startsWith(t, this.pos))!.slice(0, -1);
    return this.fail(`field transformers such as '${name}' are not supported by the bridge's Falco engine`);
  }

  // --- lexing helpers ---------------------------------------------------------------------------

  /** Skips blanks (libsinsp's: space, tab, backspace, CR, LF); true if there were any. */
  private blank(): boolean {
    const start = this.pos;
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 8 || c === 13 || c === 10) this.pos++;
      else break;
    }
    return this.pos > start;
  }

  private lexString(s: string): boolean {
    if (!this.text.startsWith(s, this.pos)) return false;
    this.pos += s.length;
    this.lastToken = s;
    return true;
  }

  private lexRegex(re: RegExp): boolean {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return false;
    this.pos += m[0].length;
    this.lastToken = m[0];
    return true;
  }

  private lexOperator(ops: readonly string[]): boolean {
    for (const op of ops) {
      if (!op.endsWith(' ')) {
        if (this.lexString(op)) return true;
        continue;
      }
      const start = this.pos;
      if (this.lexString(op.trimEnd())) {
        if (this.blank()) {
          this.lastToken = op;
          return true;
        }
        this.pos = start;
        return false;
      }
    }
    return false;
  }

  /** A string in single or double quotes; a backslash escapes the next character. */
  private lexQuoted(): boolean {
    const quote = this.text[this.pos];
    if (quote !== '"' && quote !== "'") return false;
    let value = '';
    for (let i = this.pos + 1; i < this.text.length; i++) {
      const c = this.text[i]!;
      if (c === quote) {
        this.pos = i + 1;
        this.lastToken = value;
        return true;
      }
      if (c === '\\' && i + 1 < this.text.length) {
        value += unescape(this.text[++i]!);
        continue;
      }
      value += c;
    }
    // An unclosed quote is not a string: the caller reports what it expected here.
    return false;
  }
}

function unescape(c: string): string {
  switch (c) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    default:
      return c;
  }
}
