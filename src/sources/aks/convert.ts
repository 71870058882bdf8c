// `convert --from aks`: Log Analytics rows of AKSAudit, AKSAuditAdmin or AzureDiagnostics, in the
// shapes people have them: what `az monitor log-analytics query` prints (a JSON array of row
// objects), JSON lines of row objects, the query API's own response ({tables: [{columns, rows}]})
// and the {columns, rows} files of samples/aks.
import { InputError, type Converter, type ProviderRecord } from '../../component/converter.js';
import { describe, isPlainObject } from '../../event/event.js';
import { normalizeAksRow } from './normalize.js';

export const aksConverter: Converter = {
  records(values) {
    const out: ProviderRecord[] = [];
    for (const { value, ref } of values) collectRows(value, ref === 'input' ? '' : ref, out);
    return out;
  },
  normalize(record, ref, context) {
    return normalizeAksRow(record, context.cluster ? { cluster: context.cluster } : {}, ref);
  },
};

function collectRows(value: unknown, ref: string, out: ProviderRecord[]): void {
  if (Array.isArray(value)) {
    value.forEach((row, i) => out.push({ record: row, ref: `${ref}[${i}]` }));
    return;
  }
  if (!isPlainObject(value)) throw new InputError(`expected Log Analytics rows, got ${describe(value)}${ref ? ` at ${ref}` : ''}`);
  if (Array.isArray(value.tables)) {
    // The query API's answer: rows are arrays of cells in column order.
    value.tables.forEach((table, t) => {
      if (!isPlainObject(table) || !Array.isArray(table.columns) || !Array.isArray(table.rows)) {
        throw new InputError(`tables[${t}]: expected {columns, rows}`);
      }
      rowsOf(table.columns, table.rows, `${ref}tables[${t}].rows`, out);
    });
    return;
  }
  if (Array.isArray(value.rows)) {
    rowsOf(Array.isArray(value.columns) ? value.columns : undefined, value.rows, `${ref}rows`, out);
    return;
  }
  out.push({ record: value, ref: ref || '[0]' });
}

function rowsOf(columns: unknown[] | undefined, rows: unknown[], ref: string, out: ProviderRecord[]): void {
  const names = columns?.map((c) => (isPlainObject(c) && typeof c.name === 'string' ? c.name : undefined));
  rows.forEach((row, i) => {
    if (Array.isArray(row) && names) {
      const record: Record<string, unknown> = {};
      names.forEach((name, c) => {
        if (name !== undefined) record[name] = row[c];
      });
      out.push({ record, ref: `${ref}[${i}]` });
    } else out.push({ record: row, ref: `${ref}[${i}]` });
  });
}
