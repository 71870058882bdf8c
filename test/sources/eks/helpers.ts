import { readFileSync } from 'node:fs';
import { eksSourceSchema, type EksSourceConfig } from '../../../src/sources/eks/config.js';
import type { EmulatorRecord } from '../../../src/sources/eks/emulator/server.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { Health } from '../../../src/pipeline/health.js';
import type { Cursor, SourceBatch } from '../../../src/pipeline/types.js';
import { EksSource, type EksSourceDeps } from '../../../src/sources/eks/source.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { testdata } from '../../helpers/events.js';

export const STATIC_CREDENTIALS = { accessKeyId: 'AKIDEMULATOR', secretAccessKey: 'emulator-secret' };

interface SampleRecord {
  logStreamName: string;
  timestamp: number;
  message: string;
  ingestionTime: number;
  eventId: string;
}

/** The sample FilterLogEvents records (src/sources/eks/testdata, copied from samples/eks). */
export function sampleRecords(): SampleRecord[] {
  return (JSON.parse(readFileSync(`${testdata('eks')}filterlogevents-records.json`, 'utf8')) as { events: SampleRecord[] }).events;
}

/** `count` Events from the sample messages (the truncated one left out), each with its own auditID `<prefix>-<i>`. */
export function sampleEvents(count: number, prefix: string): AuditEvent[] {
  const messages = sampleRecords()
    .map((r) => r.message)
    .filter((m) => !m.endsWith('[Truncated...]'));
  return Array.from({ length: count }, (_, i) => ({ ...(JSON.parse(messages[i % messages.length]!) as AuditEvent), auditID: `${prefix}-${i}` }));
}

/** Makes `event` the creation of a Secret whose data holds `value`, at RequestResponse level. */
export function asSecretCreate(event: AuditEvent, namespace: string, name: string, value: string): AuditEvent {
  return Object.assign(event, {
    level: 'RequestResponse',
    verb: 'create',
    objectRef: { resource: 'secrets', namespace, name, apiVersion: 'v1' },
    requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name }, data: { password: value } },
  });
}

const STREAMS = ['kube-apiserver-audit-b5b662adf0e40b9253722f985e321a40', 'kube-apiserver-audit-16b25d540f7ca627dc93c8cb5cf4b73a'];

/**
 * `count` records built from the sample messages, each with its own auditID (eks-<tag>-<i>), at
 * the timestamps `at(i)` (visible at once unless `ingestAt` says otherwise), alternating streams.
 */
export function records(count: number, at: (i: number) => number, options: { tag?: string; ingestAt?: (i: number) => number } = {}): EmulatorRecord[] {
  return sampleEvents(count, `eks-${options.tag ?? 't'}`).map((event, i) => {
    const timestamp = at(i);
    return {
      logStreamName: STREAMS[i % 2]!,
      timestamp,
      message: JSON.stringify(event),
      ingestionTime: options.ingestAt ? options.ingestAt(i) : timestamp,
    };
  });
}

/** A clock the test moves by hand (for window ends); sleeps are real. */
export class ManualClock implements Clock {
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}

export interface Harness {
  source: EksSource;
  metrics: Metrics;
  quotas: QuotaRegistry;
  health: Health;
}

export function eksConfig(endpoint: string, overrides: Record<string, unknown> = {}): EksSourceConfig {
  return eksSourceSchema.parse({
    name: 'prod-eks',
    type: 'eks',
    region: 'us-east-1',
    cluster: 'demo-eks',
    accountId: '123456789012',
    endpoint,
    pollInterval: '100ms',
    settleLag: '200ms',
    overlap: '2s',
    startFrom: '-1m',
    ...overrides,
  });
}

/** An EKS source wired as the bridge wires it, with static credentials and a fast backoff. */
export function eksSource(
  config: EksSourceConfig,
  options: { once?: boolean; clock?: Clock; metrics?: Metrics; quotas?: QuotaRegistry; credentials?: EksSourceDeps['credentials'] | null } = {},
): Harness {
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? new Metrics();
  const quotas = options.quotas ?? new QuotaRegistry(clock);
  const health = new Health(clock, metrics);
  health.registerSource(config.name, config.pollInterval);
  const deps: EksSourceDeps = {
    logger: silentLogger(),
    metrics,
    health,
    clock,
    quotas,
    once: options.once ?? true,
    backoff: { initialMs: 20, maxMs: 200 },
  };
  if (options.credentials !== null) deps.credentials = options.credentials ?? STATIC_CREDENTIALS;
  return { source: new EksSource(config, deps), metrics, quotas, health };
}

/** Collects batches until the iterator ends or `stop` says so (then aborts). */
export async function drain(source: EksSource, from?: Cursor, stop?: (batches: SourceBatch[]) => boolean, timeoutMs = 20_000): Promise<SourceBatch[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('drain timed out')), timeoutMs);
  const batches: SourceBatch[] = [];
  try {
    for await (const batch of source.batches(from, abort.signal)) {
      batches.push(batch);
      if (stop?.(batches)) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return batches;
}

export function auditIDs(batches: readonly SourceBatch[]): string[] {
  return batches.flatMap((b) => b.events.map((e) => e.auditID));
}

/** The cursor to resume from after these batches, through JSON as the checkpoint file keeps it. */
export function lastCursor(batches: readonly SourceBatch[], before?: Cursor): Cursor | undefined {
  const cursor = [...batches].reverse().find((b) => b.cursor)?.cursor ?? before;
  return cursor === undefined ? undefined : (JSON.parse(JSON.stringify(cursor)) as Cursor);
}
