import { describe, expect, it } from 'vitest';
import { everyNth, parseGkeFaults } from '../../../../src/sources/gke/emulator/faults.js';
import { compileFilter } from '../../../../src/sources/gke/emulator/filter.js';
import { baseFilter, windowFilter } from '../../../../src/sources/gke/filter.js';
import { formatTimeNs, parseTimeNs } from '../../../../src/sources/gke/time.js';

function entry(json: Record<string, unknown>, time = '2026-01-01T00:00:00.000000500Z') {
  return { json, timestampNs: parseTimeNs(time)! };
}

describe('emulator filter language subset', () => {
  const e = entry({ logName: 'projects/p/logs/x', resource: { type: 'k8s_cluster', labels: { cluster_name: 'c1' } }, protoPayload: { methodName: 'io.k8s.coordination.v1.leases.update' } });

  it('juxtaposition is AND; OR binds tighter than AND, as in Cloud Logging', () => {
    expect(compileFilter('resource.type="k8s_cluster" resource.labels.cluster_name="c1"')(e)).toBe(true);
    expect(compileFilter('resource.type="k8s_cluster" resource.labels.cluster_name="c2"')(e)).toBe(false);
    // a OR b AND c  ==  (a OR b) AND c
    expect(compileFilter('logName="nope" OR resource.type="k8s_cluster" AND resource.labels.cluster_name="c2"')(e)).toBe(false);
    expect(compileFilter('(resource.labels.cluster_name="c2" OR resource.labels.cluster_name="c1")')(e)).toBe(true);
  });

  it('NOT, -, regular expressions, has (:) and missing fields', () => {
    expect(compileFilter('NOT (protoPayload.methodName=~"coordination\\.v1\\.leases\\." AND resource.type="k8s_cluster")')(e)).toBe(false);
    expect(compileFilter('-resource.labels.cluster_name="c1"')(e)).toBe(false);
    expect(compileFilter('protoPayload.methodName:"leases"')(e)).toBe(true);
    expect(compileFilter('protoPayload.methodName!~"^io"')(e)).toBe(false);
    expect(compileFilter('protoPayload.nothing="x"')(e)).toBe(false);
    expect(compileFilter('protoPayload.nothing!="x"')(e)).toBe(true);
  });

  it('compares timestamps to the nanosecond', () => {
    expect(compileFilter('timestamp>="2026-01-01T00:00:00.0000005Z"')(e)).toBe(true);
    expect(compileFilter('timestamp>"2026-01-01T00:00:00.000000500Z"')(e)).toBe(false);
    expect(compileFilter('timestamp<"2026-01-01T00:00:00.000000501Z"')(e)).toBe(true);
    expect(compileFilter('timestamp>="2025-12-31T23:00:00-01:00"')(e)).toBe(true);
  });

  it('refuses what it does not understand', () => {
    expect(() => compileFilter('timestamp>="yesterday"')).toThrow(/RFC 3339/);
    expect(() => compileFilter('(a="b"')).toThrow(/missing \)/);
    expect(() => compileFilter('a="b")')).toThrow(/unbalanced/);
    expect(() => compileFilter('justaword')).toThrow(/expected a comparison/);
  });

  it('understands every filter the source sends', () => {
    const base = baseFilter({ projectId: 'p', logs: ['activity', 'data_access'], clusters: ['c1', 'c"2'], locations: ['l1'], extra: 'NOT protoPayload.methodName:"leases"' });
    const match = compileFilter(windowFilter(base, parseTimeNs('2026-01-01T00:00:00Z')!, parseTimeNs('2026-01-01T00:00:01Z')!));
    const ok = entry({ logName: 'projects/p/logs/cloudaudit.googleapis.com%2Fdata_access', resource: { type: 'k8s_cluster', labels: { cluster_name: 'c"2', location: 'l1' } }, protoPayload: { methodName: 'io.k8s.core.v1.pods.get' } });
    expect(match(ok)).toBe(true);
    expect(match({ ...ok, timestampNs: parseTimeNs('2026-01-01T00:00:01Z')! })).toBe(false);
  });
});

describe('nanosecond time text', () => {
  it('round-trips and keeps nine digits', () => {
    const ns = parseTimeNs('2026-09-04T20:41:13.814718932Z')!;
    expect(formatTimeNs(ns)).toBe('2026-09-04T20:41:13.814718932Z');
    expect(formatTimeNs(parseTimeNs('1969-12-31T23:59:59.5Z')!)).toBe('1969-12-31T23:59:59.500000000Z');
  });
});

describe('emulator faults', () => {
  it('parses the comma list and refuses unknown faults', () => {
    expect(parseGkeFaults('throttle-every=5, slow-page-ms=200,late-every=3')).toEqual({ throttleEvery: 5, slowPageMs: 200, lateEvery: 3, lateMs: 30_000 });
    expect(() => parseGkeFaults('throttle=5')).toThrow(/unknown fault "throttle"/);
    expect(() => parseGkeFaults('late-ms=soon')).toThrow(/whole number/);
    expect([1, 2, 3, 4, 6].map((n) => everyNth(3, n))).toEqual([false, false, true, false, true]);
    expect(everyNth(undefined, 3)).toBe(false);
  });
});
