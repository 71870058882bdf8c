import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aksConverter } from '../../../src/sources/aks/convert.js';
import { normalizeAksRow, SKIPPED_OBJECT, LOG_S_LIMIT_BYTES } from '../../../src/sources/aks/normalize.js';
import { TRUNCATED_ANNOTATION } from '../../../src/event/event.js';
import { goJSON } from '../../../src/event/encode.js';
import { isReject, validateEvent, type AuditEvent, type Reject } from '../../../src/event/event.js';
import { SAMPLES, testdata } from '../../helpers/events.js';

type Row = Record<string, unknown>;
const file = (name: string): { rows: Row[]; columns: { name: string }[] } => JSON.parse(readFileSync(join(SAMPLES, 'aks', name), 'utf8')) as { rows: Row[]; columns: { name: string }[] };
const aksAudit = file('aksaudit-rows.json').rows;
const diagnostics = file('azurediagnostics-rows.json').rows;

function convertAll(rows: Row[]): (AuditEvent | Reject)[] {
  return rows.map((r, i) => aksConverter.normalize(r, `[${i}]`, {}));
}

describe('AKS normalization, golden on samples/aks', () => {
  it('AKSAudit rows give the expected Events, byte for byte', () => {
    const out = convertAll(aksAudit);
    expect(out.every((e) => !isReject(e))).toBe(true);
    const expected = readFileSync(join(testdata('aks'), 'aksaudit-events.jsonl'), 'utf8');
    expect(out.map((e) => `${goJSON(e)}\n`).join('')).toBe(expected);
  });

  it('AzureDiagnostics rows give the expected Events; the log_s cut at 32,766 bytes is a Reject that says so', () => {
    const out = convertAll(diagnostics);
    const rejects = out.filter(isReject);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.ref).toBe('[48]');
    expect(Buffer.byteLength(String(diagnostics[48]!.log_s))).toBe(LOG_S_LIMIT_BYTES);
    expect(rejects[0]!.reason).toBe(
      'log_s truncated by Azure Diagnostics at 32,766 bytes (Azure/AKS#3316): the event is not valid JSON and cannot be rebuilt (auditID b5f07326-efc1-5b04-ad16-9f8ecbc6a8a6, stage ResponseComplete)',
    );
    expect(rejects[0]!.raw).toBe(diagnostics[48]);
    const expected = readFileSync(join(testdata('aks'), 'azurediagnostics-events.jsonl'), 'utf8');
    expect(out.filter((e) => !isReject(e)).map((e) => `${goJSON(e)}\n`).join('')).toBe(expected);
  });

  it('the two tables yield the same Event for the same record (row i of one file is row i of the other)', () => {
    const a = convertAll(aksAudit);
    const d = convertAll(diagnostics);
    for (let i = 0; i < 48; i++) {
      const { impersonatedUser: _dropped, ...fromLog } = d[i] as AuditEvent;
      expect(a[i], `row ${i}`).toEqual(fromLog);
    }
  });

  it('keeps microseconds from 7-digit datetimes and never goes through a millisecond Date', () => {
    const e = normalizeAksRow(aksAudit[0]) as AuditEvent;
    expect(aksAudit[0]!.RequestReceivedTime).toBe('2020-05-05T16:16:37.6559120Z');
    expect(e.requestReceivedTimestamp).toBe('2020-05-05T16:16:37.655912Z');
    expect(e.stageTimestamp).toBe('2020-05-05T16:16:37.663647Z');
    expect(normalizeAksRow({ ...aksAudit[0], StageReceivedTime: '2020-05-05T16:16:37.66Z' })).toMatchObject({ stageTimestamp: '2020-05-05T16:16:37.660000Z' });
  });

  it('drops a skipped-too-big-size-object body, keeps the event and marks it truncated', () => {
    const row = aksAudit[48]!;
    expect(row.ResponseObject).toBe(SKIPPED_OBJECT);
    const e = normalizeAksRow(row) as AuditEvent;
    expect(e.responseObject).toBeUndefined();
    expect('responseObject' in e).toBe(false);
    expect(e.annotations?.[TRUNCATED_ANNOTATION]).toBe('true');
    expect(e.verb).toBe('list');
    const untouched = normalizeAksRow(aksAudit[0]) as AuditEvent;
    expect(untouched.annotations?.[TRUNCATED_ANNOTATION]).toBeUndefined();
  });

  it('omits empty columns (Go omitempty) and annotates cluster, resource id, subscription and group', () => {
    const e = normalizeAksRow(aksAudit[0]) as AuditEvent;
    expect(aksAudit[0]!.ObjectRef).toBe('');
    expect('objectRef' in e).toBe(false);
    expect('requestObject' in e).toBe(false);
    expect(e.annotations).toMatchObject({
      cluster_name: 'kubetest',
      subscription_id: 'bfc31cc5-d3bd-4b36-a40e-d13688d546ec',
      resource_group: 'kubeauditlogtest',
      resource_id: '/subscriptions/bfc31cc5-d3bd-4b36-a40e-d13688d546ec/resourcegroups/kubeauditlogtest/providers/microsoft.containerservice/managedclusters/kubetest',
    });
    expect((normalizeAksRow(aksAudit[0], { cluster: 'prod-east' }) as AuditEvent).annotations?.cluster_name).toBe('prod-east');
  });

  it('reads rows as the SDK hands them over: dynamic cells parsed, datetimes as Dates', () => {
    const row = aksAudit[3]!;
    const sdkRow: Row = { ...row, RequestReceivedTime: new Date(String(row.RequestReceivedTime)) };
    for (const c of ['User', 'SourceIps', 'ObjectRef', 'ResponseStatus', 'RequestObject', 'ResponseObject', 'Annotations']) {
      const v = row[c];
      if (typeof v === 'string' && v !== '' && v !== SKIPPED_OBJECT) sdkRow[c] = JSON.parse(v) as unknown;
    }
    const fromWire = normalizeAksRow(row) as AuditEvent;
    const fromSdk = normalizeAksRow(sdkRow) as AuditEvent;
    expect(fromSdk).toEqual({ ...fromWire, requestReceivedTimestamp: `${String(row.RequestReceivedTime).slice(0, 23)}000Z` });
  });

  it('reads the shapes convert takes: az rows, JSON lines, the {columns, rows} file and the query API answer', () => {
    const columns = file('aksaudit-rows.json').columns.map((c) => c.name);
    const api = { tables: [{ name: 'PrimaryResult', columns: columns.map((name) => ({ name, type: 'string' })), rows: aksAudit.slice(0, 3).map((r) => columns.map((c) => r[c])) }] };
    const viaApi = aksConverter.records([{ value: api, ref: 'input' }]);
    expect(viaApi.map((r) => r.ref)).toEqual(['tables[0].rows[0]', 'tables[0].rows[1]', 'tables[0].rows[2]']);
    expect(viaApi.map((r) => normalizeAksRow(r.record))).toEqual(aksAudit.slice(0, 3).map((r) => normalizeAksRow(r)));
    const viaArray = aksConverter.records([{ value: aksAudit.slice(0, 2), ref: 'input' }]);
    expect(viaArray.map((r) => r.ref)).toEqual(['[0]', '[1]']);
    const viaLines = aksConverter.records([{ value: aksAudit[0], ref: 'line 1' }, { value: aksAudit[1], ref: 'line 2' }]);
    expect(viaLines.map((r) => r.ref)).toEqual(['line 1', 'line 2']);
    expect(() => aksConverter.records([{ value: 'text', ref: 'input' }])).toThrow(/expected Log Analytics rows/);
  });

  it('rejects bad rows with a reason naming the column', () => {
    expect((normalizeAksRow({ ...aksAudit[0], User: '{"username": broken' }) as Reject).reason).toMatch(/^AKSAudit row: User: expected JSON/);
    expect((normalizeAksRow({ ...aksAudit[0], Stage: 'Done' }) as Reject).reason).toMatch(/stage: expected one of/);
    expect((normalizeAksRow({ ...aksAudit[0], StageReceivedTime: 'yesterday' }) as Reject).reason).toMatch(/StageReceivedTime: expected an ISO 8601/);
    expect((normalizeAksRow({ ...diagnostics[0], log_s: '{"kind":"Event"' }) as Reject).reason).toMatch(/^log_s is not valid JSON/);
    expect((normalizeAksRow({ ...diagnostics[0], log_s: '' }) as Reject).reason).toMatch(/^log_s is missing or empty/);
    expect((normalizeAksRow({ ...diagnostics[0], log_s: '{"kind":"Policy"}' }) as Reject).reason).toMatch(/^log_s.kind/);
    expect((normalizeAksRow(42) as Reject).reason).toMatch(/expected a Log Analytics row/);
  });

  it('never throws on arbitrary rows: every result is a valid Event or a Reject with a reason', () => {
    const cell = fc.oneof(fc.string(), fc.json(), fc.constant(SKIPPED_OBJECT), fc.constant(''), fc.constant(null), fc.integer(), fc.object());
    const base = fc.constantFrom(...aksAudit, ...diagnostics);
    const mutation = fc.record({ column: fc.constantFrom(...Object.keys(aksAudit[0]!), ...Object.keys(diagnostics[0]!)), value: cell });
    fc.assert(
      fc.property(base, fc.array(mutation, { maxLength: 4 }), fc.option(fc.string()), (row, mutations, cut) => {
        const r: Row = { ...row };
        for (const m of mutations) r[m.column] = m.value;
        if (cut !== null && typeof r.log_s === 'string') r.log_s = r.log_s.slice(0, cut.length * 7);
        const out = normalizeAksRow(r);
        if (isReject(out)) expect(out.reason.length).toBeGreaterThan(0);
        else expect(validateEvent(out)).toEqual([]);
      }),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const out = normalizeAksRow(value);
        return isReject(out) ? out.reason.length > 0 : validateEvent(out).length === 0;
      }),
    );
  });
});

