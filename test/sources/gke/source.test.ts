// The gke source end to end: the real @google-cloud/logging SDK over gRPC against the local
// ListLogEntries emulator on 127.0.0.1. Time is virtual (the emulator's ingestion-time visibility
// follows the same clock) except where the quota's pacing is the point.

import { afterEach, describe, expect, it } from 'vitest';
import type { GkeEmulator } from '../../../src/sources/gke/emulator/server.js';
import { canonicalMicroTime, validateEvent } from '../../../src/event/event.js';
import { SourceStoppedError } from '../../../src/pipeline/source-runner.js';
import type { Cursor } from '../../../src/pipeline/types.js';
import { formatTimeNs, msToNs, parseTimeNs } from '../../../src/sources/gke/time.js';
import { systemClock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { VirtualClock } from '../../helpers/clock.js';
import { eventually } from '../../helpers/pipeline.js';
import { metricValue } from '../../helpers/webhook.js';
import { drain, gkeConfig, gkeEntry, gkeSource, startEmulator } from './helpers.js';

let emulator: GkeEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

function ids(events: { auditID: string }[]): string[] {
  return events.map((e) => e.auditID);
}

function windowComplete(cursor: Cursor | undefined): boolean {
  return cursor !== undefined && cursor.resume === undefined;
}

describe('gke source against the emulator', () => {
  it('pages through a window in timestamp order with pageSize 1000, decoding the AuditLog payload', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = Array.from({ length: 2500 }, (_, i) => gkeEntry(`e${String(i).padStart(5, '0')}`, t0 - 600_000 + i * 100, { nanos: i === 0 ? 456_789 : 0 }));
    emulator = await startEmulator(entries, {}, () => clock.now());
    const { source } = gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-15m' }), clock, { once: true });
    const { batches, events } = await drain(source, undefined);

    expect(batches).toHaveLength(3);
    expect(batches.map((b) => b.events.length)).toEqual([1000, 1000, 500]);
    expect(ids(events)).toEqual(entries.map((e) => e.insertId));
    for (const e of events.slice(0, 50)) expect(validateEvent(e)).toEqual([]);
    // microseconds survive the SDK (its Date would keep milliseconds)
    expect(events[0]!.stageTimestamp).toBe(canonicalMicroTime(entries[0]!.timestamp as string));
    expect(events[0]!.stageTimestamp).toMatch(/\.\d{3}456Z$/);
    // the Struct request came back as plain JSON, without GKE's "@type"
    expect(events[0]!.requestObject).toEqual({ data: { n: 1, list: [true, null, 'x'], nested: { deep: 'yes' } } });
    expect(events[0]!.annotations).toEqual({ 'authorization.k8s.io/decision': 'allow', cluster_name: 'c1', location: 'l1', project_id: 'test-project' });

    const calls = emulator.calls;
    expect(calls).toHaveLength(3);
    for (const call of calls) {
      expect(call).toMatchObject({ pageSize: 1000, orderBy: 'timestamp asc', resourceNames: ['projects/test-project'], outcome: 'OK' });
      expect(call.filter).toContain('resource.type="k8s_cluster"');
      expect(call.filter).toContain('logName="projects/test-project/logs/cloudaudit.googleapis.com%2Factivity"');
      expect(call.filter).toContain(`timestamp<"${new Date(t0 - 30_000).toISOString().slice(0, 19)}.000000000Z"`);
    }
    expect(calls[1]!.pageToken).not.toBe('');
    // the window's end becomes the watermark
    expect(batches[2]!.cursor).toMatchObject({ watermark: `${new Date(t0 - 30_000).toISOString().slice(0, 19)}.000000000Z` });
  });

  it('sends clusters, locations, data_access and the user filter; the emulator applies them', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = [
      gkeEntry('a', t0 - 100_000, { cluster: 'c1' }),
      gkeEntry('b', t0 - 99_000, { cluster: 'c2' }),
      gkeEntry('c', t0 - 98_000, { cluster: 'c3' }),
      { ...gkeEntry('d', t0 - 97_000, { cluster: 'c1' }), logName: 'projects/test-project/logs/cloudaudit.googleapis.com%2Fdata_access' },
      gkeEntry('lease', t0 - 96_000, { cluster: 'c1' }),
    ];
    const lease = entries[4]!.protoPayload as Record<string, unknown>;
    lease.methodName = 'io.k8s.coordination.v1.leases.update';
    lease.authenticationInfo = { principalEmail: 'system:kube-scheduler' };
    emulator = await startEmulator(entries, {}, () => clock.now());
    const config = gkeConfig(emulator.endpoint, {
      startFrom: '-5m',
      clusters: ['c1', 'c2'],
      locations: ['l1'],
      logs: ['activity', 'data_access'],
      filter: 'NOT (protoPayload.methodName=~"coordination\\.v1\\.leases\\." AND protoPayload.authenticationInfo.principalEmail=~"^system:")',
    });
    const { events } = await drain(gkeSource(config, clock, { once: true }).source, undefined);
    expect(ids(events)).toEqual(['a', 'b', 'd']);
    expect(emulator.calls[0]!.filter).toContain('(resource.labels.cluster_name="c1" OR resource.labels.cluster_name="c2")');
  });

  it('delivers entries with equal timestamps across page and window boundaries exactly once', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const end1 = t0 - 30_000; // the first window's end (exclusive)
    const entries = [
      ...Array.from({ length: 7 }, (_, i) => gkeEntry(`same-${i}`, t0 - 60_000)), // one timestamp across pages of 3
      ...Array.from({ length: 4 }, (_, i) => gkeEntry(`edge-${i}`, end1)), // exactly at the window's end
      gkeEntry('later', end1 + 5_000),
    ];
    emulator = await startEmulator(entries, {}, () => clock.now());
    const { source } = gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-5m', pageSize: 3 }), clock);
    const { batches, events } = await drain(source, undefined, () => clock.now() > t0 + 25_000);
    expect(ids(events).sort()).toEqual(entries.map((e) => e.insertId as string).sort());
    // the edge entries are not in the first window (timestamp < end), but in the next one
    const firstWindowEnd = batches.findIndex((b) => windowComplete(b.cursor));
    expect(ids(batches.slice(0, firstWindowEnd + 1).flatMap((b) => b.events))).toEqual(Array.from({ length: 7 }, (_, i) => `same-${i}`));
  });

  it('picks up entries that arrive late inside the overlap, exactly once', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = [
      gkeEntry('on-time-1', t0 - 61_000),
      gkeEntry('late', t0 - 60_000, { lagMs: 100_000 }), // visible only at t0 + 40 s
      gkeEntry('on-time-2', t0 - 59_000),
    ];
    emulator = await startEmulator(entries, { lateEvery: 3, lateMs: 60_000 }, () => clock.now());
    const { source } = gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-5m' }), clock);
    const { batches, events } = await drain(source, undefined, () => clock.now() > t0 + 180_000);
    expect(ids(events).sort()).toEqual(['late', 'on-time-1', 'on-time-2']);
    expect(ids(batches[0]!.events)).toEqual(['on-time-1']); // the late-every fault hid on-time-2 too, at first
    expect(emulator.calls.length).toBeGreaterThan(5); // it polled again and again over the same overlap
  });

  it('backs off on RESOURCE_EXHAUSTED and UNAVAILABLE, re-queries from the checkpoint and loses nothing', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = Array.from({ length: 50 }, (_, i) => gkeEntry(`q${String(i).padStart(3, '0')}`, t0 - 120_000 + i * 1000));
    emulator = await startEmulator(entries, { throttleEvery: 2, unavailableEvery: 3 }, () => clock.now());
    const { source, metrics } = gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-5m', pageSize: 7 }), clock, { once: true });
    const started = clock.now();
    const { events } = await drain(source, undefined);
    expect(ids(events)).toEqual(entries.map((e) => e.insertId));
    const outcomes = emulator.calls.map((c) => c.outcome);
    expect(outcomes).toContain('RESOURCE_EXHAUSTED');
    expect(outcomes).toContain('UNAVAILABLE');
    const errors = (await metrics.apiErrors.get()).values.map((v) => [v.labels.code, v.value]);
    expect(errors).toEqual(expect.arrayContaining([['RESOURCE_EXHAUSTED', outcomes.filter((o) => o === 'RESOURCE_EXHAUSTED').length], ['UNAVAILABLE', outcomes.filter((o) => o === 'UNAVAILABLE').length]]));
    expect((await metrics.apiThrottles.get()).values[0]?.value).toBe(outcomes.filter((o) => o === 'RESOURCE_EXHAUSTED').length);
    expect(clock.now() - started).toBeGreaterThan(0); // it waited (virtual time) before retrying
  });

  it('rejects a malformed entry with a reason and carries on', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = Array.from({ length: 6 }, (_, i) => gkeEntry(`m${i}`, t0 - 100_000 + i));
    emulator = await startEmulator(entries, { malformedEvery: 4 }, () => clock.now());
    const { batches } = await drain(gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-5m' }), clock, { once: true }).source, undefined);
    expect(ids(batches.flatMap((b) => b.events))).toEqual(['m0', 'm1', 'm2', 'm4', 'm5']);
    const rejects = batches.flatMap((b) => b.rejects);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ ref: 'm3' });
    expect(rejects[0]!.reason).toMatch(/not a decodable AuditLog/);
  });

  it('a restart resumes from the checkpoint inside a window, without re-reading what was delivered', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = Array.from({ length: 25 }, (_, i) => gkeEntry(`r${String(i).padStart(2, '0')}`, t0 - 100_000 + i * 1000));
    emulator = await startEmulator(entries, {}, () => clock.now());
    const config = gkeConfig(emulator.endpoint, { startFrom: '-5m', pageSize: 10 });
    const first = await drain(gkeSource(config, clock, { once: true }).source, undefined, (b) => b.length === 1);
    expect(ids(first.events)).toEqual(entries.slice(0, 10).map((e) => e.insertId));
    const cursor = JSON.parse(JSON.stringify(first.cursor)) as Cursor; // as the checkpoint file stores it
    expect(cursor.resume).toBe(entries[9]!.timestamp);

    const callsBefore = emulator.calls.length;
    const second = await drain(gkeSource(config, clock, { once: true }).source, cursor);
    expect(ids(second.events)).toEqual(entries.slice(10).map((e) => e.insertId));
    expect(emulator.calls[callsBefore]!.filter).toContain(`timestamp>="${cursor.resume as string}"`);

    // and after a complete window, a restart reads the overlap again but emits nothing twice
    const third = await drain(gkeSource(config, clock, { once: true }).source, second.cursor);
    expect(third.events).toEqual([]);
  });

  it('keeps the cursor small through a backfill: only keys a re-query could return again', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = Array.from({ length: 3000 }, (_, i) => gkeEntry(`b${String(i).padStart(4, '0')}`, t0 - 600_000 + i * 190));
    emulator = await startEmulator(entries, {}, () => clock.now());
    const { batches, events } = await drain(gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-15m', pageSize: 100 }), clock, { once: true }).source, undefined);
    expect(events).toHaveLength(3000);
    const sizes = batches.map((b) => Object.values(b.cursor!.seen as Record<string, string[]>).reduce((n, keys) => n + keys.length, 0));
    // Early pages: resume is far before end − overlap, so only the keys at the resume timestamp stay.
    expect(Math.max(...sizes.slice(0, 10))).toBe(1);
    // The final cursor holds exactly the entries of the next window's overlap [end − 2m, end).
    const inOverlap = entries.filter((e) => Date.parse(e.timestamp as string) >= t0 - 30_000 - 120_000 && Date.parse(e.timestamp as string) < t0 - 30_000);
    expect(sizes.at(-1)).toBe(inOverlap.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(inOverlap.length + 100);
  });

  it('two clusters of one project share the project quota', async () => {
    const now = Date.now();
    const entries = ['a', 'b'].flatMap((c) => Array.from({ length: 12 }, (_, i) => gkeEntry(`${c}${i}`, now - 200_000 + i * 1000, { cluster: c })));
    emulator = await startEmulator(entries);
    const quotas = new QuotaRegistry(systemClock);
    const rpm = 1200; // 20 calls/s after a burst of 5
    const make = (name: string, cluster: string) =>
      gkeSource(gkeConfig(emulator!.endpoint, { name, clusters: [cluster], startFrom: '-10m', pageSize: 1, requestsPerMinute: rpm }), systemClock, { once: true, quotas }).source;
    const started = Date.now();
    const [a, b] = await Promise.all([drain(make('ga', 'a'), undefined), drain(make('gb', 'b'), undefined)]);
    const elapsed = Date.now() - started;
    expect(ids(a.events)).toEqual(entries.slice(0, 12).map((e) => e.insertId));
    expect(ids(b.events)).toEqual(entries.slice(12).map((e) => e.insertId));
    const calls = emulator.calls.length;
    expect(calls).toBe(24);
    // One bucket for both: 24 calls at 20/s after a burst of 5 take at least (24 − 5) / 20 s.
    // (Two buckets would allow both sources their own burst and rate: about half of that.)
    expect(elapsed).toBeGreaterThanOrEqual(((calls - 5) / 20) * 1000 * 0.9);
  });
});

describe('gke source: an error retrying cannot fix', () => {
  const LINE =
    "source g: Cloud Logging entries.list answered PERMISSION_DENIED: The caller does not have permission. Likely fix: grant the bridge's identity the Logs Viewer role (roles/logging.viewer) on project test-project (roles/logging.privateLogViewer too, to read data_access)";

  it('PERMISSION_DENIED turns /readyz red with one line (source, answer, role to grant) and counts source_lasting_errors_total{reason}', async () => {
    const clock = new VirtualClock();
    emulator = await startEmulator([gkeEntry('a', clock.now() - 100_000)], { deniedEvery: 1 }, () => clock.now());
    const { source, metrics, health } = gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-5m' }), clock);
    health.markStarted();
    const abort = new AbortController();
    const reading = (async () => {
      for await (const batch of source.batches(undefined, abort.signal)) void batch;
    })();
    await eventually(async () => (await metricValue(metrics.sourceLastingErrors, { source: 'g', reason: 'permission_denied' })) >= 1, 10_000, 'a lasting error');
    expect(health.readiness().problems).toEqual([LINE]);
    expect(await metricValue(metrics.sourceFailing, { source: 'g', reason: 'permission_denied' })).toBe(1);
    abort.abort();
    await reading;
  });

  it('in once mode it ends the source with that line', async () => {
    const clock = new VirtualClock();
    emulator = await startEmulator([gkeEntry('a', clock.now() - 100_000)], { deniedEvery: 1 }, () => clock.now());
    const err = await drain(gkeSource(gkeConfig(emulator.endpoint, { startFrom: '-5m' }), clock, { once: true }).source, undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceStoppedError);
    expect((err as SourceStoppedError).line).toBe(LINE);
    expect(emulator.calls).toHaveLength(1); // no retry
  });
});

describe('gke source: checkpoints of the previous version', () => {
  it('resumes inside a window from {watermark, seen: ["<ns>|<insertId>"], resume, since}, repeating nothing', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const entries = Array.from({ length: 25 }, (_, i) => gkeEntry(`r${String(i).padStart(2, '0')}`, t0 - 100_000 + i * 1000));
    emulator = await startEmulator(entries, {}, () => clock.now());
    const config = gkeConfig(emulator.endpoint, { startFrom: '-5m', pageSize: 10 });
    // What the previous version checkpointed after its first page of 10 from startFrom (-5m).
    const start = formatTimeNs(msToNs(t0 - 300_000));
    const resume = entries[9]!.timestamp as string;
    const old = { watermark: start, seen: [`${parseTimeNs(resume)}|r09`], resume, since: start };
    const { events, cursor } = await drain(gkeSource(config, clock, { once: true }).source, old);
    expect(ids(events)).toEqual(entries.slice(10).map((e) => e.insertId));
    expect(emulator.calls[0]!.filter).toContain(`timestamp>="${resume}"`);
    expect(cursor).toMatchObject({ unit: 'ns', watermark: formatTimeNs(msToNs(t0 - 30_000)) }); // written back in the new shape
  });
});
