// A deliberately small, strict KQL subset: what the bridge's own queries use (src/sources/aks/query.ts)
// plus a few neighbours useful by hand. Anything else is a syntax or semantic error (HTTP 400
// BadArgumentError), never a silent guess. Understood:
//
//   <Table> ( | <operator> )*
//   operators:   where E | extend N = E, ... | project N [= E], ... | top K by E [asc|desc], ...
//                | sort by / order by E [asc|desc], ... | take K | limit K | count
//   expressions: E or E, E and E, not(E), ( E ),
//                E == E, != , =~ (case-insensitive), !~, <, <=, >, >=, E in ("a", "b")
//                "text" and 'text' (backslash escapes), integers, datetime(2026-01-02T03:04:05.1234567Z),
//                column names, ingestion_time(), tostring(E), strcat(E, ...), strcmp(E, E),
//                extract('regex', group, E), hash(E), tolower(E), isempty(E), isnotempty(E)
//
// Datetimes are compared at 100 ns (ticks); tostring() renders them with 7 fractional digits.
import { createHash } from 'node:crypto';
import { KqlError, lex, type Token } from './kql-lex.js';
import { cellValue, compare, KTime, order, toText, truthy, wireCell, type ColumnType, type EvalRow, type TableSchema, type Value } from './kql-values.js';
import { parseTicks } from '../kusto-time.js';

export { KqlError } from './kql-lex.js';
export { KTime, type ColumnType, type EvalRow, type TableSchema, type Value } from './kql-values.js';

type Expr = (row: EvalRow) => Value;
interface Compiled {
  eval: Expr;
  type: ColumnType;
}


// --- parser -------------------------------------------------------------------------------

export interface SortKey {
  expr: Compiled;
  desc: boolean;
}

export type Operator =
  | { op: 'where'; pred: Compiled }
  | { op: 'extend'; items: { name: string; expr: Compiled }[] }
  | { op: 'project'; items: { name: string; expr: Compiled }[] }
  | { op: 'top'; n: number; keys: SortKey[] }
  | { op: 'sort'; keys: SortKey[] }
  | { op: 'take'; n: number }
  | { op: 'count' };

export interface ParsedQuery {
  table: string;
  operators: Operator[];
}

/**
 * Parses a query against the schemas of the tables it may name; names are resolved here, so an
 * unknown table or column is an error before any row is read.
 */
export function parseQuery(text: string, schemas: ReadonlyMap<string, TableSchema>): ParsedQuery {
  const tokens = lex(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const fail = (what: string): never => {
    const tok = peek();
    throw new KqlError(`expected ${what} ${tok ? `at ${tok.at}, found ${JSON.stringify(String(tok.v))}` : 'at the end of the query'}`, 'SyntaxError');
  };
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()!.v === v;
  const isWord = (v: string): boolean => peek()?.t === 'ident' && peek()!.v === v;
  const expectOp = (v: string): void => {
    if (!isOp(v)) fail(`"${v}"`);
    pos++;
  };
  const ident = (what: string): string => {
    const tok = peek();
    if (tok?.t !== 'ident') return fail(what);
    pos++;
    return tok.v;
  };
  const integer = (): number => {
    const tok = peek();
    if (tok?.t !== 'num') return fail('a number');
    pos++;
    return tok.v;
  };

  const tableName = ident('a table name');
  const schema = schemas.get(tableName);
  if (!schema) throw new KqlError(`Failed to resolve table expression named '${tableName}'`, 'SemanticError');
  // Names in scope and their types; extend and project change it as the query goes.
  let scope = new Map<string, ColumnType>(Object.entries(schema.types));

  const column = (name: string): Compiled => {
    const type = scope.get(name);
    if (!type) throw new KqlError(`Failed to resolve scalar expression named '${name}'`, 'SemanticError');
    const eval_: Expr = (row) => {
      if (row.vars?.has(name)) return row.vars.get(name)!;
      return cellValue(row.cells[name], type);
    };
    return { eval: eval_, type };
  };

  const call = (name: string): Compiled => {
    expectOp('(');
    const args: Compiled[] = [];
    if (!isOp(')')) {
      args.push(expr());
      while (isOp(',')) {
        pos++;
        args.push(expr());
      }
    }
    expectOp(')');
    const arity = (n: number): void => {
      if (args.length !== n) throw new KqlError(`${name}() takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`, 'SemanticError');
    };
    switch (name) {
      case 'ingestion_time':
        arity(0);
        return { eval: (row) => row.ingestion, type: 'datetime' };
      case 'tostring': {
        arity(1);
        const a = args[0]!;
        return { eval: (row) => toText(a.eval(row)), type: 'string' };
      }
      case 'tolower': {
        arity(1);
        const a = args[0]!;
        return { eval: (row) => toText(a.eval(row)).toLowerCase(), type: 'string' };
      }
      case 'strcat':
        if (args.length < 1) arity(1);
        return { eval: (row) => args.map((a) => toText(a.eval(row))).join(''), type: 'string' };
      case 'strcmp': {
        arity(2);
        const [a, b] = args as [Compiled, Compiled];
        return {
          eval: (row) => {
            const x = toText(a.eval(row));
            const y = toText(b.eval(row));
            return x < y ? -1 : x > y ? 1 : 0;
          },
          type: 'int',
        };
      }
      case 'hash': {
        // Kusto's hash() is xxhash64; any stable 64-bit hash serves the bridge's keys.
        arity(1);
        const a = args[0]!;
        return { eval: (row) => createHash('sha256').update(toText(a.eval(row))).digest().readBigInt64BE(0).toString(), type: 'long' };
      }
      case 'isempty':
      case 'isnotempty': {
        arity(1);
        const a = args[0]!;
        const want = name === 'isempty';
        return { eval: (row) => (toText(a.eval(row)) === '') === want, type: 'bool' };
      }
      case 'extract': {
        arity(3);
        const [re, group, source] = args as [Compiled, Compiled, Compiled];
        const pattern = re.eval({ cells: {}, ingestion: new KTime(0n) });
        const n = group.eval({ cells: {}, ingestion: new KTime(0n) });
        if (typeof pattern !== 'string' || typeof n !== 'number') {
          throw new KqlError('extract() takes a constant regex and a constant group number', 'SemanticError');
        }
        let regex: RegExp;
        try {
          regex = new RegExp(pattern);
        } catch (err) {
          throw new KqlError(`extract(): bad regex: ${(err as Error).message}`, 'SemanticError');
        }
        return { eval: (row) => regex.exec(toText(source.eval(row)))?.[n] ?? '', type: 'string' };
      }
      default:
        throw new KqlError(`Unknown function: '${name}'`, 'SemanticError');
    }
  };

  const primary = (): Compiled => {
    const tok = peek();
    if (!tok) return fail('an expression');
    if (tok.t === 'op' && tok.v === '(') {
      pos++;
      const inner = expr();
      expectOp(')');
      return inner;
    }
    pos++;
    switch (tok.t) {
      case 'num':
        return { eval: () => tok.v, type: 'long' };
      case 'str':
        return { eval: () => tok.v, type: 'string' };
      case 'time': {
        const ticks = parseTicks(tok.v);
        if (ticks === undefined) throw new KqlError(`bad datetime literal ${JSON.stringify(tok.v)} at ${tok.at}`, 'SyntaxError');
        const value = new KTime(ticks);
        return { eval: () => value, type: 'datetime' };
      }
      case 'ident':
        if (tok.v === 'not' && isOp('(')) {
          pos++;
          const inner = expr();
          expectOp(')');
          return { eval: (row) => !truthy(inner.eval(row)), type: 'bool' };
        }
        if (isOp('(')) return call(tok.v);
        return column(tok.v);
      default:
        pos--;
        return fail('an expression');
    }
  };

  const comparison = (): Compiled => {
    const left = primary();
    const tok = peek();
    if (tok?.t === 'op' && ['==', '!=', '=~', '!~', '<', '<=', '>', '>='].includes(tok.v)) {
      pos++;
      const right = primary();
      const cmp = tok.v;
      return { eval: (row) => compare(cmp, left.eval(row), right.eval(row)), type: 'bool' };
    }
    if (tok?.t === 'ident' && tok.v === 'in') {
      pos++;
      const list = literalList();
      return { eval: (row) => list.has(toText(left.eval(row))), type: 'bool' };
    }
    return left;
  };

  const literalList = (): Set<string> => {
    expectOp('(');
    const values = new Set<string>();
    for (;;) {
      const tok = peek();
      if (tok?.t !== 'str') return fail('a string literal in the in (...) list');
      values.add(tok.v);
      pos++;
      if (isOp(',')) {
        pos++;
        continue;
      }
      break;
    }
    expectOp(')');
    return values;
  };

  const conjunction = (): Compiled => {
    let left = comparison();
    while (isWord('and')) {
      pos++;
      const a = left;
      const b = comparison();
      left = { eval: (row) => truthy(a.eval(row)) && truthy(b.eval(row)), type: 'bool' };
    }
    return left;
  };

  function expr(): Compiled {
    let left = conjunction();
    while (isWord('or')) {
      pos++;
      const a = left;
      const b = conjunction();
      left = { eval: (row) => truthy(a.eval(row)) || truthy(b.eval(row)), type: 'bool' };
    }
    return left;
  }

  const sortKeys = (): SortKey[] => {
    if (!isWord('by')) fail('"by"');
    pos++;
    const keys: SortKey[] = [];
    for (;;) {
      const e = expr();
      let desc = true; // Kusto's default order for sort and top is descending
      if (isWord('asc') || isWord('desc')) {
        desc = peek()!.v === 'desc';
        pos++;
      }
      keys.push({ expr: e, desc });
      if (!isOp(',')) break;
      pos++;
    }
    return keys;
  };

  const assignments = (allowBare: boolean): { name: string; expr: Compiled }[] => {
    const items: { name: string; expr: Compiled }[] = [];
    for (;;) {
      const name = ident('a column name');
      if (isOp('=')) {
        pos++;
        items.push({ name, expr: expr() });
      } else if (allowBare) items.push({ name, expr: column(name) });
      else fail('"=" (extend needs name = expression)');
      if (!isOp(',')) break;
      pos++;
    }
    return items;
  };

  const operators: Operator[] = [];
  while (pos < tokens.length) {
    expectOp('|');
    const name = ident('an operator (where, extend, project, top, sort, take, count)');
    switch (name) {
      case 'where':
        operators.push({ op: 'where', pred: expr() });
        break;
      case 'extend': {
        const items = assignments(false);
        for (const item of items) scope.set(item.name, item.expr.type);
        operators.push({ op: 'extend', items });
        break;
      }
      case 'project': {
        const items = assignments(true);
        scope = new Map(items.map((i) => [i.name, i.expr.type]));
        operators.push({ op: 'project', items });
        break;
      }
      case 'top': {
        const n = integer();
        operators.push({ op: 'top', n, keys: sortKeys() });
        break;
      }
      case 'sort':
      case 'order':
        operators.push({ op: 'sort', keys: sortKeys() });
        break;
      case 'take':
      case 'limit':
        operators.push({ op: 'take', n: integer() });
        break;
      case 'count':
        scope = new Map([['Count', 'long']]);
        operators.push({ op: 'count' });
        break;
      default:
        throw new KqlError(`unsupported operator '${name}' (this emulator understands where, extend, project, top, sort, take, count)`, 'SyntaxError');
    }
  }
  return { table: tableName, operators };
}


// --- evaluation ---------------------------------------------------------------------------

export interface ResultTable {
  columns: { name: string; type: ColumnType }[];
  rows: unknown[][];
}

/** Runs a parsed query over the rows of its table; cells come out as the query API writes them. */
export function runQuery(query: ParsedQuery, rows: readonly EvalRow[], schema: TableSchema): ResultTable {
  let current: EvalRow[] = rows.slice();
  let projected: { name: string; expr: Compiled }[] | undefined;
  for (const operator of query.operators) {
    switch (operator.op) {
      case 'where':
        current = current.filter((r) => truthy(operator.pred.eval(r)));
        break;
      case 'extend':
        current = current.map((r) => {
          const vars = new Map(r.vars);
          const next = { ...r, vars };
          for (const item of operator.items) vars.set(item.name, item.expr.eval(next));
          return next;
        });
        break;
      case 'project': {
        const items = operator.items;
        current = current.map((r) => {
          const vars = new Map<string, Value>();
          for (const item of items) vars.set(item.name, item.expr.eval(r));
          // Projected rows see only the projected names.
          return { cells: {}, ingestion: r.ingestion, vars };
        });
        projected = items;
        break;
      }
      case 'top':
        current = sortRows(current, operator.keys).slice(0, operator.n);
        break;
      case 'sort':
        current = sortRows(current, operator.keys);
        break;
      case 'take':
        current = current.slice(0, operator.n);
        break;
      case 'count':
        return { columns: [{ name: 'Count', type: 'long' }], rows: [[current.length]] };
    }
  }
  if (!projected) {
    const names = Object.keys(schema.types);
    return {
      columns: names.map((name) => ({ name, type: schema.types[name]! })),
      rows: current.map((r) => names.map((name) => wireCell(r.vars?.has(name) ? r.vars.get(name)! : cellValue(r.cells[name], schema.types[name]!), schema.types[name]!))),
    };
  }
  const columns = projected.map((p) => ({ name: p.name, type: p.expr.type }));
  return { columns, rows: current.map((r) => columns.map((c) => wireCell(r.vars!.get(c.name) ?? null, c.type))) };
}

function sortRows(rows: EvalRow[], keys: SortKey[]): EvalRow[] {
  const decorated = rows.map((row) => ({ row, values: keys.map((k) => k.expr.eval(row)) }));
  decorated.sort((a, b) => {
    for (let i = 0; i < keys.length; i++) {
      const c = order(a.values[i]!, b.values[i]!);
      if (c !== 0) return keys[i]!.desc ? -c : c;
    }
    return 0;
  });
  return decorated.map((d) => d.row);
}

/** A stored cell as a value of its column's type (the data holds datetimes as text). */
