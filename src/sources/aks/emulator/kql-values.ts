// Values of the KQL emulator: how cells of each column type are read, compared and written.
import { formatTicks, parseTicks } from '../kusto-time.js';
import { KqlError } from './kql-lex.js';

/** A datetime value: 100 ns ticks since the epoch. */
export class KTime {
  constructor(readonly ticks: bigint) {}
}

export type Value = string | number | boolean | null | KTime;
export type ColumnType = 'string' | 'datetime' | 'dynamic' | 'long' | 'int' | 'real' | 'bool';

/** A row under evaluation: the table's cells and the query's extended names. */
export interface EvalRow {
  cells: Record<string, unknown>;
  /** ingestion_time() of the row. */
  ingestion: KTime;
  vars?: Map<string, Value>;
}

export interface TableSchema {
  types: Record<string, ColumnType>;
}


export function cellValue(cell: unknown, type: ColumnType): Value {
  if (cell === undefined || cell === null) return null;
  if (type === 'datetime') {
    if (cell instanceof KTime) return cell;
    const ticks = typeof cell === 'string' ? parseTicks(cell) : undefined;
    return ticks === undefined ? null : new KTime(ticks);
  }
  if (typeof cell === 'object') return JSON.stringify(cell);
  return cell as Value;
}

/** How the query API writes a cell: datetimes as 7-digit text, dynamic values as JSON text. */
export function wireCell(value: Value, type: ColumnType): unknown {
  if (value instanceof KTime) return formatTicks(value.ticks);
  if (type === 'dynamic' && value !== null && typeof value !== 'string') return JSON.stringify(value);
  return value;
}

export function toText(v: Value): string {
  if (v === null) return '';
  if (v instanceof KTime) return formatTicks(v.ticks);
  return String(v);
}

export function truthy(v: Value): boolean {
  return v === true;
}

export function order(a: Value, b: Value): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  if (a instanceof KTime && b instanceof KTime) return a.ticks < b.ticks ? -1 : a.ticks > b.ticks ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = toText(a);
  const y = toText(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function compare(op: string, a: Value, b: Value): boolean {
  if (op === '=~' || op === '!~') {
    const same = toText(a).toLowerCase() === toText(b).toLowerCase();
    return op === '=~' ? same : !same;
  }
  if (a === null || b === null) return op === '!=' ? a !== b : false;
  if ((a instanceof KTime) !== (b instanceof KTime)) {
    throw new KqlError('cannot compare a datetime with a value of another type', 'SemanticError');
  }
  const c = order(a, b);
  switch (op) {
    case '==':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    default:
      return c >= 0;
  }
}
