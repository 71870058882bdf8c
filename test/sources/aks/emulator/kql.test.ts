import { describe, expect, it } from 'vitest';
import { KqlError, KTime, parseQuery, runQuery, type EvalRow } from '../../../../src/sources/aks/emulator/kql.js';
import { schemaOf, TABLE_NAMES } from '../../../../src/sources/aks/emulator/tables.js';
import { formatTicks, kustoTime, parseTicks } from '../../../../src/sources/aks/kusto-time.js';
import { buildPageQuery, kqlString } from '../../../../src/sources/aks/query.js';

const schemas = new Map(TABLE_NAMES.map((t) => [t, schemaOf(t)]));

function row(n: number, ing: string, extra: Record<string, unknown> = {}): EvalRow {
  return {
    cells: { AuditId: `id-${n}`, Stage: 'ResponseComplete', Level: 'Metadata', Verb: 'get', RequestReceivedTime: '2026-01-02T03:04:05.1234567Z', _ResourceId: '/subscriptions/s/resourcegroups/g/providers/microsoft.containerservice/managedclusters/c', ...extra },
    ingestion: new KTime(parseTicks(ing)!),
  };
}

describe('Kusto datetimes', () => {
  it('keeps 100 ns ticks through text and back, whatever the number of digits', () => {
    expect(formatTicks(parseTicks('2020-05-05T16:16:37.6559120Z')!)).toBe('2020-05-05T16:16:37.6559120Z');
    expect(formatTicks(parseTicks('2020-05-05T16:16:37.65Z')!)).toBe('2020-05-05T16:16:37.6500000Z');
    expect(formatTicks(parseTicks('2020-05-05T16:16:37Z')!)).toBe('2020-05-05T16:16:37.0000000Z');
    expect(parseTicks('2020-05-05T16:16:37.123456789Z')).toBe(parseTicks('2020-05-05T16:16:37.1234567Z'));
    expect(kustoTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.6780000Z');
    expect(parseTicks('2020-05-05 16:16:37')).toBeUndefined();
  });
});

describe('the bridge query and the emulator KQL subset', () => {
  const scope = { table: 'AKSAudit' as const, categories: [], resourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/C' };
  const rows = [row(3, '2026-01-02T03:00:00.0000002Z'), row(1, '2026-01-02T03:00:00.0000001Z'), row(2, '2026-01-02T03:00:00.0000001Z'), row(4, '2026-01-02T03:10:00Z')];

  it('pages by (ingestion time, key) with 100 ns precision and keeps datetimes as 7-digit text', () => {
    const first = buildPageQuery(scope, { lower: { from: '2026-01-02T02:00:00.0000000Z' }, end: '2026-01-02T03:05:00.0000000Z', take: 2 });
    const out = runQuery(parseQuery(first, schemas), rows, schemaOf('AKSAudit'));
    expect(out.rows.map((r) => [r[0], r[1]])).toEqual([
      ['2026-01-02T03:00:00.0000001Z', 'id-1|ResponseComplete'],
      ['2026-01-02T03:00:00.0000001Z', 'id-2|ResponseComplete'],
    ]);
    const names = out.columns.map((c) => c.name);
    expect(out.rows[0]![names.indexOf('RequestReceivedTime')]).toBe('2026-01-02T03:04:05.1234567Z');
    expect(out.columns.find((c) => c.name === 'RequestReceivedTime')!.type).toBe('string');
    const next = buildPageQuery(scope, { lower: { after: { ing: '2026-01-02T03:00:00.0000001Z', key: 'id-2|ResponseComplete' } }, end: '2026-01-02T03:05:00.0000000Z', take: 2 });
    expect(runQuery(parseQuery(next, schemas), rows, schemaOf('AKSAudit')).rows.map((r) => r[1])).toEqual(['id-3|ResponseComplete']);
  });

  it('filters the resource id case-insensitively, categories exactly, and extracts the AzureDiagnostics key from a cut log_s', () => {
    const other = row(5, '2026-01-02T03:00:00Z', { _ResourceId: '/subscriptions/x/resourcegroups/g/providers/microsoft.containerservice/managedclusters/other' });
    const q = buildPageQuery(scope, { lower: { from: '2026-01-02T00:00:00Z' }, end: '2026-01-03T00:00:00Z', take: 10 });
    expect(runQuery(parseQuery(q, schemas), [...rows, other], schemaOf('AKSAudit')).rows).toHaveLength(4);
    const diag = (n: number, category: string): EvalRow => ({
      cells: { Category: category, log_s: `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-${n}","stage":"ResponseComplete","requestURI":"/ap`, _ResourceId: 'r' },
      ingestion: new KTime(parseTicks('2026-01-02T03:00:00Z')! + BigInt(n)),
    });
    const dq = buildPageQuery({ table: 'AzureDiagnostics', categories: ['kube-audit'] }, { lower: { from: '2026-01-02T00:00:00Z' }, end: '2026-01-03T00:00:00Z', take: 10 });
    const out = runQuery(parseQuery(dq, schemas), [diag(1, 'kube-audit'), diag(2, 'kube-audit-admin'), diag(3, 'kube-audit')], schemaOf('AzureDiagnostics'));
    expect(out.rows.map((r) => String(r[1]).replace(/\|-?\d+$/, ''))).toEqual(['a-1|ResponseComplete|kube-audit', 'a-3|ResponseComplete|kube-audit']);
    expect(new Set(out.rows.map((r) => String(r[1]).split('|')[3])).size).toBe(2);
  });

  it('escapes string literals so a key or resource id cannot change the query', () => {
    expect(kqlString('a"b\\c')).toBe('"a\\"b\\\\c"');
    const q = `AKSAudit | where AuditId == ${kqlString('x" or 1 == 1 or "')} | project AuditId`;
    expect(runQuery(parseQuery(q, schemas), rows, schemaOf('AKSAudit')).rows).toEqual([]);
  });

  it('refuses what it does not understand: unknown operators, functions, tables and columns, broken syntax', () => {
    const refuse = (q: string, kind: string, message: RegExp): void => {
      let err: unknown;
      try {
        parseQuery(q, schemas);
      } catch (e) {
        err = e;
      }
      expect(err, q).toBeInstanceOf(KqlError);
      expect((err as KqlError).kind).toBe(kind);
      expect((err as KqlError).message).toMatch(message);
    };
    refuse('AKSAudit | summarize count() by Verb', 'SyntaxError', /unsupported operator 'summarize'/);
    refuse('AKSAudit | where parse_json(User) == "x"', 'SemanticError', /Unknown function: 'parse_json'/);
    refuse('ContainerLog | take 1', 'SemanticError', /Failed to resolve table expression named 'ContainerLog'/);
    refuse('AKSAudit | where log_s == ""', 'SemanticError', /Failed to resolve scalar expression named 'log_s'/);
    refuse('AKSAudit | where (Verb == "get"', 'SyntaxError', /expected "\)"/);
    refuse('AKSAudit | take', 'SyntaxError', /expected a number/);
    refuse('AKSAudit | project AuditId | where Verb == "get"', 'SemanticError', /'Verb'/);
  });

  it('sorts descending by default, as Kusto does, and counts', () => {
    const q = parseQuery('AKSAudit | extend _ing = ingestion_time() | top 2 by _ing | project AuditId', schemas);
    expect(runQuery(q, rows, schemaOf('AKSAudit')).rows).toEqual([['id-4'], ['id-3']]);
    expect(runQuery(parseQuery('AKSAudit | where Verb in ("get", "list") | count', schemas), rows, schemaOf('AKSAudit')).rows).toEqual([[4]]);
  });
});
