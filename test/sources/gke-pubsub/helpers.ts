import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileCheckpointStore } from '../../../src/checkpoint/file-store.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import { Health } from '../../../src/pipeline/health.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { gkePubsubSourceSchema, type GkePubsubSourceConfig } from '../../../src/sources/gke-pubsub/config.js';
import { GkePubsubSource } from '../../../src/sources/gke-pubsub/source.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { tempDir } from '../../helpers/fs.js';
import type { RecordingSink } from '../../helpers/pipeline.js';
import { SUBSCRIPTION } from './emulator/helpers.js';

import { PooledPreparer, prepareWorkerScript, type PrepareJob, type ProcessedWire } from '../../../src/pipeline/prepare.js';
import { WorkerPool } from '../../../src/pipeline/worker-pool.js';
import { processSchema } from '../../../src/process/config.js';
import { compileProcessing } from '../../../src/process/stages.js';
import { captureLogger } from '../../helpers/webhook.js';

export { entries, PROJECT, Resources, sampleEntries, sleep, SUBSCRIPTION, waitFor } from './emulator/helpers.js';

/** A gke-pubsub source config for the emulator at `endpoint`; batches go out after 20 ms. */
export function pubsubConfig(endpoint: string, overrides: Record<string, unknown> = {}): GkePubsubSourceConfig {
  return gkePubsubSourceSchema.parse({
    name: 'ps',
    type: 'gke-pubsub',
    subscription: SUBSCRIPTION,
    endpoint,
    insecure: true,
    maxBatchWait: '20ms',
    quietPeriod: '1s',
    ...overrides,
  });
}

export interface Harness {
  pipeline: Pipeline;
  /** Settles when the pipeline has ended (once mode, or after stop()). */
  done: Promise<void>;
  metrics: Metrics;
  health: Health;
  dir: string;
  deadLetterPath: string;
  stop(): Promise<void>;
  /** Worker threads started (0 without workers), and jobs they failed (done on the main thread instead). */
  workers(): { started: number; failedJobs: number };
}

/**
 * A pipeline with one gke-pubsub source and the given sinks, as the bridge wires them (dedupe
 * window, dead-letter file, checkpoint store in a temp dir). `healthClock` drives /readyz only.
 */
export async function startPipeline(
  config: GkePubsubSourceConfig,
  sinks: RecordingSink[],
  options: { once?: boolean; maxInFlightBatches?: number; shutdownTimeoutMs?: number; dir?: string; healthClock?: Clock; lastingRetryMs?: number; workers?: number } = {},
): Promise<Harness> {
  const workers = options.workers ?? 0;
  const pooled = workers > 0 ? pooledPreparer(workers) : undefined;
  const dir = options.dir ?? (await tempDir());
  const metrics = new Metrics();
  const health = new Health(options.healthClock ?? systemClock, metrics);
  const deadLetterPath = join(dir, 'dead-letter.jsonl');
  const source = new GkePubsubSource(config, {
    logger: silentLogger(),
    metrics,
    health,
    clock: systemClock,
    quotas: new QuotaRegistry(systemClock),
    once: options.once ?? false,
    deferNormalization: workers > 0,
    ...(options.maxInFlightBatches === undefined ? {} : { maxInFlightBatches: options.maxInFlightBatches }),
  }, options.lastingRetryMs === undefined ? {} : { lastingRetryMs: options.lastingRetryMs });
  const pipeline = new Pipeline({
    sources: [source],
    ...(pooled ? { preparer: pooled.preparer } : {}),
    sinks: sinks.map((sink) => ({ sink })),
    checkpoints: await FileCheckpointStore.open(join(dir, 'checkpoints.json')),
    deadLetter: new FileDeadLetter(deadLetterPath),
    metrics,
    health,
    logger: silentLogger(),
    clock: systemClock,
    maxInFlightBatches: options.maxInFlightBatches ?? config.maxInFlightBatches ?? 4,
    dedupeMaxKeys: 100_000,
    dedupeSaveIntervalMs: 60_000,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5000,
    sinkBackoff: { initialMs: 20, maxMs: 100 },
  });
  const done = pipeline.run();
  return {
    pipeline,
    done,
    metrics,
    health,
    dir,
    deadLetterPath,
    stop: async () => {
      await pipeline.stop('test');
      await done;
    },
    workers: () => ({ started: pooled?.pool.started ?? 0, failedJobs: pooled?.failures() ?? 0 }),
  };
}

/** Worker threads as the bridge starts them, for sinks that do not scrub and no process stages. */
function pooledPreparer(workers: number): { preparer: PooledPreparer; pool: WorkerPool<PrepareJob, ProcessedWire>; failures: () => number } {
  const variants = { scrubbed: false, plain: true };
  const process = processSchema.parse({});
  const pool = new WorkerPool<PrepareJob, ProcessedWire>({ script: prepareWorkerScript(), size: workers, workerData: { process, variants } });
  const load = compileProcessing(process);
  // A job the workers failed is done on the main thread and logged: tests read the log.
  const log = captureLogger('info');
  return { preparer: new PooledPreparer(pool, { processing: load.processing!, variants }, log.logger), pool, failures: () => log.lines().length };
}

/** How many times each auditID reached a sink. */
export function counts(events: readonly AuditEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) out.set(e.auditID, (out.get(e.auditID) ?? 0) + 1);
  return out;
}

export async function readJsonLines<T = Record<string, unknown>>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
