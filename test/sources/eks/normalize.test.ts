import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/component/converter.js';
import { eksConverter, normalizeEksRecord } from '../../../src/sources/eks/normalize.js';
import { goJSON } from '../../../src/event/encode.js';
import { isReject, validateEvent, type AuditEvent, type Reject } from '../../../src/event/event.js';
import { testdata } from '../../helpers/events.js';
import { sampleRecords } from './helpers.js';

const CONTEXT = { cluster: 'demo-eks', region: 'us-east-1', accountId: '123456789012' };

describe('normalizeEksRecord on the EKS samples (golden)', () => {
  const records = sampleRecords();
  const golden = readFileSync(`${testdata('eks')}expected-normalized.jsonl`, 'utf8').trimEnd().split('\n');

  it('matches the golden output record by record', () => {
    expect(records).toHaveLength(37);
    const out = records.map((r) => {
      const res = normalizeEksRecord(r, CONTEXT);
      return isReject(res) ? JSON.stringify({ reject: res.reason, ref: res.ref }) : goJSON(res);
    });
    expect(out).toEqual(golden);
  });

  it('keeps each message byte for byte, adding only the cluster, region and account annotations', () => {
    for (const record of records.filter((r) => !r.message.endsWith('[Truncated...]'))) {
      const event = normalizeEksRecord(record, CONTEXT) as AuditEvent;
      expect(isReject(event)).toBe(false);
      expect(event.annotations).toMatchObject({ cluster_name: 'demo-eks', region: 'us-east-1', account_id: '123456789012' });
      const { cluster_name: _c, region: _r, account_id: _a, ...own } = event.annotations!;
      const stripped = { ...event, annotations: own } as Record<string, unknown>;
      if (Object.keys(own).length === 0) delete stripped.annotations;
      expect(goJSON(stripped)).toBe(record.message);
    }
  });

  it('rejects the truncated record with a reason naming what survived of it', () => {
    const truncated = records.find((r) => r.message.endsWith('[Truncated...]'))!;
    const res = normalizeEksRecord(truncated, CONTEXT) as Reject;
    expect(isReject(res)).toBe(true);
    expect(res.reason).toMatch(/^truncated message: cut by CloudWatch Logs at \d+ characters \(auditID [0-9a-f-]{36}, stage ResponseComplete, verb create/);
    expect(res.ref).toBe(`eventId ${truncated.eventId}`);
    expect(res.raw).toBe(truncated);
  });
});

describe('normalizeEksRecord', () => {
  const v1 = sampleRecords()[0]!;

  it('brings a v1beta1 event to v1: top-level timestamp and metadata.creationTimestamp dropped', () => {
    const event = JSON.parse(v1.message) as Record<string, unknown>;
    const beta = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1beta1',
      metadata: { creationTimestamp: '2018-10-25T13:58:49Z' },
      timestamp: '2018-10-25T13:58:49Z',
      ...Object.fromEntries(Object.entries(event).filter(([k]) => k !== 'kind' && k !== 'apiVersion')),
    };
    const res = normalizeEksRecord({ ...v1, message: JSON.stringify(beta) }, CONTEXT);
    expect(res).toEqual(normalizeEksRecord(v1, CONTEXT));
    expect(goJSON(res)).toBe(goJSON(normalizeEksRecord(v1, CONTEXT)));
  });

  it('brings timestamps to six fractional digits in UTC', () => {
    const event = JSON.parse(v1.message) as Record<string, unknown>;
    event.stageTimestamp = '2018-10-25T15:58:49.7+02:00';
    const res = normalizeEksRecord({ ...v1, message: JSON.stringify(event) }) as AuditEvent;
    expect(res.stageTimestamp).toBe('2018-10-25T13:58:49.700000Z');
  });

  it.each([
    [{ message: 42 }, /^not a log event: message: expected a string/],
    ['text', /^not a log event/],
    [{ message: 'I1204 12:00:00 kube-apiserver started' }, /^malformed message: not JSON/],
    [{ message: '[1,2]' }, /^malformed message: expected an audit Event object/],
    [{ message: '{"kind":"EventList","items":[]}' }, /^malformed message: kind: expected "Event"/],
    [{ message: '{"kind":"Event","apiVersion":"audit.k8s.io/v2"}' }, /^malformed message: apiVersion/],
    [{ message: '{"kind":"Event","auditID":"a1","stage":"ResponseComplete","verb":"get"}' }, /^invalid event: level: .*\(and \d+ more\) \(auditID a1, stage ResponseComplete, verb get\)$/],
  ])('rejects %j with a reason', (record, reason) => {
    const res = normalizeEksRecord(record);
    expect(isReject(res)).toBe(true);
    expect((res as Reject).reason).toMatch(reason);
  });

  it('never throws: any record is an Event that validates or a Reject with a reason (property)', () => {
    const messages = sampleRecords().map((r) => r.message);
    const message = fc.oneof(
      fc.string(),
      fc.json(),
      // a sample cut anywhere, with or without the marker EKS appends
      fc.tuple(fc.constantFrom(...messages), fc.nat(), fc.boolean()).map(([m, n, marker]) => m.slice(0, n % (m.length + 1)) + (marker ? '[Truncated...]' : '')),
      // a sample with one field replaced by an arbitrary JSON value
      fc.tuple(fc.constantFrom(...messages.filter((m) => !m.endsWith('[Truncated...]'))), fc.constantFrom('level', 'auditID', 'stage', 'verb', 'user', 'stageTimestamp', 'annotations', 'objectRef'), fc.jsonValue()).map(
        ([m, key, value]) => JSON.stringify({ ...(JSON.parse(m) as object), [key]: value }),
      ),
    );
    const record = fc.oneof(fc.anything(), fc.record({ message, timestamp: fc.integer(), eventId: fc.string() }, { requiredKeys: [] }));
    fc.assert(
      fc.property(record, (r) => {
        const res = normalizeEksRecord(r, CONTEXT);
        if (isReject(res)) return res.reason.length > 0 && Object.is(res.raw, r);
        return validateEvent(res).length === 0 && res.annotations?.cluster_name === 'demo-eks';
      }),
      { numRuns: 2000 },
    );
  });
});

describe('eksConverter.records', () => {
  const event = { logStreamName: 's', timestamp: 1, message: '{}', eventId: '1' };

  it('reads the aws logs filter-log-events output, a JSON array and JSON lines', () => {
    expect(eksConverter.records([{ value: { events: [event, event], searchedLogStreams: [] }, ref: 'input' }]).map((r) => r.ref)).toEqual(['events[0]', 'events[1]']);
    expect(eksConverter.records([{ value: [event], ref: 'input' }]).map((r) => r.ref)).toEqual(['[0]']);
    expect(eksConverter.records([{ value: event, ref: 'line 1' }, { value: event, ref: 'line 2' }]).map((r) => r.ref)).toEqual(['line 1', 'line 2']);
    // several pages of the CLI output as JSON lines
    expect(eksConverter.records([{ value: { events: [event] }, ref: 'line 1' }, { value: { events: [event] }, ref: 'line 2' }]).map((r) => r.ref)).toEqual(['line 1 events[0]', 'line 2 events[0]']);
  });

  it('refuses a single document of another shape', () => {
    expect(() => eksConverter.records([{ value: { entries: [] }, ref: 'input' }])).toThrow(InputError);
  });
});
