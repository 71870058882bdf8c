// Compiles a parsed Falco condition into a predicate (predicate.ts): macros are inlined as the
// predicates they compile to (each macro compiled once per rule set), list names inside `in (…)`
// are spliced in and folded into Sets, and every field becomes a reader built once. Evaluating the
// result reads the event and compares, nothing else; it never throws.
//
// Falco's value semantics: a field with no value makes every comparison false, `!=` included, and
// `exists` false (`not` then turns it true); list fields take only exists, `in` (every value among
// the items) and `intersects` (some value among them).
import { allOf, anyOf, negate, type Predicate } from '../predicate.js';
import { perEvaluation } from '../scope.js';
import { fieldLabel, LIST_OPERATORS, type BinaryOperator, type Expr, type FieldRef } from './ast.js';
import { FIELDS, type Extractor, type FieldDef } from './fields.js';
import { operatorProblem, parseUnsigned, pathPrefixTest, setTest, textTest } from './operators.js';

/** A problem found while compiling: Falco's reason and its offset in the text being compiled. */
export class CompileError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(reason);
    this.name = 'CompileError';
  }
}

/** A macro's condition could not be compiled: the problem is the macro's, not the rule's. */
export class MacroError extends Error {
  constructor(
    readonly macro: string,
    override readonly cause: CompileError,
  ) {
    super(`macro ${macro}: ${cause.reason}`);
    this.name = 'MacroError';
  }
}

/** What a condition can refer to besides fields. */
export interface CompileScope {
  /** A macro's parsed condition, or undefined when no macro has this name. */
  macro(name: string): Expr | undefined;
  /** The items of a list, lists inside it already spliced in; undefined when no list has this name. */
  list(name: string): readonly string[] | undefined;
  /** Called for every macro and list a condition uses (for Falco's "unused" warnings). */
  used?(kind: 'macro' | 'list', name: string): void;
}

/** Field readers shared by every condition and output of a rule set, so costly fields are read once per event. */
export class FieldReaders {
  private readonly readers = new Map<string, Extractor>();
  private readonly existence = new Map<string, Predicate>();

  /** The field's own `exists` test, once per evaluation like a costly reader; undefined when it has none. */
  exists(def: FieldDef): Predicate | undefined {
    if (!def.exists) return undefined;
    let test = this.existence.get(def.name);
    if (!test) {
      test = def.costly ? perEvaluation(def.exists) : def.exists;
      this.existence.set(def.name, test);
    }
    return test;
  }

  reader(def: FieldDef, arg: string | undefined): Extractor {
    const key = fieldLabel({ name: def.name, arg });
    let reader = this.readers.get(key);
    if (!reader) {
      reader = def.extractor(arg);
      if (def.costly) reader = perEvaluation(reader);
      this.readers.set(key, reader);
    }
    return reader;
  }
}

/** The field a reference names, its argument checked; throws CompileError with Falco's reason. */
export function resolveField(ref: FieldRef): FieldDef {
  const def = FIELDS.get(ref.name);
  if (!def) throw new CompileError(`filter_check called with nonexistent field ${ref.name}`, ref.offset);
  const problem = argumentProblem(def, ref.arg);
  if (problem) throw new CompileError(problem, ref.offset);
  return def;
}

export function argumentProblem(def: FieldDef, arg: string | undefined): string | undefined {
  if (def.arg === 'none') return arg === undefined ? undefined : `filter ${def.name} does not take an argument`;
  if (def.arg === 'required') return arg === undefined ? `filter ${def.name} requires an argument` : undefined;
  if (arg !== undefined && !/^[0-9]{1,9}$/.test(arg)) return `filter ${def.name} has a malformed argument '${arg}': expected an index, a whole number`;
  return undefined;
}

/** Compiles conditions against one scope; macros compile once and are shared by the rules using them. */
export class ConditionCompiler {
  private readonly macros = new Map<string, Predicate | MacroError>();
  private readonly compiling = new Set<string>();

  constructor(
    private readonly scope: CompileScope,
    readonly fields: FieldReaders = new FieldReaders(),
  ) {}

  /** Throws CompileError (a problem in `expr` itself) or MacroError (in a macro it uses). */
  compile(expr: Expr): Predicate {
    switch (expr.kind) {
      case 'and':
        return allOf(expr.children.map((c) => this.compile(c)));
      case 'or':
        return anyOf(expr.children.map((c) => this.compile(c)));
      case 'not':
        return negate(this.compile(expr.child));
      case 'identifier':
        return this.macro(expr.name, expr.offset);
      case 'exists': {
        const def = resolveField(expr.field);
        const exists = this.fields.exists(def);
        if (exists) return exists;
        const read = this.fields.reader(def, expr.field.arg);
        return (event) => read(event) !== undefined;
      }
      case 'compare':
        return this.compare(expr);
    }
  }

  private macro(name: string, offset: number): Predicate {
    const done = this.macros.get(name);
    if (done instanceof MacroError) throw done;
    if (done) return done;
    const body = this.scope.macro(name);
    if (!body) throw new CompileError(`Undefined macro '${name}' used in filter.`, offset);
    this.scope.used?.('macro', name);
    if (this.compiling.has(name)) throw new CompileError(`macro '${name}' refers to itself`, offset);
    this.compiling.add(name);
    let predicate: Predicate;
    try {
      predicate = this.compile(body);
    } catch (err) {
      // A problem inside a macro is the macro's, even when found through another macro.
      const failure = err instanceof CompileError ? new MacroError(name, err) : err;
      if (failure instanceof MacroError) this.macros.set(name, failure);
      throw failure;
    } finally {
      this.compiling.delete(name);
    }
    this.macros.set(name, predicate);
    return predicate;
  }

  private compare(expr: Extract<Expr, { kind: 'compare' }>): Predicate {
    const def = resolveField(expr.field);
    const { op } = expr;
    const problem = operatorProblem(op, def.type, def.list);
    if (problem) throw new CompileError(problem, expr.opOffset);
    const read = this.fields.reader(def, expr.field.arg);
    const items = this.operandItems(expr);

    if (def.type === 'uint64') return numericCompare(read as (e: unknown) => bigint | undefined, op, items, expr);
    if (def.list) {
      const has = setTest(items);
      const list = read as (e: unknown) => readonly string[] | undefined;
      if (op === 'in') {
        return (event) => {
          const values = list(event);
          if (values === undefined) return false;
          for (const v of values) if (!has(v)) return false;
          return true;
        };
      }
      return (event) => {
        const values = list(event);
        if (values === undefined) return false;
        for (const v of values) if (has(v)) return true;
        return false;
      };
    }
    const text = read as (e: unknown) => string | undefined;
    if (op === 'in' || op === 'intersects') {
      if (items.length === 1) {
        const only = items[0]!;
        return (event) => text(event) === only;
      }
      const set = new Set(items);
      return (event) => {
        const v = text(event);
        return v !== undefined && set.has(v);
      };
    }
    if (op === 'pmatch') {
      const test = pathPrefixTest(items);
      return (event) => {
        const v = text(event);
        return v !== undefined && test(v);
      };
    }
    const literal = items[0]!;
    // Equality is the most common check of all: a missing field is undefined, never equal to text.
    if (op === '=') return (event) => text(event) === literal;
    let test;
    try {
      test = textTest(op, literal);
    } catch (err) {
      throw new CompileError((err as Error).message, expr.operand.kind === 'value' ? expr.operand.value.offset : expr.opOffset);
    }
    return (event) => {
      const v = text(event);
      return v !== undefined && test(v);
    };
  }

  /** The literal side: one value, or a list's items with list names spliced in. */
  private operandItems(expr: Extract<Expr, { kind: 'compare' }>): string[] {
    const { operand } = expr;
    if (operand.kind === 'value') return [operand.value.text];
    const out: string[] = [];
    for (const item of operand.items) {
      const named = LIST_OPERATORS.has(expr.op) ? this.scope.list(item.text) : undefined;
      if (named) {
        this.scope.used?.('list', item.text);
        out.push(...named);
      } else out.push(item.text);
    }
    return out;
  }
}

function numericCompare(read: (e: unknown) => bigint | undefined, op: BinaryOperator, items: readonly string[], expr: Extract<Expr, { kind: 'compare' }>): Predicate {
  const numbers = items.map((text) => {
    const n = parseUnsigned(text);
    if (n === undefined) throw new CompileError(`could not parse '${text}' as a number for ${expr.field.name}`, expr.operand.kind === 'value' ? expr.operand.value.offset : expr.operand.offset);
    return n;
  });
  if (op === 'in' || op === 'intersects') {
    return (event) => {
      const v = read(event);
      return v !== undefined && numbers.includes(v);
    };
  }
  const n = numbers[0]!;
  const holds: Record<string, (a: bigint) => boolean> = {
    '=': (a) => a === n,
    '!=': (a) => a !== n,
    '<': (a) => a < n,
    '<=': (a) => a <= n,
    '>': (a) => a > n,
    '>=': (a) => a >= n,
  };
  const test = holds[op]!;
  return (event) => {
    const v = read(event);
    return v !== undefined && test(v);
  };
}
