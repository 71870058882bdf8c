// The aks-eventhubs source in the test process: the real EventHubConsumerClient against the Event
// Hubs emulator on 127.0.0.1 (and Azurite for the Blob checkpoint store), driven by the real
// Pipeline with recording sinks and the file checkpoint store.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterEach } from 'vitest';
import { FileCheckpointStore } from '../../../src/checkpoint/file-store.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import { Health } from '../../../src/pipeline/health.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { TransientDeliveryError, type Sink } from '../../../src/pipeline/types.js';
import { aksEventHubsSourceSchema } from '../../../src/sources/aks-eventhubs/config.js';
import { startEventHubsEmulator, type DiagnosticRecord, type EventHubsEmulator, type EventHubsEmulatorOptions } from '../../../src/sources/aks-eventhubs/emulator/index.js';
import { AksEventHubsSource } from '../../../src/sources/aks-eventhubs/source.js';
import { createLogger, silentLogger, type Logger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { tempDir } from '../../helpers/fs.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, type Azurite } from './emulator/helpers.js';

export { AZURITE_ACCOUNT, AZURITE_KEY, eventually, sampleRecords, startAzurite, syntheticRecords, type Azurite } from './emulator/helpers.js';

export const HUB = 'insights-logs-kube-audit';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Runs after the current test, in reverse order of registration. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanup.push(fn);
}

export async function emulator(options: Partial<EventHubsEmulatorOptions> = {}): Promise<EventHubsEmulator> {
  const em = await startEventHubsEmulator({ hub: HUB, ...options });
  onCleanup(() => em.close());
  return em;
}

/** The emulator's connection string in a file, as a Secret volume would hold it. */
export async function connectionStringFile(em: EventHubsEmulator, dir?: string): Promise<string> {
  const file = join(dir ?? (await tempDir()), `eventhubs-${randomUUID().slice(0, 8)}`);
  await writeFile(file, `${em.connectionString}\n`, { mode: 0o600 });
  return file;
}

/** A fresh container in Azurite, and a storage connection string file for it. */
export async function blobContainer(azurite: Azurite, dir?: string): Promise<{ name: string; client: ContainerClient; store: BlobCheckpointStore; connectionStringFile: string }> {
  const name = `checkpoints-${randomUUID().slice(0, 8)}`;
  const client = new ContainerClient(`${azurite.url}/${name}`, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), { retryOptions: { maxTries: 2 } });
  await client.create();
  const file = join(dir ?? (await tempDir()), `storage-${name}`);
  await writeFile(file, azuriteConnectionString(azurite), { mode: 0o600 });
  return { name, client, store: new BlobCheckpointStore(client), connectionStringFile: file };
}

export function azuriteConnectionString(azurite: Azurite): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${azurite.url};`;
}

/** A sink that acknowledges (or not) and keeps everything it acknowledged. */
export class TestSink implements Sink {
  readonly received: AuditEvent[] = [];
  writes = 0;
  /** When set, every write fails with a transient error: a dead receiver. */
  dead = false;
  /** Writes wait for this before acknowledging. */
  gate: Promise<void> | undefined;

  constructor(readonly name = 'test') {}

  async write(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    this.writes++;
    if (this.dead) throw new TransientDeliveryError('connect ECONNREFUSED 127.0.0.1:9 (the receiver is down)');
    if (this.gate) await Promise.race([this.gate, new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))]);
    this.received.push(...events);
  }

  async close(): Promise<void> {}

  ids(): string[] {
    return this.received.map((e) => `${e.auditID}/${e.stage}`);
  }
}

export interface Running {
  pipeline: Pipeline;
  source: AksEventHubsSource;
  done: Promise<void>;
  health: Health;
  metrics: Metrics;
  checkpointPath: string;
  deadLetterPath: string;
  stop(): Promise<void>;
  /** The cursor the checkpoint file holds for the source. */
  cursor(): Record<string, unknown> | undefined;
  deadLetters(): Record<string, unknown>[];
}

/**
 * One bridge's pipeline with an aks-eventhubs source (config as YAML would give it, defaults
 * filled by the schema) and the given sinks, its checkpoint and dead-letter files in `dir`.
 */
export async function runSource(
  sourceConfig: Record<string, unknown>,
  sinks: Sink[],
  options: { dir?: string; once?: boolean; maxInFlightBatches?: number; clock?: Clock; shutdownTimeoutMs?: number; logger?: Logger } = {},
): Promise<Running> {
  const dir = options.dir ?? (await tempDir());
  const config = aksEventHubsSourceSchema.parse({ name: 'eh', type: 'aks-eventhubs', maxWaitTime: '200ms', quietPeriod: '1s', ...sourceConfig });
  const clock = options.clock ?? systemClock;
  const metrics = new Metrics();
  const health = new Health(clock, metrics);
  const source = new AksEventHubsSource(config, { logger: options.logger ?? silentLogger(), metrics, health, clock, quotas: new QuotaRegistry(clock), once: options.once ?? false });
  const checkpointPath = join(dir, 'checkpoints.json');
  const deadLetterPath = join(dir, 'dead-letter.jsonl');
  const pipeline = new Pipeline({
    sources: [source],
    sinks: sinks.map((sink) => ({ sink })),
    checkpoints: await FileCheckpointStore.open(checkpointPath),
    deadLetter: new FileDeadLetter(deadLetterPath, { keepRaw: true }),
    metrics,
    health,
    logger: silentLogger(),
    clock,
    maxInFlightBatches: options.maxInFlightBatches ?? 4,
    dedupeMaxKeys: 100_000,
    dedupeSaveIntervalMs: 60_000,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 2000,
    sinkBackoff: { initialMs: 5, maxMs: 50 },
  });
  const done = pipeline.run();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return done;
    stopped = true;
    await pipeline.stop('test');
    await done;
  };
  onCleanup(stop);
  return {
    pipeline,
    source,
    done,
    health,
    metrics,
    checkpointPath,
    deadLetterPath,
    stop,
    cursor: () => {
      try {
        return (JSON.parse(readFileSync(checkpointPath, 'utf8')) as { sources: Record<string, { cursor: Record<string, unknown> }> }).sources.eh?.cursor;
      } catch {
        return undefined;
      }
    },
    deadLetters: () => {
      try {
        return readFileSync(deadLetterPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        return [];
      }
    },
  };
}

/** A logger that keeps its JSON lines, for tests that look at what the source said. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', {
    write(chunk: string) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      return true;
    },
  } as unknown as NodeJS.WritableStream);
  return { logger, lines };
}

/** The auditID/stage keys the records carry (synthetic records: one Event each). */
export function keysOf(records: readonly DiagnosticRecord[]): string[] {
  return records.map((r) => {
    const e = JSON.parse(String((r.properties as { log: string }).log)) as AuditEvent;
    return `${e.auditID}/${e.stage}`;
  });
}

/** Synthetic records that are valid Events (the emulator helpers' are not: no timestamps, no user). */
export function auditRecords(count: number, from = 0, prefix = 'ev'): DiagnosticRecord[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const ts = new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + i).toISOString().replace('Z', '000Z');
    const event = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: `${prefix}-${i}`,
      stage: 'ResponseComplete',
      requestURI: `/api/v1/namespaces/default/pods/p-${i}`,
      verb: 'get',
      user: { username: 'system:serviceaccount:kube-system:test', groups: ['system:authenticated'] },
      sourceIPs: ['10.0.0.1'],
      objectRef: { resource: 'pods', namespace: 'default', name: `p-${i}`, apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: ts,
      stageTimestamp: ts,
    };
    return {
      operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
      category: 'kube-audit',
      resourceId: '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS',
      properties: { log: `${JSON.stringify(event)}\n`, stream: 'stdout', pod: 'kube-apiserver-0' },
      time: ts,
    };
  });
}
