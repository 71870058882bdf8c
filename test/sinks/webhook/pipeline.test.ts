import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../../src/bridge.js';
import { FileCheckpointStore } from '../../../src/checkpoint/file-store.js';
import { parseConfig } from '../../../src/config/load.js';
import { AuditWebhookClient } from '../../../src/sources/webhook/apiserver-client.js';
import { runDemo } from '../../../src/demo/demo.js';
import { apiserverPart } from '../../../src/sources/webhook/demo.js';
import { falcoPart } from '../../../src/sinks/webhook/demo.js';
import { FalcoReceiver } from '../../../src/sinks/webhook/emulator/falco-receiver.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import type { WebhookSink } from '../../../src/sinks/webhook/sink.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { Health } from '../../../src/pipeline/health.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock } from '../../../src/util/clock.js';
import { VirtualClock } from '../../helpers/clock.js';
import { makeEvent, makeEvents, readJsonLines } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { Gate, TestReceiver } from '../../helpers/http-receiver.js';
import { ListSource, SpyingStore, eventually } from '../../helpers/pipeline.js';
import { captureLogger, metricValue, onCleanup, webhookSink } from '../../helpers/webhook.js';

const MiB = 1024 * 1024;

/** The real Pipeline with the given webhook sinks; a ListSource of `batches` batches of `size` events. */
async function pipelineWith(sinks: WebhookSink[], source: ListSource, shared: { metrics: Metrics; health: Health }) {
  const dir = await tempDir();
  const store = new SpyingStore(await FileCheckpointStore.open(join(dir, 'checkpoints.json')));
  const pipeline = new Pipeline({
    sources: [source],
    sinks: sinks.map((sink) => ({ sink })),
    checkpoints: store,
    deadLetter: new FileDeadLetter(join(dir, 'pipeline-dead-letter.jsonl')),
    metrics: shared.metrics,
    health: shared.health,
    logger: silentLogger(),
    clock: systemClock,
    maxInFlightBatches: 4,
    dedupeMaxKeys: 100_000,
    dedupeSaveIntervalMs: 60_000,
    shutdownTimeoutMs: 2000,
    sinkBackoff: { initialMs: 5, maxMs: 20 },
  });
  return { pipeline, store };
}

function batchesOf(count: number, size: number): { events: AuditEvent[] }[] {
  return Array.from({ length: count }, (_, b) => ({ events: makeEvents(b * size, size) }));
}

/** A receiver that holds every request until the gate opens; both closed after the test. */
async function heldReceiver(): Promise<{ r: TestReceiver; gate: Gate }> {
  const r = await TestReceiver.start();
  onCleanup(() => r.close());
  const gate = new Gate();
  onCleanup(async () => gate.open());
  r.respond = async () => {
    await gate.wait();
    return { status: 200 };
  };
  return { r, gate };
}

const receivedIds = (r: TestReceiver): string[] => r.json<{ items: AuditEvent[] }>().flatMap((b) => b.items.map((e) => e.auditID));

describe('webhook sink in the pipeline', () => {
  it('receiver down for a while: memory stays bounded, readiness shows it, nothing is lost, delivery resumes by itself', async () => {
    // Reserve a port, then leave it closed: the receiver is down.
    const probe = await TestReceiver.start();
    const { url, port } = probe;
    await probe.close();

    const metrics = new Metrics();
    const healthClock = new VirtualClock();
    const health = new Health(healthClock, metrics);
    const { sink } = await webhookSink(url, { batchMaxSize: 10, failureThreshold: '1m', retry: { initialBackoff: '5ms', maxBackoff: '50ms' } }, { metrics, health });
    const source = new ListSource('src', batchesOf(30, 10));
    const { pipeline, store } = await pipelineWith([sink], source, { metrics, health });
    const run = pipeline.run();

    await eventually(async () => (await metricValue(metrics.httpClientRequests, { target: 'hook', code: 'network' })) >= 20, 10_000, 'failed attempts');
    // Bounded: the source is not pulled past maxInFlightBatches while nothing is acknowledged.
    expect(source.pulled).toBe(4);
    // The pipeline holds the events between retries; the sink at most what it is sending.
    expect(sink.backlog).toBeLessThanOrEqual(40);
    expect(store.saved).toEqual([]);
    healthClock.advance(61_000);
    expect(health.readiness().problems).toEqual([expect.stringMatching(/^sink hook failing for 61 s \(ECONNREFUSED/)]);

    const back = await TestReceiver.start({ port });
    onCleanup(() => back.close());
    await run;
    expect(new Set(receivedIds(back))).toEqual(new Set(makeEvents(0, 300).map((e) => e.auditID)));
    expect(store.saved.at(-1)).toEqual({ next: 30 });
    expect(sink.backlog).toBe(0);
    expect(health.readiness().ready).toBe(true);
  });

  it('a body held back to fill is sent once no more events can come (the runner waits for a slot, or the source has ended) and nothing else is in flight', async () => {
    const { r, gate } = await heldReceiver();
    const metrics = new Metrics();
    const health = new Health(systemClock, metrics);
    // A wait no test outlasts: only the runner's word sends a body that is not full.
    const { sink } = await webhookSink(r.url, { batchMaxSize: 30, batchMaxWait: '1h' }, { metrics, health });
    const source = new ListSource('src', batchesOf(40, 10));
    const { pipeline, store } = await pipelineWith([sink], source, { metrics, health });
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('stalled: the sink held its body for batchMaxWait')), 10_000)));
    const run = Promise.race([pipeline.run(), stalled]).finally(() => clearTimeout(timer));

    // Four batches of 10 in flight: one full body of 30 sent and held, the fourth batch's 10 events
    // kept while it is: its answer frees slots, and more events come to fill theirs.
    await eventually(() => r.holding === 1 && source.pulled === 4, 10_000, 'the first body held');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(r.holding).toBe(1);
    expect(sink.backlog).toBe(40);

    gate.open();
    await run;
    expect(receivedIds(r).sort()).toEqual(makeEvents(0, 400).map((e) => e.auditID).sort());
    expect(store.saved.at(-1)).toEqual({ next: 40 });
    const sizes = r.json<{ items: AuditEvent[] }>().map((b) => b.items.length);
    expect(sizes[0]).toBe(30);
    // No body waited for more than the four batches in flight could give it.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(30);
  });

  it("a poll's last batch (caughtUp) has the sink send the body it holds at once; without the word the body waits for more events", async () => {
    for (const caughtUp of [false, true]) {
      const r = await TestReceiver.start();
      onCleanup(() => r.close());
      const metrics = new Metrics();
      const health = new Health(systemClock, metrics);
      // A wait no test outlasts, and slots to spare: only the source's word sends a body that is not full.
      const { sink } = await webhookSink(r.url, { batchMaxSize: 30, batchMaxWait: '1h' }, { metrics, health });
      const source = new ListSource(
        'src',
        batchesOf(2, 10).map((batch, i) => ({ ...batch, caughtUp: caughtUp && i === 1 })),
        // The source then waits for its next poll, as a polling source does.
        { endWhenDone: false },
      );
      const { pipeline } = await pipelineWith([sink], source, { metrics, health });
      const run = pipeline.run();
      if (caughtUp) {
        await eventually(() => receivedIds(r).length === 20, 10_000, 'the 20 events sent');
        expect(receivedIds(r).sort()).toEqual(makeEvents(0, 20).map((e) => e.auditID).sort());
      } else {
        await eventually(() => sink.backlog === 20 && source.pulled === 2, 10_000, 'both batches written to the sink');
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(receivedIds(r)).toEqual([]);
      }
      await pipeline.stop();
      await run;
    }
  });

  it('receiver that accepts slowly: backpressure reaches the source', async () => {
    const { r, gate } = await heldReceiver();
    const metrics = new Metrics();
    const health = new Health(systemClock, metrics);
    const { sink } = await webhookSink(r.url, { batchMaxSize: 10 }, { metrics, health });
    const source = new ListSource('src', batchesOf(40, 10));
    const { pipeline, store } = await pipelineWith([sink], source, { metrics, health });
    const run = pipeline.run();

    // Four source batches became four bodies, all held by the receiver.
    await eventually(() => r.holding === 4, 10_000, 'four held requests');
    expect(source.pulled).toBe(4);
    // The pipeline holds the events between retries; the sink at most what it is sending.
    expect(sink.backlog).toBeLessThanOrEqual(40);

    gate.open();
    await run;
    expect(source.pulled).toBe(40);
    expect(receivedIds(r)).toHaveLength(400);
    expect(store.saved.at(-1)).toEqual({ next: 40 });
  });

  it('several webhook sinks, each with its own batching: the checkpoint moves only when all have acknowledged', async () => {
    const fast = await TestReceiver.start();
    onCleanup(() => fast.close());
    const { r: slow, gate } = await heldReceiver();
    const metrics = new Metrics();
    const health = new Health(systemClock, metrics);
    const a = await webhookSink(fast.url, { batchMaxSize: 5 }, { metrics, health, name: 'fast' });
    const b = await webhookSink(slow.url, { batchMaxSize: 30, format: 'array' }, { metrics, health, name: 'slow' });
    const source = new ListSource('src', batchesOf(3, 10));
    const { pipeline, store } = await pipelineWith([a.sink, b.sink], source, { metrics, health });
    const run = pipeline.run();

    await eventually(() => receivedIds(fast).length === 30 && slow.holding > 0, 10_000, 'fast sink has everything');
    expect(fast.json<{ items: unknown[] }>().map((x) => x.items.length)).toEqual([5, 5, 5, 5, 5, 5]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.saved).toEqual([]);

    gate.open();
    await run;
    expect(slow.json<unknown[]>().flat()).toHaveLength(30);
    expect(store.saved.at(-1)).toEqual({ next: 3 });
  });
});

describe('webhook sink with preset falco, against a receiver that enforces Falco input rules', () => {
  async function falco(): Promise<FalcoReceiver> {
    const receiver = await FalcoReceiver.start();
    onCleanup(() => receiver.close());
    return receiver;
  }

  it('the receiver enforces the rules (so that it can tell)', async () => {
    const receiver = await falco();
    const post = async (body: string, headers: Record<string, string>, method = 'POST'): Promise<number> => {
      const res = await request(receiver.url, { method, body: method === 'POST' ? body : null, headers });
      await res.body.dump();
      return res.statusCode;
    };
    const event = JSON.stringify(makeEvent(1));
    expect(await post(event, { 'content-type': 'text/plain' })).toBe(400);
    expect(await post('', {}, 'GET')).toBe(405);
    expect(await post(`[${'1'.repeat(12 * MiB)}]`, { 'content-type': 'application/json' })).toBe(400);
    expect(await post(JSON.stringify({ ...makeEvent(2), stageTimestamp: '2026-01-02 03:04:05' }), { 'content-type': 'application/json' })).toBe(200);
    expect(await post(JSON.stringify({ ...makeEvent(3), annotations: { x: 'y'.repeat(300 * 1024) } }), { 'content-type': 'application/json' })).toBe(200);
    expect(await post(JSON.stringify({ ...makeEvent(4), auditID: undefined }), { 'content-type': 'application/json' })).toBe(200);
    expect(await post(event, { 'content-type': 'application/json' })).toBe(200);
    expect(receiver.refused.map((x) => x.status)).toEqual([400, 405, 400]);
    expect(receiver.dropped.map((d) => d.reason)).toEqual([
      'stageTimestamp is not RFC 3339',
      expect.stringMatching(/^event larger than maxEventSize: size=\d+$/),
      'no auditID: every ka.* field would be empty',
    ]);
    expect(receiver.accepted).toBe(1);
  });

  it('accepts everything the preset sends: bodies within 12 MiB, a 1 MiB event truncated to fit', async () => {
    const receiver = await falco();
    // No path and an explicit port: the preset adds /k8s-audit.
    const { write, metrics, deadLetterPath } = await webhookSink(`http://127.0.0.1:${receiver.port}`, { preset: 'falco' });
    const payload = (n: number, bytes: number): AuditEvent =>
      makeEvent(n, { level: 'RequestResponse', requestObject: { kind: 'ConfigMap', data: { blob: 'z'.repeat(bytes) } } });
    const events = [
      ...Array.from({ length: 70 }, (_, i) => payload(i, 200 * 1024)), // 14 MB: more than one body
      payload(1000, 1024 * 1024),
      ...makeEvents(2000, 50),
    ];
    await write(events);

    expect(receiver.refused).toEqual([]);
    expect(receiver.dropped).toEqual([]);
    expect(receiver.accepted).toBe(events.length);
    expect(receiver.batches.length).toBeGreaterThan(1);
    expect(Math.max(...receiver.batches.map((b) => b.bytes))).toBeLessThanOrEqual(12 * MiB);
    const truncated = receiver.events.find((e) => e.auditID === events[70]!.auditID)!;
    expect(truncated.requestObject).toBeUndefined();
    expect(truncated.annotations).toEqual({ 'audit.k8s.io/truncated': 'true' });
    expect(await metricValue(metrics.webhookTruncated, { sink: 'hook' })).toBe(1);
    expect(existsSync(deadLetterPath)).toBe(false);
  });

  it('an event Falco would drop (no RFC 3339 stageTimestamp) goes to the dead-letter file instead', async () => {
    const receiver = await falco();
    const { write, deadLetterPath } = await webhookSink(receiver.url, { preset: 'falco' });
    const bad = { ...makeEvent(1), stageTimestamp: '02/01/2026 03:04' };
    await write([makeEvent(0), bad, makeEvent(2)]);
    expect(receiver.accepted).toBe(2);
    expect(receiver.dropped).toEqual([]);
    const letters = readJsonLines(deadLetterPath) as Record<string, unknown>[];
    expect(letters).toMatchObject([{ kind: 'refused', sink: 'hook', reason: 'event has no RFC 3339 stageTimestamp, which the receiver requires' }]);
  });
});

describe('webhook sink in the bridge', () => {
  it('from a config file: delivers, shares the dead-letter file with the pipeline, and shows on /metrics', async () => {
    const dir = await tempDir();
    const r = await TestReceiver.start();
    onCleanup(() => r.close());
    const refuse = makeEvent(7).auditID;
    r.respond = (req) => (req.text.includes(refuse) ? { status: 422, body: 'no' } : { status: 200 });
    const config = parseConfig(
      `
sources: [{ name: onprem, type: webhook, allowUnauthenticated: true }]
sinks:
  - { name: hook, type: webhook, url: "${r.url}", batchMaxWait: 10ms, batchMaxSize: 5 }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
      'test.yaml',
      {},
    );
    const bridge = await Bridge.create(config, { logger: silentLogger() });
    const { port } = await bridge.start();
    onCleanup(() => bridge.stop());
    const base = `http://127.0.0.1:${port}`;
    const result = await new AuditWebhookClient({ url: `${base}/audit/onprem` }).post(makeEvents(0, 10));
    expect(result).toMatchObject({ delivered: 10, statuses: [200] });
    // The refusal is narrowed to the one event the receiver refuses; its neighbours are delivered.
    const accepted = new Set(r.requests.filter((q) => !q.text.includes(refuse)).flatMap((q) => (JSON.parse(q.text) as { items: AuditEvent[] }).items.map((e) => e.auditID)));
    expect([...accepted].sort()).toEqual(makeEvents(0, 10).map((e) => e.auditID).filter((id) => id !== refuse).sort());
    const letters = readJsonLines(join(dir, 'dead.jsonl')) as Record<string, unknown>[];
    // What the receiver answered is kept as its size and digest (deadLetter.keepRaw is off by default).
    expect(letters).toMatchObject([{ kind: 'refused', sink: 'hook', status: 422, response: { size: 2, sha256: createHash('sha256').update('no').digest('hex') }, events: [{ auditID: refuse }] }]);
    const text = await (await request(`${base}/metrics`)).body.text();
    expect(text).toMatch(/kube_audit_bridge_http_client_requests_total\{target="hook",code="422"\} [1-4]\n/);
    expect(text).toContain('kube_audit_bridge_dead_letter_total{kind="refused",component="hook"} 1');
    expect(text).toContain('kube_audit_bridge_events_delivered_total{sink="hook"} 9');
  });
});

describe('demo part falco', () => {
  it('delivers the replayed sample events to the Falco-like receiver, one summary line per batch', async () => {
    const logs = captureLogger('info');
    const stop = new AbortController();
    const taken = (): Record<string, unknown>[] => logs.lines().filter((l) => l.msg === 'falco receiver took a batch');
    const demo = runDemo({ logger: logs.logger, parts: [apiserverPart, falcoPart], signal: stop.signal, stdout: new PassThrough() });
    try {
      // 40 sample events, two of which share an (auditID, stage): 39 reach the sinks.
      await eventually(() => taken().reduce((sum, l) => sum + Number(l.events), 0) >= 39, 20_000, 'the samples at the receiver');
    } finally {
      stop.abort();
      await demo;
    }
    expect(taken().every((l) => l.part === 'falco' && l.dropped === 0)).toBe(true);
    expect(logs.text()).not.toContain('"requestURI"');
  });
});
