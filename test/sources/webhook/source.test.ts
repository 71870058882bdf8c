import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../../src/checkpoint/file-store.js';
import { webhookSourceSchema } from '../../../src/sources/webhook/config.js';
import { AuditWebhookClient } from '../../../src/sources/webhook/apiserver-client.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import { Health } from '../../../src/pipeline/health.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { WebhookSource } from '../../../src/sources/webhook/source.js';
import { BridgeServer } from '../../../src/server/http-server.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock } from '../../../src/util/clock.js';
import { TransientDeliveryError } from '../../../src/pipeline/types.js';
import { SAMPLES, makeEvents, readJsonLines } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { RecordingSink, eventually } from '../../helpers/pipeline.js';

interface Harness {
  url: string;
  deadLetterPath: string;
  sink: RecordingSink;
  metrics: Metrics;
  stop(): Promise<void>;
}

/** The webhook source wired as the bridge wires it, with a sink the test controls. */
async function startHarness(sourceConfig: Record<string, unknown> = {}): Promise<Harness> {
  const dir = await tempDir();
  const logger = silentLogger();
  const metrics = new Metrics();
  const health = new Health(systemClock, metrics);
  const config = webhookSourceSchema.parse({ name: 'apiserver', type: 'webhook', ackTimeout: '400ms', allowUnauthenticated: true, ...sourceConfig });
  const source = new WebhookSource(config, { logger, metrics, clock: systemClock });
  const sink = new RecordingSink();
  const pipeline = new Pipeline({
    sources: [source],
    sinks: [{ sink }],
    checkpoints: await FileCheckpointStore.open(join(dir, 'checkpoints.json')),
    deadLetter: new FileDeadLetter(join(dir, 'dead-letter.jsonl'), { keepRaw: false }),
    metrics,
    health,
    logger,
    clock: systemClock,
    maxInFlightBatches: 4,
    dedupeMaxKeys: 10_000,
    dedupeSaveIntervalMs: 60_000,
    shutdownTimeoutMs: 1000,
    sinkBackoff: { initialMs: 10, maxMs: 50 },
  });
  const server = new BridgeServer({ host: '127.0.0.1', port: 0, health, metrics, logger, receivers: [source] });
  const { port } = await server.listen();
  const run = pipeline.run();
  return {
    url: `http://127.0.0.1:${port}/audit/apiserver`,
    deadLetterPath: join(dir, 'dead-letter.jsonl'),
    sink,
    metrics,
    async stop() {
      await pipeline.stop();
      await run;
      await server.close();
    },
  };
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await request(url, { method: 'POST', body, headers });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

async function requestCounts(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.webhookRequests.get()).values) out[String(v.labels.code)] = v.value;
  return out;
}

describe('webhook source: the kube-apiserver audit webhook', () => {
  it('answers 2xx only after the sinks have the events', async () => {
    const h = await startHarness();
    h.sink.hold = true;
    const events = makeEvents(0, 10);
    const answered = post(h.url, AuditWebhookClient.body(events));
    let done = false;
    void answered.then(() => (done = true));
    await eventually(() => h.sink.writes.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false); // the sink has not acknowledged: no answer yet
    h.sink.writes[0]!.release();
    expect(await answered).toEqual({ status: 200, body: { status: 'ok', events: 10 } });
    expect(h.sink.received).toEqual(events);
    await h.stop();
  });

  it('a failing sink yields 503, the apiserver-style retry succeeds, and the sink holds each event exactly once', async () => {
    const h = await startHarness();
    h.sink.failWith = new TransientDeliveryError('receiver down');
    const events = makeEvents(100, 50);
    const client = new AuditWebhookClient({ url: h.url, initialBackoffMs: 300, maxAttempts: 6 });
    const posting = client.post(events);
    // Bring the sink back once the sender has been told to retry.
    await eventually(async () => ((await requestCounts(h.metrics))['503'] ?? 0) >= 1, 10_000, 'a 503');
    h.sink.failWith = undefined;
    const result = await posting;

    expect(result.delivered).toBe(50);
    expect(result.statuses[0]).toBe(503);
    expect(result.statuses.at(-1)).toBe(200);
    expect(h.sink.received.map((e) => e.auditID).sort()).toEqual(events.map((e) => e.auditID).sort());
    expect(await h.metrics.eventsDeduplicated.get()).toMatchObject({ values: [{ value: 50 * (result.attempts - 1) }] });
    await h.stop();
  });

  it('a resent batch whose events are still in flight is answered only when they are delivered', async () => {
    const h = await startHarness({ ackTimeout: '5s' });
    h.sink.hold = true;
    const body = AuditWebhookClient.body(makeEvents(200, 5));
    const answered: string[] = [];
    const first = post(h.url, body).then((r) => (answered.push('first'), r));
    await eventually(() => h.sink.writes.length === 1);
    const resend = post(h.url, body).then((r) => (answered.push('resend'), r));
    await eventually(async () => (await h.metrics.eventsDeduplicated.get()).values[0]?.value === 5, 5000, 'the resend to be deduplicated');
    await new Promise((r) => setTimeout(r, 100));
    expect(answered).toEqual([]); // a 2xx now would claim delivery of events no sink has yet
    h.sink.writes[0]!.release();
    expect((await Promise.all([first, resend])).map((r) => r.status)).toEqual([200, 200]);
    expect(h.sink.received).toHaveLength(5);
    await h.stop();
  });

  it('bodies of the wrong shape get 400 with the reason; invalid events are rejects and their neighbours flow', async () => {
    const h = await startHarness();
    const malformed = readFileSync(`${SAMPLES}k8s-events/falco-trace-files/fal_01_003.json`, 'utf8');
    const mixed = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [makeEvents(0, 1)[0], { auditID: 'x' }] });

    const answers = [
      await post(h.url, '{"kind":"EventList","items":['),
      await post(h.url, malformed),
      await post(h.url, mixed),
      await post(h.url, '[1, 2]'),
    ];
    expect(answers.map((a) => a.status)).toEqual([400, 400, 200, 400]);
    expect(answers[0]!.body.error).toMatch(/^body is not valid JSON/);
    expect(answers[1]!.body.error).toBe('kind: expected "Event" or "EventList", got 0');
    expect(answers[2]!.body).toEqual({ status: 'ok', events: 1, rejected: 1 });
    expect(answers[3]!.body.problems).toEqual([
      '[0]: expected an audit Event or an EventList, got 1',
      '[1]: expected an audit Event or an EventList, got 2',
    ]);
    // The valid first item of the mixed body was delivered; the invalid one is in the dead-letter file.
    expect(h.sink.received.map((e) => e.auditID)).toEqual([makeEvents(0, 1)[0]!.auditID]);
    const dead = readJsonLines(h.deadLetterPath) as Record<string, unknown>[];
    expect(dead.map((d) => [d.kind, d.ref, String(d.reason).split(':', 2).join(':')])).toEqual([['reject', 'items[1]', 'invalid audit event: items[1].level']]);

    // ...and the source still works.
    expect((await post(h.url, AuditWebhookClient.body(makeEvents(10, 2)))).status).toBe(200);
    expect(h.sink.received).toHaveLength(3);
    expect(await requestCounts(h.metrics)).toEqual({ '400': 3, '200': 2 });
    await h.stop();
  });

  it('accepts gzip bodies, single events and JSON arrays; refuses other methods, types and unknown sources', async () => {
    const h = await startHarness();
    const [a, b, c] = makeEvents(0, 3);
    const gz = await post(h.url, gzipSync(AuditWebhookClient.body([a!])), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(gz.status).toBe(200);
    expect((await post(h.url, JSON.stringify(b))).status).toBe(200);
    expect((await post(h.url, JSON.stringify([c]))).status).toBe(200);
    expect(h.sink.received.map((e) => e.auditID)).toEqual([a!.auditID, b!.auditID, c!.auditID]);

    const get = await request(h.url, { method: 'GET' });
    expect(get.statusCode).toBe(405);
    await get.body.dump();
    expect((await post(h.url, 'x', { 'content-type': 'text/plain' })).status).toBe(415);
    const unknown = await post(h.url.replace('/apiserver', '/other'), '[]');
    expect(unknown).toEqual({ status: 404, body: { error: 'no webhook source at this path' } });
    await h.stop();
  });

  it('limits the body size, also after decompression', async () => {
    const h = await startHarness({ maxBodyBytes: '64KiB' });
    const big = AuditWebhookClient.body(makeEvents(0, 400));
    expect(big.length).toBeGreaterThan(64 * 1024);
    const plain = await post(h.url, big);
    expect(plain.status).toBe(413);
    const zipped = gzipSync(big);
    expect(zipped.length).toBeLessThan(64 * 1024);
    const gz = await post(h.url, zipped, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(gz).toEqual({ status: 413, body: { error: 'body exceeds the limit of 65536 bytes once decoded' } });
    expect(h.sink.received).toEqual([]);
    await h.stop();
  });

  it('requires the bearer token when configured, and picks up a rotated token', async () => {
    const dir = await tempDir();
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'first-token\n');
    const h = await startHarness({ bearerTokenFile: tokenFile });
    const body = AuditWebhookClient.body(makeEvents(0, 1));
    const withToken = (t: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${t}` });

    expect((await post(h.url, body)).status).toBe(401);
    expect((await post(h.url, body, withToken('wrong'))).status).toBe(401);
    expect((await post(h.url, body, withToken('first-token'))).status).toBe(200);

    await new Promise((r) => setTimeout(r, 20)); // a new mtime
    await writeFile(tokenFile, 'second-token-rotated\n');
    expect((await post(h.url, body, withToken('first-token'))).status).toBe(401);
    expect((await post(h.url, body, withToken('second-token-rotated'))).status).toBe(200);
    await h.stop();
  });

  it('answers 503 at once when maxPendingRequests requests are being read or wait for the sinks', async () => {
    const h = await startHarness({ maxPendingRequests: 2, ackTimeout: '5s' });
    h.sink.hold = true;
    const pending = [0, 1].map((i) => post(h.url, AuditWebhookClient.body(makeEvents(i * 10, 1))));
    await eventually(() => h.sink.writes.length === 2);
    const refused = await post(h.url, AuditWebhookClient.body(makeEvents(99, 1)));
    expect(refused.status).toBe(503);
    h.sink.hold = false;
    for (const w of h.sink.writes) w.release();
    expect((await Promise.all(pending)).map((p) => p.status)).toEqual([200, 200]);
    await h.stop();
  });
});
