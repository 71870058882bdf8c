// One normalizer for both encodings: every GKE sample LogEntry gives the same Event streamed (the
// JSON a Log Router sink publishes, through @google-cloud/pubsub and the emulator) as polled (the
// protobuf entries.list returns, through @google-cloud/logging and the Cloud Logging emulator),
// and as normalizeGkeEntry gives on the entry itself.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isReject, validateEvent, type AuditEvent } from '../../../src/event/event.js';
import { dedupeKey } from '../../../src/pipeline/dedupe.js';
import type { SourceBatch } from '../../../src/pipeline/types.js';
import { decodeSinkMessage } from '../../../src/sources/gke-pubsub/decode.js';
import { canonicalJson } from '../../../src/sources/gke-pubsub/emulator/index.js';
import { GkePubsubSource } from '../../../src/sources/gke-pubsub/source.js';
import { normalizeGkeEntry } from '../../../src/sources/gke/normalize.js';
import { formatTimeNs } from '../../../src/sources/gke/time.js';
import { Health } from '../../../src/pipeline/health.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { SAMPLES, testdata } from '../../helpers/events.js';
import { VirtualClock } from '../../helpers/clock.js';
import { drain, gkeConfig, gkeEntry, gkeSource, startEmulator } from '../gke/helpers.js';
import { pubsubConfig, Resources } from './helpers.js';

const res = new Resources();
afterEach(() => res.closeAll());

type Entry = Record<string, unknown>;

/** Every GKE sample entry: the gcloud exports and the one-entry files, each distinct entry once. */
function sampleEntries(): Entry[] {
  const seen = new Map<string, Entry>();
  const add = (entry: Entry): void => void seen.set(canonicalJson(entry), entry);
  for (const dir of [join(SAMPLES, 'gke'), testdata('gke')]) {
    for (const e of JSON.parse(readFileSync(join(dir, 'entries.json'), 'utf8')) as Entry[]) add(e);
    for (const sub of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      for (const file of readdirSync(join(dir, sub.name)).filter((f) => f.endsWith('.json'))) add(JSON.parse(readFileSync(join(dir, sub.name, file), 'utf8')) as Entry);
    }
  }
  return [...seen.values()];
}

/**
 * Entries whose JSON and protobuf forms differ most: nanosecond timestamps, an exec's start and
 * end (one insertId), int64 fields the JSON mapping writes as strings, numbers, nulls and lists
 * in the Struct bodies, a failure with the rpc message only.
 */
function edgeEntries(): Entry[] {
  const t = Date.parse('2026-09-15T12:00:00Z');
  const nanos = gkeEntry('edge-nanos', t, { nanos: 123_456_789 % 1_000_000 });
  nanos.timestamp = formatTimeNs(BigInt(t) * 1_000_000n + 123_456_789n);
  const start = gkeEntry('edge-exec', t + 1000);
  const startPayload = start.protoPayload as Entry;
  startPayload.methodName = 'io.k8s.core.v1.pods.exec.create';
  startPayload.resourceName = 'core/v1/namespaces/default/pods/web-0/exec';
  startPayload.numResponseItems = '0';
  start.operation = { id: 'edge-exec', producer: 'k8s.io', first: true };
  const end = structuredClone(start);
  end.operation = { id: 'edge-exec', producer: 'k8s.io', last: true };
  end.timestamp = formatTimeNs(BigInt(t + 4000) * 1_000_000n);
  const denied = gkeEntry('edge-denied', t + 2000);
  const deniedPayload = denied.protoPayload as Entry;
  deniedPayload.status = { code: 7, message: 'pods "x" is forbidden: exceeded quota' };
  deniedPayload.request = { kind: 'Pod', spec: { replicas: 3, ratio: 0.5, empty: null, tags: ['a', 1, false, null, { k: [] }] } };
  deniedPayload.response = { '@type': 'core.k8s.io/v1.Status', kind: 'Status', status: 'Failure', code: 403, reason: 'Forbidden', details: { kind: 'pods', name: 'x' } };
  return [nanos, start, end, denied];
}

function byKey(events: readonly AuditEvent[]): Map<string, AuditEvent> {
  return new Map(events.map((e) => [dedupeKey(e), e]));
}

function projectOf(entry: Entry): string {
  return /^projects\/([^/]+)\//.exec(entry.logName as string)![1]!;
}

/** The polled path: each project's entries through the Cloud Logging emulator and the gke source, one window. */
async function polled(entries: readonly Entry[]): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (const project of new Set(entries.map(projectOf))) {
    const clock = new VirtualClock(Date.parse('2027-01-01T00:00:00Z'));
    const emulator = await startEmulator(entries.filter((e) => projectOf(e) === project), {}, () => clock.now());
    try {
      const { source } = gkeSource(gkeConfig(emulator.endpoint, { projectId: project, startFrom: '2019-01-01T00:00:00Z' }), clock, { once: true });
      events.push(...(await drain(source, undefined)).events);
    } finally {
      await emulator.stop();
    }
  }
  return events;
}

/** The streamed path: published as a Log Router sink writes them, taken by the gke-pubsub source. */
async function streamed(entries: readonly Entry[]): Promise<{ events: AuditEvent[]; batches: SourceBatch[] }> {
  const emulator = await res.emulator({ data: entries });
  const metrics = new Metrics();
  const source = new GkePubsubSource(pubsubConfig(emulator.endpoint), {
    logger: silentLogger(),
    metrics,
    health: new Health(systemClock, metrics),
    clock: systemClock,
    quotas: new QuotaRegistry(systemClock),
    once: false,
  });
  const abort = new AbortController();
  const batches: SourceBatch[] = [];
  for await (const batch of source.batches(undefined, abort.signal)) {
    batches.push(batch);
    batch.settle?.({ delivered: true });
    if (batches.reduce((n, b) => n + b.events.length + b.rejects.length, 0) >= entries.length) abort.abort();
  }
  return { events: batches.flatMap((b) => b.events), batches };
}

describe('gke-pubsub golden: the same Event streamed as polled', () => {
  it('every GKE sample entry, and the encodings edge cases, give identical Events both ways', async () => {
    const entries = [...sampleEntries(), ...edgeEntries()];
    expect(entries.length).toBeGreaterThanOrEqual(28);
    const direct = entries.map((e) => normalizeGkeEntry(e));
    expect(direct.filter(isReject)).toEqual([]);

    const stream = await streamed(entries);
    expect(stream.batches.flatMap((b) => b.rejects)).toEqual([]);
    expect(stream.batches.every((b) => b.cursor === undefined && typeof b.settle === 'function')).toBe(true);
    const poll = await polled(entries);
    expect(stream.events).toHaveLength(entries.length);
    expect(poll).toHaveLength(entries.length);

    const streamedBy = byKey(stream.events);
    const polledBy = byKey(poll);
    for (const event of direct as AuditEvent[]) {
      const key = dedupeKey(event);
      expect(validateEvent(event), key).toEqual([]);
      expect(streamedBy.get(key), key).toEqual(event);
      expect(polledBy.get(key), key).toEqual(event);
      // The Event's own fields in the apiserver's order both ways. Within request and response
      // bodies (Structs, maps on the wire) neither encoding keeps the apiserver's key order.
      expect(Object.keys(streamedBy.get(key)!), key).toEqual(Object.keys(polledBy.get(key)!));
    }
  });

  it('decodes the message data as the normalizer takes it, keepTypeKey included', () => {
    const entry = gkeEntry('k1', Date.parse('2026-09-15T12:00:00Z'));
    const data = Buffer.from(canonicalJson(entry));
    expect(decodeSinkMessage(data, '7')).toEqual(normalizeGkeEntry(entry));
    expect(decodeSinkMessage(data, '7', { keepTypeKey: true })).toEqual(normalizeGkeEntry(entry, { keepTypeKey: true }));
    expect((decodeSinkMessage(data, '7', { keepTypeKey: true }) as AuditEvent).requestObject).toHaveProperty(['@type']);
  });

  it('rejects what is not JSON, or not a Kubernetes API audit entry, with the message id and the data as published', () => {
    const secret = Buffer.from('{"insertId":"x","protoPayload":{"request":{"data":{"password":"hunter2"');
    const cut = decodeSinkMessage(secret, '41');
    expect(cut).toMatchObject({ raw: secret.toString('utf8'), ref: 'message 41' });
    expect(isReject(cut) && cut.reason).toMatch(/^not JSON/);
    // The reason reaches logs and metric labels: never the text.
    expect(isReject(cut) && cut.reason).not.toContain('hunter2');
    for (const text of ['secret-token-xyz', '{"a": secret}', '']) {
      const r = decodeSinkMessage(Buffer.from(text), '1');
      expect(isReject(r) && r.reason.includes('secret')).toBe(false);
    }

    const foreign = { ...gkeEntry('f', Date.parse('2026-09-15T12:00:00Z')), resource: { type: 'gke_cluster', labels: {} } };
    const text = canonicalJson(foreign);
    expect(decodeSinkMessage(Buffer.from(text), '42')).toEqual({ reason: 'not a Kubernetes API audit entry: resource.type "gke_cluster"', raw: text, ref: 'message 42' });
    expect(decodeSinkMessage(Buffer.from('[1,2]'), '43')).toMatchObject({ reason: 'not a LogEntry: expected an object, got a list of 2', ref: 'message 43' });
  });
});
