// The gke-pubsub source in the pipeline: the real @google-cloud/pubsub client against the Pub/Sub
// emulator on 127.0.0.1, the real dedupe window, dead-letter file and delivery path. What is
// acknowledged when, what comes back, and what the stream's faults do to it.

import { afterEach, describe, expect, it } from 'vitest';
import { TransientDeliveryError } from '../../../src/pipeline/types.js';
import type { RunningPubsubEmulator } from '../../../src/sources/gke-pubsub/emulator/index.js';
import { VirtualClock } from '../../helpers/clock.js';
import { eventually, RecordingSink } from '../../helpers/pipeline.js';
import { counts, entries, pubsubConfig, readJsonLines, Resources, sleep, startPipeline, waitFor, type Harness } from './helpers.js';

const res = new Resources();
const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) await h.stop().catch(() => undefined);
  await res.closeAll();
});

async function start(...args: Parameters<typeof startPipeline>): Promise<Harness> {
  const harness = await startPipeline(...args);
  running.push(harness);
  return harness;
}

/** With workers, they did the work: some started, and no job fell back to the main thread. */
function expectWorkersUsed(h: Harness, workers: number): void {
  const { started, failedJobs } = h.workers();
  expect(failedJobs).toBe(0);
  if (workers === 0) expect(started).toBe(0);
  else expect(started).toBeGreaterThan(0);
}

const ids = (n: number, prefix = 'e'): string[] => entries(n, prefix).map((e) => e.insertId as string);

/** Every auditID exactly once. */
function expectOnce(sink: RecordingSink, expected: readonly string[]): void {
  const seen = counts(sink.received);
  expect([...seen.keys()].sort()).toEqual([...expected].sort());
  expect([...seen.values()].filter((n) => n !== 1)).toEqual([]);
}

/** The emulator settled: every message acked, nothing leased or waiting. */
async function allAcked(emulator: RunningPubsubEmulator, n: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(`${n} messages acked`, () => {
    const s = emulator.stats();
    return s.acked === n && s.outstanding === 0 && s.ready === 0;
  }, timeoutMs);
}

describe('gke-pubsub source: acknowledged only after delivery', () => {
  it('acks nothing while one sink holds the events, then each batch as every sink has it', async () => {
    const emulator = await res.emulator({ data: entries(30) });
    const fast = new RecordingSink('fast');
    const slow = new RecordingSink('slow');
    slow.hold = true;
    await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10 }), [fast, slow]);

    await waitFor('three batches at the held sink', () => slow.writes.length === 3);
    await waitFor('the fast sink has all', () => fast.received.length === 30);
    await sleep(500); // far more than the client's ack batching (10 ms): an ack would have been sent
    expect(emulator.stats()).toMatchObject({ acked: 0, outstanding: 30, ready: 0, nacked: 0 });

    slow.writes[1]!.release();
    await waitFor('the second batch acked', () => emulator.stats().acked === 10);
    await sleep(300);
    expect(emulator.stats().acked).toBe(10); // the others are still held by the slow sink
    const acked = new Set(emulator.snapshot().filter((m) => m.state === 'acked').map((m) => (JSON.parse(m.data.toString()) as { insertId: string }).insertId));
    expect([...acked].sort()).toEqual(slow.writes[1]!.events.map((e) => e.auditID).sort());

    slow.writes[0]!.release();
    slow.writes[2]!.release();
    await allAcked(emulator, 30);
    expectOnce(slow, ids(30));
    expectOnce(fast, ids(30));
    expect(emulator.stats()).toMatchObject({ redelivered: 0, expired: 0, nacked: 0 });
  });

  it('a dead sink: nothing acked, the leases kept; at shutdown all is nacked and a later run gets everything again', async () => {
    const emulator = await res.emulator({ data: entries(20) });
    const dead = new RecordingSink('dead');
    dead.failWith = new TransientDeliveryError('connect ECONNREFUSED 127.0.0.1:9765');
    const first = await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10, minAckDeadline: '1s', maxAckDeadline: '1s' }), [dead], { shutdownTimeoutMs: 300 });
    await waitFor('all 20 leased', () => emulator.stats().outstanding === 20);
    await sleep(2500); // past the 1 s deadline more than twice: extended, not expired
    expect(emulator.stats()).toMatchObject({ acked: 0, outstanding: 20, expired: 0, redelivered: 0 });
    expect(emulator.stats().calls.ModifyAckDeadline).toBeGreaterThan(1);

    await first.stop();
    expect(emulator.stats()).toMatchObject({ acked: 0, nacked: 20, outstanding: 0, ready: 20 });
    expect(dead.received).toEqual([]);

    const sink = new RecordingSink('up');
    await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10 }), [sink]);
    await allAcked(emulator, 20);
    expectOnce(sink, ids(20));
    expect(emulator.stats().redelivered).toBe(20);
  });

  it('flow control is the pipeline backpressure: no more leased than the runner can hold plus one batch', async () => {
    const emulator = await res.emulator({ data: entries(100) });
    const sink = new RecordingSink();
    sink.hold = true;
    // maxInFlightBatches 1, batches of 5: at most (1 + 1) × 5 messages outstanding.
    await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 5, maxInFlightBatches: 1 }), [sink]);
    await waitFor('one write', () => sink.writes.length === 1);
    await sleep(500);
    expect(emulator.stats()).toMatchObject({ outstanding: 10, ready: 90, acked: 0 });
    expect(sink.writes).toHaveLength(1);

    for (let i = 0; i < 20; i++) {
      await waitFor(`write ${i + 1}`, () => sink.writes.length === i + 1);
      expect(emulator.stats().outstanding).toBeLessThanOrEqual(10);
      sink.writes[i]!.release();
    }
    await allAcked(emulator, 100);
    expectOnce(sink, ids(100));
  });

  it('flow control follows pipeline.maxInFlightBatches when the source sets none', async () => {
    const emulator = await res.emulator({ data: entries(100) });
    const sink = new RecordingSink();
    sink.hold = true;
    // The pipeline's 2, batches of 5: (2 + 1) × 5 messages outstanding, not the (4 + 1) × 5 of the default.
    await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 5 }), [sink], { maxInFlightBatches: 2 });
    await waitFor('two writes', () => sink.writes.length === 2);
    await sleep(500);
    expect(emulator.stats()).toMatchObject({ outstanding: 15, ready: 85, acked: 0 });
    sink.hold = false;
    for (const w of sink.writes) w.release();
    await allAcked(emulator, 100);
    expectOnce(sink, ids(100));
  });

  it('extends ack deadlines while a batch is in flight, up to maxLeaseExtension; past it Pub/Sub redelivers and dedupe keeps one copy', async () => {
    const emulator = await res.emulator({ data: entries(10) });
    const sink = new RecordingSink();
    sink.hold = true;
    const deadlines = { minAckDeadline: '1s', maxAckDeadline: '1s' };
    const h = await start(pubsubConfig(emulator.endpoint, { ...deadlines, maxLeaseExtension: '3s', maxBatchMessages: 10 }), [sink]);
    await waitFor('the batch at the sink', () => sink.writes.length === 1);
    await sleep(2000);
    expect(emulator.stats()).toMatchObject({ expired: 0, redelivered: 0, outstanding: 10 });

    // Past 3 s the client stops extending: the leases run out and the messages come back, in a
    // batch that waits for the one in flight (dedupe), which the sink has not acknowledged.
    await waitFor('redelivered after the extension limit', () => emulator.stats().redelivered >= 10, 10_000);
    expect(emulator.stats().expired).toBeGreaterThanOrEqual(10);
    sink.writes[0]!.release();
    await allAcked(emulator, 10);
    expectOnce(sink, ids(10));
    const deduplicated = await h.metrics.registry.getSingleMetric('kube_audit_bridge_events_deduplicated_total')!.get();
    expect(deduplicated.values[0]!.value).toBeGreaterThanOrEqual(10);
  });
});

describe('gke-pubsub source: what the stream and the data do', () => {
  it.each([0, 2])('malformed messages and foreign entries are rejects: dead-lettered with their message id, acked, never redelivered (%i worker threads)', async (workers) => {
    const emulator = await res.emulator({ data: entries(40), faults: 'malformed-every=5,foreign-every=7' });
    const sink = new RecordingSink();
    const h = await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 8 }), [sink], { workers });
    await allAcked(emulator, 40);
    const malformed = [5, 10, 15, 20, 25, 30, 35, 40];
    const foreign = [7, 14, 21, 28];
    const good = entries(40).filter((_, i) => !malformed.includes(i + 1) && !foreign.includes(i + 1));
    expectOnce(sink, good.map((e) => e.insertId as string));

    const rejects = await readJsonLines<{ kind: string; source: string; reason: string; ref: string; size: number; sha256: string }>(h.deadLetterPath);
    expect(rejects.every((r) => r.kind === 'reject' && r.source === 'ps')).toBe(true);
    const byRef = new Map(rejects.map((r) => [r.ref, r]));
    expect([...byRef.keys()].sort()).toEqual([...malformed, ...foreign].map((n) => `message ${n}`).sort());
    for (const n of malformed) expect(byRef.get(`message ${n}`)!.reason).toMatch(/^not JSON/);
    for (const n of foreign) expect(byRef.get(`message ${n}`)!.reason).toBe('not a Kubernetes API audit entry: resource.type "gke_cluster"');
    // The size and digest are those of the message as published.
    const published = new Map(emulator.snapshot().map((m) => [m.messageId, m.data]));
    expect(byRef.get('message 5')!.size).toBe(published.get('5')!.length);
    await sleep(300);
    expect(emulator.stats()).toMatchObject({ redelivered: 0, nacked: 0, ready: 0 });
    expect((await h.metrics.registry.getSingleMetric('kube_audit_bridge_events_rejected_total')!.get()).values.reduce((n, v) => n + v.value, 0)).toBe(12);
    expectWorkersUsed(h, workers);
  });

  it.each([0, 2])('redelivered messages (at-least-once) reach the sinks once: the dedupe window catches them (%i worker threads)', async (workers) => {
    const emulator = await res.emulator({ data: entries(30), faults: 'redeliver-every=3' });
    const sink = new RecordingSink();
    const h = await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 4 }), [sink], { workers });
    await allAcked(emulator, 30);
    expect(emulator.stats().redelivered).toBe(10);
    expectOnce(sink, ids(30));
    expect((await h.metrics.registry.getSingleMetric('kube_audit_bridge_events_deduplicated_total')!.get()).values[0]!.value).toBe(10);
    expectWorkersUsed(h, workers);
  });

  it.each([
    ['a stream that ends with UNAVAILABLE every 7 messages', 'drop-every=7'],
    ['a stream that ends with UNAVAILABLE every 300 ms, sending slowly', 'drop-after-ms=300,slow-ms=15'],
  ])('loses nothing to %s', async (_name, faults) => {
    const emulator = await res.emulator({ data: entries(60), faults });
    const sink = new RecordingSink();
    await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10 }), [sink]);
    await allAcked(emulator, 60, 30_000);
    expectOnce(sink, ids(60));
    expect(emulator.stats().dropped).toBeGreaterThan(0);
    expect(emulator.stats().streamsOpened).toBeGreaterThan(1);
  });

  it.each([
    ['leases cut short by the service (deadline-ms)', 'deadline-ms=700', {}],
    ['deadline extensions ignored', 'ignore-modacks', { minAckDeadline: '1s', maxAckDeadline: '1s' }],
  ])('loses nothing and delivers once when %s expire in flight', async (_name, faults, deadlines) => {
    const emulator = await res.emulator({ data: entries(20), faults });
    const sink = new RecordingSink();
    sink.hold = true;
    await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10, ...deadlines }), [sink]);
    await waitFor('expiries', () => emulator.stats().expired >= 20, 10_000);
    // Release everything held, now and as it comes (redelivered copies wait for their first batch).
    sink.hold = false;
    for (const w of sink.writes) w.release();
    await allAcked(emulator, 20, 20_000);
    expectOnce(sink, ids(20));
    expect(emulator.stats().redelivered).toBeGreaterThanOrEqual(20);
  });
});

describe('gke-pubsub source: run --once, errors and health', () => {
  it('once: drains the subscription, waits the quiet period, acks everything and ends', async () => {
    const emulator = await res.emulator({ data: entries(25) });
    const sink = new RecordingSink();
    const started = Date.now();
    const h = await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10, quietPeriod: '1s' }), [sink], { once: true });
    await h.done;
    const elapsed = Date.now() - started;
    expectOnce(sink, ids(25));
    expect(emulator.stats()).toMatchObject({ acked: 25, outstanding: 0, ready: 0, streams: 0 });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(8000);
  });

  it('once: a quiet period spent waiting on a slow sink (flow control full) is not the end of the subscription', async () => {
    const emulator = await res.emulator({ data: entries(50) });
    const sink = new RecordingSink();
    const write = sink.write.bind(sink);
    // Each write outlasts the quiet period, and flow control (2 batches of 10) keeps the rest in Pub/Sub meanwhile.
    sink.write = async (events, signal) => (await sleep(700), write(events, signal));
    const h = await start(pubsubConfig(emulator.endpoint, { maxBatchMessages: 10, maxInFlightBatches: 1, quietPeriod: '500ms' }), [sink], { once: true });
    await h.done;
    expectOnce(sink, ids(50));
    expect(emulator.stats()).toMatchObject({ acked: 50, ready: 0, outstanding: 0 });
  });

  it('once with nothing to read ends after the quiet period', async () => {
    const emulator = await res.emulator({ data: [] });
    const started = Date.now();
    const h = await start(pubsubConfig(emulator.endpoint, { quietPeriod: '500ms' }), [new RecordingSink()], { once: true });
    await h.done;
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('keeps trying while the service is unreachable, shows it on /readyz, and delivers once it is back', async () => {
    const probe = await res.emulator({});
    const endpoint = probe.endpoint;
    await probe.close();
    const healthClock = new VirtualClock(Date.now());
    const sink = new RecordingSink();
    const h = await start(pubsubConfig(endpoint, { quietPeriod: '500ms' }), [sink], { healthClock });
    await sleep(1500);
    healthClock.advance(31_000);
    const down = h.health.readiness();
    expect(down.ready).toBe(false);
    expect(down.problems.join('\n')).toMatch(/source ps .*UNAVAILABLE/);
    expect((await h.metrics.registry.getSingleMetric('kube_audit_bridge_api_errors_total')!.get()).values.some((v) => v.labels.code === 'UNAVAILABLE' && v.value > 0)).toBe(true);

    const port = Number(endpoint.split(':')[1]);
    const emulator = await res.emulator({ data: entries(10), port });
    await waitFor('delivery after the service is back', () => sink.received.length === 10, 25_000);
    await allAcked(emulator, 10);
    // Healthy again once the heartbeat has seen the stream work.
    await waitFor('ready again', () => h.health.readiness().ready, 10_000);
    expectOnce(sink, ids(10));
  });

  it('a subscription that does not exist: a lasting error on /readyz at once, tried again after lastingRetryMs, and a clean stop', async () => {
    const emulator = await res.emulator({ data: entries(3) });
    const missing = 'projects/test-project/subscriptions/no-such-sub';
    const h = await start(pubsubConfig(emulator.endpoint, { subscription: missing }), [new RecordingSink()], { lastingRetryMs: 500 });
    const lastingCount = async (): Promise<number> =>
      (await h.metrics.registry.getSingleMetric('kube_audit_bridge_source_lasting_errors_total')!.get()).values.find((v) => v.labels.reason === 'not_found')?.value ?? 0;
    await waitFor('two attempts', () => (emulator.stats().calls.StreamingPull ?? 0) >= 2, 10_000);
    // The second answer reaches the emulator's count before the client reports it: wait for both.
    await eventually(async () => (await lastingCount()) >= 2, 10_000, 'two lasting errors counted');
    const problems = h.health.readiness().problems;
    expect(problems).toEqual([expect.stringMatching(/^source ps: Pub\/Sub StreamingPull answered NOT_FOUND: .*no-such-sub.*Likely fix: check subscription projects\/test-project\/subscriptions\/no-such-sub/)]);
    const failing = await h.metrics.registry.getSingleMetric('kube_audit_bridge_source_failing')!.get();
    expect(failing.values.find((v) => v.labels.reason === 'not_found')?.value).toBe(1);
    expect(emulator.stats()).toMatchObject({ delivered: 0, ready: 3 });
    const stopped = Date.now();
    await h.stop();
    expect(Date.now() - stopped).toBeLessThan(3000);
    // Stopped, so the counts hold still: each attempt counted once, though the client reports it
    // twice (a debug message and an error); the last may have been cut short by the stop.
    const attempts = emulator.stats().calls.StreamingPull!;
    const lasting = await lastingCount();
    const errors = (await h.metrics.registry.getSingleMetric('kube_audit_bridge_api_errors_total')!.get()).values.find((v) => v.labels.code === 'NOT_FOUND')!.value;
    expect(errors).toBe(lasting);
    expect(lasting).toBeGreaterThanOrEqual(Math.max(2, attempts - 1));
    expect(lasting).toBeLessThanOrEqual(attempts);
  });

  it('once: a lasting error ends the source with its line instead of waiting forever', async () => {
    const emulator = await res.emulator({ data: entries(3) });
    const h = await start(pubsubConfig(emulator.endpoint, { subscription: 'projects/test-project/subscriptions/no-such-sub' }), [new RecordingSink()], { once: true });
    await h.done;
    expect(h.health.stoppedSources()).toEqual([expect.stringMatching(/^source ps: Pub\/Sub StreamingPull answered NOT_FOUND: .*Likely fix: /)]);
    expect(emulator.stats()).toMatchObject({ delivered: 0, ready: 3 });
  });
});
