// The same AKS record read from Log Analytics (an AzureDiagnostics row, the polled source's
// normalizer) and from Event Hubs (the diagnostic record in a {"records": [...]} message) must give
// the same Event, annotations included: golden on every sample of samples/aks and the testdata of
// src/sources/aks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goJSON } from '../../../src/event/encode.js';
import { isReject, type AuditEvent, type Reject } from '../../../src/event/event.js';
import { aksEventHubsConverter } from '../../../src/sources/aks-eventhubs/convert.js';
import { parseRecordsText, recordFromAzureDiagnosticsRow, type DiagnosticRecord } from '../../../src/sources/aks-eventhubs/emulator/index.js';
import { normalizeMessage, normalizeRecord } from '../../../src/sources/aks-eventhubs/normalize.js';
import { armParts, normalizeAksRow } from '../../../src/sources/aks/normalize.js';
import { SAMPLES, testdata } from '../../helpers/events.js';

type Row = Record<string, unknown>;
const rows = (JSON.parse(readFileSync(join(SAMPLES, 'aks', 'azurediagnostics-rows.json'), 'utf8')) as { rows: Row[] }).rows;

/** A message as the hub delivers it: the bytes of {"records": [...]}. */
const message = (...records: DiagnosticRecord[]): Buffer => Buffer.from(JSON.stringify({ records }), 'utf8');

/** What one record read from a hub gives: the message through normalizeMessage. */
function fromHub(record: DiagnosticRecord): AuditEvent | Reject {
  const out = normalizeMessage(message(record), {}, 'partition 0, sequence number 0');
  expect(out.records).toBe(1);
  expect(out.events.length + out.rejects.length).toBe(1);
  return out.events[0] ?? out.rejects[0]!;
}

/**
 * The AzureDiagnostics row Log Analytics makes of a diagnostic record (samples/aks/README.md):
 * log_s, the upper-case ResourceId with its pieces, and the lower-case _ResourceId.
 */
function rowFromRecord(record: DiagnosticRecord): Row {
  const props = record.properties as Record<string, unknown>;
  const resourceId = String(record.resourceId);
  const parts = armParts(resourceId);
  return {
    TimeGenerated: record.time,
    ResourceId: resourceId.toUpperCase(),
    Category: record.category,
    ResourceGroup: parts.resourceGroup?.toUpperCase(),
    SubscriptionId: parts.subscription?.toUpperCase(),
    OperationName: record.operationName,
    log_s: props.log,
    pod_s: props.pod ?? '',
    stream_s: props.stream ?? '',
    containerID_s: props.containerID ?? '',
    Type: 'AzureDiagnostics',
    _ResourceId: resourceId.toLowerCase(),
    _SubscriptionId: parts.subscription?.toLowerCase(),
  };
}

/** A raw sample file: one pretty-printed record (BOM kept) or JSON lines of records. */
function rawRecords(file: string): DiagnosticRecord[] {
  return parseRecordsText(readFileSync(join(SAMPLES, 'aks', file), 'utf8'));
}

describe('aks-eventhubs normalization: golden against the polled source', () => {
  it('every AzureDiagnostics sample row gives the same Event (or the same reject) from Log Analytics and from Event Hubs', () => {
    expect(rows).toHaveLength(49);
    const hub: (AuditEvent | Reject)[] = [];
    rows.forEach((row, i) => {
      const polled = normalizeAksRow(row, {}, `[${i}]`);
      const record = recordFromAzureDiagnosticsRow(row);
      // Azure writes resourceId upper-case in the record as in the row: the cluster name must not care.
      expect(String(record.resourceId)).toBe(String(row.ResourceId));
      const streamed = fromHub(record);
      hub.push(streamed);
      if (isReject(polled)) {
        expect(isReject(streamed), `row ${i}`).toBe(true);
        expect((streamed as Reject).reason, `row ${i}`).toBe(polled.reason.replace(/\blog_s\b/g, 'properties.log'));
        expect((streamed as Reject).raw).toEqual(record);
      } else {
        expect(streamed, `row ${i}`).toEqual(polled);
        expect(goJSON(streamed), `row ${i}`).toBe(goJSON(polled));
      }
    });
    // And both are the AKS source's own testdata, byte for byte.
    const expected = readFileSync(join(testdata('aks'), 'azurediagnostics-events.jsonl'), 'utf8');
    expect(hub.filter((e) => !isReject(e)).map((e) => `${goJSON(e)}\n`).join('')).toBe(expected);
    const rejects = hub.filter(isReject);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.reason).toMatch(/^properties\.log truncated by Azure Diagnostics at 32,766 bytes/);
  });

  it('annotates cluster, resource id, subscription and group from the upper-case resourceId, lower-cased as the polled source does', () => {
    const event = fromHub(recordFromAzureDiagnosticsRow(rows[0]!)) as AuditEvent;
    expect(event.annotations).toMatchObject({
      cluster_name: 'kubetest',
      subscription_id: 'bfc31cc5-d3bd-4b36-a40e-d13688d546ec',
      resource_group: 'kubeauditlogtest',
    });
    expect(event.annotations?.resource_id).toBe(String(rows[0]!.ResourceId).toLowerCase());
    // clusterName overrides, as for the polled source.
    const named = normalizeRecord(recordFromAzureDiagnosticsRow(rows[0]!), { cluster: 'prod-east' }) as AuditEvent;
    expect(named.annotations?.cluster_name).toBe('prod-east');
  });

  it.each([
    ['sysdig-aks-eventhub-single-record.json', 1],
    ['elastic-kube-audit-diagnostic-record-2025.log', 1],
  ])('the raw record %s gives the Event its Log Analytics row gives', (file, count) => {
    const records = rawRecords(file);
    expect(records).toHaveLength(count);
    for (const record of records) {
      const polled = normalizeAksRow(rowFromRecord(record));
      expect(isReject(polled)).toBe(false);
      expect(fromHub(record)).toEqual(polled);
    }
  });

  it('the 2020 envelope whose payload Elastic reduced to {"kind":"Event"} is a reject either way, with the same reason', () => {
    const [record] = rawRecords('elastic-azure-platformlogs-kube-audit-2020.log');
    const polled = normalizeAksRow(rowFromRecord(record!)) as Reject;
    expect(isReject(polled)).toBe(true);
    expect((fromHub(record!) as Reject).reason).toBe(polled.reason.replace(/\blog_s\b/g, 'properties.log'));
  });

  it('reads properties.log given as an object (some pipelines decode it) as the same Event', () => {
    const record = recordFromAzureDiagnosticsRow(rows[3]!);
    const decoded = { ...record, properties: { ...(record.properties as object), log: JSON.parse(String((record.properties as { log: string }).log)) as unknown } };
    expect(fromHub(decoded)).toEqual(fromHub(record));
  });

  it('keeps every record of a message of many, in order', () => {
    const records = rows.slice(0, 10).map(recordFromAzureDiagnosticsRow);
    const out = normalizeMessage(message(...records), {}, 'partition 1, sequence number 7');
    expect(out.records).toBe(10);
    expect(out.events).toEqual(rows.slice(0, 10).map((r) => normalizeAksRow(r)));
  });
});

describe('aks-eventhubs normalization: what is not an audit event is a reject with a reason', () => {
  const good = recordFromAzureDiagnosticsRow(rows[0]!);

  it('a body that is not JSON (cut in transit) is one reject for the message, naming its size and not its text', () => {
    const text = JSON.stringify({ records: [good] });
    const out = normalizeMessage(Buffer.from(text.slice(0, 200)), {}, 'partition 2, sequence number 5');
    expect(out.events).toEqual([]);
    expect(out.rejects).toEqual([{ reason: 'message body is not JSON (200 bytes; a record cut in transit?)', raw: text.slice(0, 200), ref: 'partition 2, sequence number 5' }]);
  });

  it('a body that is JSON but not {"records": [...]} is a reject', () => {
    expect(normalizeMessage(Buffer.from('[1,2]'), {}, 'p').rejects[0]!.reason).toBe('message body: expected {"records": [...]} as a diagnostic setting sends it, got a list of 2');
    expect(normalizeMessage(Buffer.from('{"value":[]}'), {}, 'p').rejects[0]!.reason).toMatch(/an object without a records list \(keys: value\)/);
    expect(normalizeMessage('"text"', {}, 'p').rejects[0]!.reason).toMatch(/got a string of 4 characters/);
  });

  it('a BOM before the body is ignored', () => {
    const out = normalizeMessage(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), message(good)]), {}, 'p');
    expect(out.events).toHaveLength(1);
  });

  it('a record of another category (the kube-apiserver log routed to the hub) is a reject; the rest of the message still counts', () => {
    const foreign = { ...good, category: 'kube-apiserver', properties: { log: 'I0101 00:00:00.000000       1 httplog.go:132] "HTTP" verb="GET"\n' } };
    const out = normalizeMessage(message(foreign, good), {}, 'partition 0, sequence number 3');
    expect(out.events).toHaveLength(1);
    expect(out.rejects).toHaveLength(1);
    expect(out.rejects[0]).toMatchObject({ ref: 'partition 0, sequence number 3, record 0', raw: foreign });
    expect(out.rejects[0]!.reason).toBe('category "kube-apiserver" is not kube-audit or kube-audit-admin: another log of the cluster sent to this hub by the diagnostic setting, not an audit event');
  });

  it('a kube-audit record whose log is a klog text line is a reject that says so', () => {
    const klog = { ...good, properties: { log: 'I0502 07:08:09.123456       1 httplog.go:132] "HTTP" verb="GET" URI="/readyz"\n' } };
    expect(normalizeRecord(klog, {}, 'r')).toEqual({ reason: "properties.log is a klog text line (the kube-apiserver's own log), not an audit Event", raw: klog, ref: 'r' });
  });

  it('records that are not objects, lack properties, or carry an invalid Event are rejects', () => {
    expect((normalizeRecord('x') as Reject).reason).toMatch(/^expected a diagnostic record \(an object\), got a string of 1 characters/);
    expect((normalizeRecord({ category: 'kube-audit' }) as Reject).reason).toMatch(/^properties: expected an object/);
    expect((normalizeRecord({ category: 'kube-audit', properties: {} }) as Reject).reason).toMatch(/^properties\.log is missing or empty/);
    const invalid = { ...good, properties: { log: JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'x' }) } };
    expect((normalizeRecord(invalid) as Reject).reason).toMatch(/properties\.log/);
  });
});

describe('convert --from aks-eventhubs (the converter)', () => {
  it('reads messages, arrays of records and single records', () => {
    const records = rows.slice(0, 3).map(recordFromAzureDiagnosticsRow);
    const found = aksEventHubsConverter.records([
      { value: { records: records.slice(0, 2) }, ref: 'line 1' },
      { value: records.slice(2), ref: 'line 2' },
      { value: records[0], ref: 'line 3' },
    ]);
    expect(found.map((r) => r.ref)).toEqual(['line 1records[0]', 'line 1records[1]', 'line 2[0]', 'line 3']);
    expect(found.map((r) => aksEventHubsConverter.normalize(r.record, r.ref, {}))).toEqual([0, 1, 2, 0].map((i) => normalizeAksRow(rows[i]!)));
    expect(() => aksEventHubsConverter.records([{ value: 3, ref: 'input' }])).toThrow(/expected diagnostic records/);
  });
});
