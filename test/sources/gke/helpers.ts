import { gkeSourceSchema, type GkeSourceConfig } from '../../../src/sources/gke/config.js';
import { GkeEmulator } from '../../../src/sources/gke/emulator/server.js';
import type { GkeFaults } from '../../../src/sources/gke/emulator/faults.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { Health } from '../../../src/pipeline/health.js';
import type { Cursor, SourceBatch } from '../../../src/pipeline/types.js';
import { GkeSource } from '../../../src/sources/gke/source.js';
import { formatTimeNs } from '../../../src/sources/gke/time.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import type { Clock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';

export const PROJECT = 'test-project';

/** A synthetic GKE audit LogEntry at `ms` (+ extra nanoseconds), visible after `lagMs`. */
export function gkeEntry(id: string, ms: number, options: { nanos?: number; lagMs?: number; cluster?: string; project?: string } = {}): Record<string, unknown> {
  const ns = BigInt(ms) * 1_000_000n + BigInt(options.nanos ?? 0);
  const project = options.project ?? PROJECT;
  return {
    insertId: id,
    logName: `projects/${project}/logs/cloudaudit.googleapis.com%2Factivity`,
    operation: { id, producer: 'k8s.io', first: true, last: true },
    labels: { 'authorization.k8s.io/decision': 'allow' },
    protoPayload: {
      '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
      serviceName: 'k8s.io',
      methodName: 'io.k8s.core.v1.configmaps.update',
      resourceName: `core/v1/namespaces/default/configmaps/${id}`,
      authenticationInfo: { principalEmail: 'alice@example.com' },
      requestMetadata: { callerIp: '10.0.0.1', callerSuppliedUserAgent: 'kubectl' },
      request: { '@type': 'core.k8s.io/v1.ConfigMap', data: { n: 1, list: [true, null, 'x'], nested: { deep: 'yes' } } },
      status: {},
    },
    resource: { type: 'k8s_cluster', labels: { cluster_name: options.cluster ?? 'c1', location: 'l1', project_id: project } },
    timestamp: formatTimeNs(ns),
    receiveTimestamp: formatTimeNs(ns + BigInt(options.lagMs ?? 1000) * 1_000_000n),
  };
}

export function gkeConfig(endpoint: string, overrides: Record<string, unknown> = {}): GkeSourceConfig {
  return gkeSourceSchema.parse({
    name: 'g',
    type: 'gke',
    projectId: PROJECT,
    endpoint,
    insecure: true,
    settleLag: '30s',
    overlap: '2m',
    pollInterval: '10s',
    ...overrides,
  });
}

export interface Harness {
  source: GkeSource;
  metrics: Metrics;
  quotas: QuotaRegistry;
  health: Health;
}

export function gkeSource(config: GkeSourceConfig, clock: Clock, options: { once?: boolean; quotas?: QuotaRegistry; metrics?: Metrics } = {}): Harness {
  const metrics = options.metrics ?? new Metrics();
  const health = new Health(clock, metrics);
  health.registerSource(config.name, config.pollInterval);
  const quotas = options.quotas ?? new QuotaRegistry(clock);
  const source = new GkeSource(config, { logger: silentLogger(), metrics, health, clock, quotas, once: options.once ?? false });
  return { source, metrics, quotas, health };
}

/** Pulls batches until `stop` says so (or the source ends, in once mode). */
export async function drain(
  source: GkeSource,
  from: Cursor | undefined,
  stop: (batches: SourceBatch[]) => boolean = () => false,
): Promise<{ batches: SourceBatch[]; events: AuditEvent[]; cursor: Cursor | undefined }> {
  const abort = new AbortController();
  const batches: SourceBatch[] = [];
  for await (const batch of source.batches(from, abort.signal)) {
    batches.push(batch);
    if (stop(batches)) abort.abort();
  }
  return { batches, events: batches.flatMap((b) => b.events), cursor: batches.at(-1)?.cursor };
}

export async function startEmulator(entries: unknown[], faults: GkeFaults = {}, now?: () => number): Promise<GkeEmulator> {
  return GkeEmulator.start(entries, { faults, now });
}
