import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { webhookSinkSchema } from '../../../src/sinks/webhook/config.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import { WebhookSink } from '../../../src/sinks/webhook/sink.js';
import { goJSON } from '../../../src/event/encode.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { Health } from '../../../src/pipeline/health.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock } from '../../../src/util/clock.js';
import { VirtualClock } from '../../helpers/clock.js';
import { SAMPLES, makeEvent, makeEvents, readJsonLines } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { Gate, TestReceiver } from '../../helpers/http-receiver.js';
import { eventually } from '../../helpers/pipeline.js';
import { metricValue, onCleanup, webhookSink } from '../../helpers/webhook.js';

async function receiver(options: Parameters<typeof TestReceiver.start>[0] = {}): Promise<TestReceiver> {
  const r = await TestReceiver.start(options);
  onCleanup(() => r.close());
  return r;
}

const EVENT_HEAD = '{"kind":"Event","apiVersion":"audit.k8s.io/v1",';
const ids = (events: readonly { auditID?: unknown }[]): unknown[] => events.map((e) => e.auditID);

/** The EKS sample messages: kube-apiserver log lines, byte for byte (the one truncated record left out). */
function apiserverLogLines(): string[] {
  const records = JSON.parse(readFileSync(join(SAMPLES, 'eks/filterlogevents-records.json'), 'utf8')) as { events: { message: string }[] };
  return records.events.map((e) => e.message).filter((m) => !m.includes('[Truncated...]'));
}

describe('webhook sink: body formats', () => {
  it('EventList: byte for byte the body a kube-apiserver sends for the same events', async () => {
    const lines = apiserverLogLines();
    expect(lines).toHaveLength(36);
    expect(lines.every((l) => l.startsWith(EVENT_HEAD))).toBe(true);
    // Inside an EventList the apiserver writes each item without kind/apiVersion.
    const expected = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${lines
      .map((l) => `{${l.slice(EVENT_HEAD.length)}`)
      .join(',')}]}`;

    const r = await receiver();
    const { write } = await webhookSink(r.url);
    await write(lines.map((l) => JSON.parse(l) as AuditEvent));

    expect(r.requests).toHaveLength(1);
    const [req] = r.requests;
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.raw.equals(Buffer.from(expected, 'utf8'))).toBe(true);
  });

  it('array: a bare JSON array of top-level Events', async () => {
    const r = await receiver();
    const events = makeEvents(0, 3);
    const { write } = await webhookSink(r.url, { format: 'array' });
    await write(events);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.text).toBe(`[${events.map((e) => goJSON(e)).join(',')}]`);
    expect(r.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('event: one POST per event, each body a top-level Event', async () => {
    const r = await receiver();
    const events = makeEvents(0, 4);
    const { write } = await webhookSink(r.url, { format: 'event' });
    await write(events);
    expect(r.requests.map((q) => q.text).sort()).toEqual(events.map((e) => goJSON(e)).sort());
  });

  it('ndjson: one Event per line, application/x-ndjson', async () => {
    const r = await receiver();
    const events = makeEvents(0, 3);
    const { write } = await webhookSink(r.url, { format: 'ndjson' });
    await write(events);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.headers['content-type']).toBe('application/x-ndjson');
    expect(r.requests[0]!.text).toBe(events.map((e) => `${goJSON(e)}\n`).join(''));
  });

  it('gzip: the same body, compressed, with Content-Encoding: gzip', async () => {
    const r = await receiver();
    const lines = apiserverLogLines();
    const { write } = await webhookSink(r.url, { gzip: true });
    await write(lines.map((l) => JSON.parse(l) as AuditEvent));
    const [req] = r.requests;
    expect(req!.headers['content-encoding']).toBe('gzip');
    expect(req!.raw.length).toBeLessThan(Buffer.byteLength(req!.text) / 3);
    expect((JSON.parse(req!.text) as { items: unknown[] }).items).toHaveLength(36);
  });
});

describe('webhook sink: batch limits', () => {
  it('by count: batchMaxSize events per body, across writes, in order', async () => {
    const r = await receiver();
    const { write } = await webhookSink(r.url, { batchMaxSize: 3, maxConcurrentRequests: 1 });
    const events = makeEvents(0, 10);
    await Promise.all([write(events.slice(0, 4)), write(events.slice(4))]);
    const bodies = r.json<{ items: AuditEvent[] }>();
    expect(bodies.map((b) => b.items.length)).toEqual([3, 3, 3, 1]);
    expect(bodies.flatMap((b) => ids(b.items))).toEqual(ids(events));
  });

  it('by bytes: no body passes batchMaxBytes, envelope included, and each is filled as far as the next event allows', async () => {
    const r = await receiver();
    const limit = 4096;
    // One request at a time, so bodies arrive in the order they were cut.
    const { write, metrics } = await webhookSink(r.url, { batchMaxBytes: limit, maxEventBytes: 2048, maxConcurrentRequests: 1 });
    // Sizes vary so that cuts fall at different places.
    const events = Array.from({ length: 40 }, (_, i) => makeEvent(i, { userAgent: 'x'.repeat(50 + ((i * 137) % 900)) }));
    await write(events);
    const sizes = r.requests.map((q) => q.raw.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
    const bodies = r.json<{ items: AuditEvent[] }>();
    expect(bodies.flatMap((b) => ids(b.items))).toEqual(ids(events));
    // Maximal: the first item of the next body would not have fitted in this one.
    for (let i = 0; i + 1 < bodies.length; i++) {
      const next = Buffer.byteLength(goJSON(bodies[i + 1]!.items[0]));
      expect(sizes[i]! + 1 + next).toBeGreaterThan(limit);
    }
    expect(await metricValue(metrics.webhookBatchBytes, { sink: 'hook' }, '_count')).toBe(bodies.length);
    expect(await metricValue(metrics.webhookBatchBytes, { sink: 'hook' }, '_sum')).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it('by time: a partial batch goes out batchMaxWait after its first event', async () => {
    const clock = new VirtualClock();
    const r = await receiver({ now: () => clock.now() });
    const { write } = await webhookSink(r.url, { batchMaxWait: '5s' }, { clock });
    const started = clock.now();
    await write(makeEvents(0, 2));
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.at! - started).toBe(5000);
    expect(r.json<{ items: unknown[] }>()[0]!.items).toHaveLength(2);
  });

  it('acknowledges writes in order: a later write waits for an earlier one still in flight', async () => {
    const r = await receiver();
    const gate = new Gate();
    const first = makeEvents(0, 2);
    const second = makeEvents(100, 2);
    r.respond = async (req) => {
      if (req.text.includes(first[0]!.auditID)) await gate.wait();
      return { status: 200 };
    };
    const { write, metrics } = await webhookSink(r.url, { batchMaxSize: 2 });
    const settled: string[] = [];
    const a = write(first).then(() => settled.push('first'));
    const b = write(second).then(() => settled.push('second'));
    // The second batch is answered while the first is held.
    await eventually(async () => (await metricValue(metrics.httpClientRequests, { target: 'hook', code: '200' })) === 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(settled).toEqual([]);
    gate.open();
    await Promise.all([a, b]);
    expect(settled).toEqual(['first', 'second']);
  });
});

describe('webhook sink: retries and refusals', () => {
  it('retries 503 and 429, waiting as Retry-After says, and sends the same body again', async () => {
    const clock = new VirtualClock();
    const r = await receiver({ now: () => clock.now() });
    const answers = [{ status: 503 }, { status: 429, headers: { 'retry-after': '7' } }, { status: 408 }, { status: 200 }];
    r.respond = (req) => answers[req.n - 1] ?? { status: 200 };
    const { write, metrics, health } = await webhookSink(r.url, { retry: { initialBackoff: '1s', maxBackoff: '60s' } }, { clock });
    await write(makeEvents(0, 5));

    expect(r.requests).toHaveLength(4);
    expect(new Set(r.requests.map((q) => q.text)).size).toBe(1);
    const at = r.requests.map((q) => q.at!);
    expect(at[1]! - at[0]!).toBeLessThan(1000 + 20); // first backoff: full jitter below the 1 s initial, plus batchMaxWait as below
    expect(at[2]! - at[1]!).toBe(7000 + 20); // Retry-After: 7, then the write waits batchMaxWait (20 ms) in a new body
    expect(at[3]! - at[2]!).toBeLessThan(4000 + 20); // third attempt: below 1 s * 2^2, plus batchMaxWait as above
    for (const code of ['503', '429', '408', '200']) {
      expect(await metricValue(metrics.httpClientRequests, { target: 'hook', code }), code).toBe(1);
    }
    // One unit: the write was retried three times (the pipeline retries; the HTTP client never does).
    expect(await metricValue(metrics.sinkRetries, { sink: 'hook' })).toBe(3);
    expect(health.readiness().problems).toEqual(['pipeline not started']);
  });

  it('retries a request that times out (requestTimeout)', async () => {
    const r = await receiver();
    const gate = new Gate();
    r.respond = async (req) => {
      if (req.n === 1) await gate.wait();
      return { status: 200 };
    };
    onCleanup(async () => gate.open());
    const { write, metrics, logs } = await webhookSink(r.url, { requestTimeout: '200ms' });
    await write(makeEvents(0, 3));
    expect(r.requests).toHaveLength(2);
    expect(await metricValue(metrics.httpClientRequests, { target: 'hook', code: 'timeout' })).toBe(1);
    expect(logs.lines().some((l) => l.msg === 'sink write failed; retrying' && String(l.error).startsWith('timeout: no complete answer within 200 ms'))).toBe(true);
  });

  it('a 400 narrows to the refused event: it alone goes to the dead-letter file with the status and the start of the response; the rest is delivered', async () => {
    const r = await receiver();
    const events = makeEvents(0, 6);
    const bad = events[2]!.auditID;
    r.respond = (req) =>
      req.text.includes(bad) ? { status: 400, body: `{"message":"cannot decode item 0: ${'x'.repeat(3000)}"}` } : { status: 200 };
    const { write, metrics, deadLetterPath, logs } = await webhookSink(r.url, { batchMaxSize: 2 });
    await write(events);

    // Every other event reaches the receiver (some twice: a body accepted before the refusal is
    // sent again while the write is narrowed, which at-least-once allows).
    const delivered = new Set(r.requests.filter((q) => !q.text.includes(bad)).flatMap((q) => ids((JSON.parse(q.text) as { items: AuditEvent[] }).items)));
    expect([...delivered].sort()).toEqual(ids(events.filter((e) => e.auditID !== bad)).sort());
    const letters = readJsonLines(deadLetterPath) as Record<string, unknown>[];
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ kind: 'refused', sink: 'hook', status: 400, reason: `HTTP 400 from ${new URL(r.url).origin}` });
    expect(String(letters[0]!.response)).toMatch(/^\{"message":"cannot decode item 0: x+$/);
    expect(String(letters[0]!.response)).toHaveLength(1024);
    expect(ids(letters[0]!.events as AuditEvent[])).toEqual([bad]);
    expect(await metricValue(metrics.deadLettered, { kind: 'refused', component: 'hook' })).toBe(1);
    // Never retried as if transient: the refused event is sent once per narrowing step, about log2(6) times.
    expect(r.requests.filter((q) => q.text.includes(bad)).length).toBeLessThanOrEqual(4);
    expect(await metricValue(metrics.sinkRetries, { sink: 'hook' })).toBe(0);
    expect(logs.text()).not.toContain('cannot decode item');
  });
});

describe('webhook sink: oversized events', () => {
  it('truncates an event above maxEventBytes as the kube-apiserver does, and dead-letters one still too big', async () => {
    const r = await receiver();
    const big = makeEvent(1, {
      level: 'RequestResponse',
      requestObject: { kind: 'ConfigMap', data: { blob: 'a'.repeat(300 * 1024) } },
      responseObject: { kind: 'ConfigMap' },
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    });
    const hopeless = makeEvent(2, { annotations: { huge: 'b'.repeat(300 * 1024) } });
    const events = [makeEvent(0), big, hopeless, makeEvent(3)];
    const { write, metrics, deadLetterPath } = await webhookSink(r.url);
    await write(events);

    const items = r.json<{ items: AuditEvent[] }>().flatMap((b) => b.items);
    expect(ids(items)).toEqual(ids([events[0]!, big, events[3]!]));
    const sent = items[1]!;
    expect(sent.requestObject).toBeUndefined();
    expect(sent.responseObject).toBeUndefined();
    expect(sent.annotations).toEqual({ 'audit.k8s.io/truncated': 'true', 'authorization.k8s.io/decision': 'allow' });
    expect(Object.keys(sent.annotations!)).toEqual(['audit.k8s.io/truncated', 'authorization.k8s.io/decision']);
    expect(await metricValue(metrics.webhookTruncated, { sink: 'hook' })).toBe(1);

    const letters = readJsonLines(deadLetterPath) as Record<string, unknown>[];
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toMatch(/^event of \d+ bytes exceeds maxEventBytes \(262144\) and has no request or response object to drop$/);
    expect(ids(letters[0]!.events as AuditEvent[])).toEqual([hopeless.auditID]);
  });
});

describe('webhook sink: authentication and headers', () => {
  it('sends the bearer token from a file, re-read when the file changes, with static headers; never logs it', async () => {
    const dir = await tempDir();
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'first-token-value\n');
    const r = await receiver();
    const { write, logs } = await webhookSink(r.url, { bearerTokenFile: tokenFile, headers: { 'X-Cluster': 'lab', 'Content-Type': 'application/json; charset=utf-8' } });
    await write(makeEvents(0, 1));
    await writeFile(tokenFile, 'second-token-value-rotated\n');
    await write(makeEvents(1, 1));
    expect(r.requests.map((q) => q.headers.authorization)).toEqual(['Bearer first-token-value', 'Bearer second-token-value-rotated']);
    expect(r.requests.every((q) => q.headers['x-cluster'] === 'lab')).toBe(true);
    // The body's type is the sink's to say.
    expect(r.requests[0]!.headers['content-type']).toBe('application/json');
    expect(logs.text()).not.toContain('token-value');
  });

  it('a missing token file is retried until it appears', async () => {
    const dir = await tempDir();
    const tokenFile = join(dir, 'token');
    const r = await receiver();
    const { write, metrics } = await webhookSink(r.url, { bearerTokenFile: tokenFile });
    const done = write(makeEvents(0, 1));
    await eventually(async () => (await metricValue(metrics.httpClientRequests, { target: 'hook', code: 'credentials' })) >= 2);
    expect(r.requests).toHaveLength(0);
    await writeFile(tokenFile, 'late-token');
    await done;
    expect(r.requests.map((q) => q.headers.authorization)).toEqual(['Bearer late-token']);
  });

  it('basic auth from a password file or an environment variable', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'user'), 'bridge\n');
    await writeFile(join(dir, 'password'), 's3cret-from-file\n');
    const r = await receiver();
    const fromFile = await webhookSink(r.url, { basicAuth: { usernameFile: join(dir, 'user'), passwordFile: join(dir, 'password') } });
    await fromFile.write(makeEvents(0, 1));
    const fromEnv = await webhookSink(r.url, { basicAuth: { username: 'bridge', passwordEnv: 'HOOK_PASSWORD' } }, { env: { HOOK_PASSWORD: 's3cret-from-env' } });
    await fromEnv.write(makeEvents(1, 1));
    const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    expect(r.requests.map((q) => q.headers.authorization)).toEqual([basic('bridge', 's3cret-from-file'), basic('bridge', 's3cret-from-env')]);
    expect(fromFile.logs.text() + fromEnv.logs.text()).not.toContain('s3cret');
  });

  it('a passwordEnv that is not set stops the start, naming the key', () => {
    const config = webhookSinkSchema.parse({ name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/x', basicAuth: { username: 'u', passwordEnv: 'NOPE_NOT_SET' } });
    const deps = { logger: silentLogger(), metrics: new Metrics(), clock: systemClock, health: new Health(systemClock), deadLetter: new FileDeadLetter('/nonexistent/dl.jsonl'), env: {} };
    expect(() => new WebhookSink(config, deps)).toThrow('basicAuth.passwordEnv: the environment variable NOPE_NOT_SET is not set');
  });
});
