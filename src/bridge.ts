import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { FileCheckpointStore } from './checkpoint/file-store.js';
import type { Config } from './config/schema.js';
import { FileDeadLetter } from './pipeline/dead-letter.js';
import { checkConfig, type CheckedConfig } from './check-config.js';
import { ConfigError } from './config/errors.js';
import { Health } from './pipeline/health.js';
import { Pipeline } from './pipeline/pipeline.js';
import { ReportingHealth, StatusBoard } from './pipeline/status.js';
import { deadLetterScrubber, processStage, scrubberFactory, type CompiledProcessing } from './process/stages.js';
import type { Source } from './pipeline/types.js';
import { InThreadPreparer, PooledPreparer, prepareWorkerScript, WORKER_RESOURCE_LIMITS, type PrepareJob, type ProcessedWire, type RecordPreparer } from './pipeline/prepare.js';
import type { PrepareWorkerData } from './pipeline/prepare-worker.js';
import { WorkerPool } from './pipeline/worker-pool.js';
import { usableCpus } from './util/cpus.js';
import { QuotaRegistry } from './util/token-bucket.js';
import { sinkComponent, sourceComponent } from './registry.js';
import { BridgeServer, type AuditReceiver } from './server/http-server.js';
import type { Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import { systemClock, type Clock } from './util/clock.js';

/**
 * pipeline.workers as a count. `auto`: one per usable CPU beside the main thread's (which runs the
 * SDKs, the sinks and the hand-off, and keeps most of a core busy), at most 4 (each worker costs
 * memory); none on one CPU, where a worker only adds the hand-off.
 */
export function workerCount(setting: number | 'auto', cpus = usableCpus()): number {
  if (setting !== 'auto') return setting;
  return cpus < 2 ? 0 : Math.min(4, cpus - 1);
}

/**
 * How deferred records become events: in a pool of worker threads, asked for the encodings the
 * sinks need (scrubbed, plain or both), or on the main thread when there are no workers.
 */
function recordPreparer(workers: number, config: Config, processing: CompiledProcessing, sinks: readonly { prepare?: unknown }[], logger: Logger): RecordPreparer {
  if (workers === 0) return new InThreadPreparer();
  const workerData: PrepareWorkerData = {
    process: config.process,
    variants: { scrubbed: sinks.some((s) => s.prepare !== undefined), plain: sinks.some((s) => s.prepare === undefined) },
  };
  const log = logger.child({ component: 'workers' });
  const pool = new WorkerPool<PrepareJob, ProcessedWire>({
    script: prepareWorkerScript(),
    size: workers,
    workerData,
    resourceLimits: WORKER_RESOURCE_LIMITS,
    onWorkerExit: (reason) => log.error({ reason }, 'a worker thread ended; a new one takes its place'),
  });
  return new PooledPreparer(pool, { processing, variants: workerData.variants }, log);
}

export interface BridgeOptions {
  logger: Logger;
  once?: boolean;
  clock?: Clock;
  stdout?: Writable;
  /** Node process metrics (memory, event loop) on /metrics; off in tests that build many bridges. */
  processMetrics?: boolean;
  /** API quota buckets; default one registry for this bridge. Benchmarks lift the quotas with their own. */
  quotas?: QuotaRegistry;
  /** What `run` already checked and compiled; checked here when absent (a config built in code). */
  checked?: CheckedConfig;
}

/**
 * The composition root: builds sources, sinks, checkpoint store and server from a validated
 * config. `start()` listens and runs; `done` settles when the pipeline has finished (after
 * `stop()`, or by itself in once mode).
 */
export class Bridge {
  readonly metrics: Metrics;
  readonly health: Health;
  /** What the status page shows beside the metrics; run --once reads its progress from it too. */
  readonly status: StatusBoard;
  private readonly server: BridgeServer;
  private readonly pipeline: Pipeline;
  private running: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    private readonly options: BridgeOptions,
    parts: { metrics: Metrics; health: Health; status: StatusBoard; server: BridgeServer; pipeline: Pipeline },
  ) {
    this.metrics = parts.metrics;
    this.health = parts.health;
    this.status = parts.status;
    this.server = parts.server;
    this.pipeline = parts.pipeline;
  }

  static async create(config: Config, options: BridgeOptions): Promise<Bridge> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger;
    const once = options.once ?? false;
    const metrics = new Metrics({ processMetrics: options.processMetrics ?? false });
    const status = new StatusBoard(clock);
    const health: Health = new ReportingHealth(status, clock, metrics);
    // Opened first: a corrupt checkpoint must stop the start before anything else happens.
    const checkpoints = await FileCheckpointStore.open(config.checkpoint.path);

    // Checked by validate and run already; a config built in code gets the same refusal here.
    const checked = options.checked ?? checkConfig(config);
    if (!checked.compiled) throw new ConfigError('config', checked.problems);
    for (const warning of checked.warnings) logger.warn({ warning }, 'config warning');
    const { processing, prepared } = checked.compiled;
    const scrubberFor = scrubberFactory(processing, metrics);

    const workers = workerCount(config.pipeline.workers);
    const quotas = options.quotas ?? new QuotaRegistry(clock);
    const sources: Source[] = [];
    const receivers: AuditReceiver[] = [];
    for (const sourceConfig of config.sources) {
      if (once && sourceConfig.type === 'webhook') {
        logger.warn({ source: sourceConfig.name }, 'run --once: webhook sources have nothing to drain; skipping');
        continue;
      }
      const component = sourceComponent(sourceConfig.type);
      if (!component.create) throw new ConfigError('config', [`sources: ${sourceConfig.type} sources are not available yet in this version`]);
      const created = component.create(sourceConfig, {
        logger: logger.child({ source: sourceConfig.name }),
        metrics,
        health,
        clock,
        quotas,
        once,
        mtls: config.server.tls?.clientCaFile !== undefined,
        maxInFlightBatches: config.pipeline.maxInFlightBatches,
        deferNormalization: workers > 0,
      });
      sources.push(created.source);
      if (created.receiver) receivers.push(created.receiver);
    }
    // One dead-letter file for the pipeline (rejects) and the sinks that refuse events themselves.
    const deadLetter = status.watchDeadLetter(
      new FileDeadLetter(config.deadLetter.path, {
        now: () => clock.now(),
        keepRaw: config.deadLetter.keepRaw,
        scrub: deadLetterScrubber(config.deadLetter.scrubSecrets, processing),
      }),
    );
    const sinks = config.sinks.map((sinkConfig) => {
      const context = { logger: logger.child({ sink: sinkConfig.name }), metrics, clock, health, deadLetter, stdout: options.stdout, status };
      return { prepare: scrubberFor(sinkConfig), sink: sinkComponent(sinkConfig.type).create(sinkConfig, context, prepared.get(sinkConfig.name)) };
    });

    const preparer = recordPreparer(workers, config, processing, sinks, logger);
    const pipeline = new Pipeline({
      sources,
      preparer,
      process: processStage(processing, metrics),
      sinks,
      checkpoints,
      deadLetter,
      metrics,
      health,
      logger,
      clock,
      maxInFlightBatches: config.pipeline.maxInFlightBatches,
      maxInFlightBySource: new Map(
        config.sources.flatMap((s) => ('maxInFlightBatches' in s && s.maxInFlightBatches !== undefined ? [[s.name, s.maxInFlightBatches]] : [])),
      ),
      dedupeMaxKeys: config.process.dedupe.maxKeys,
      dedupeSaveIntervalMs: config.checkpoint.dedupeSaveInterval,
      shutdownTimeoutMs: config.pipeline.shutdownTimeout,
      stallThresholdMs: config.pipeline.stallThreshold,
      sinkBackoff: { initialMs: 1000, maxMs: 60_000 },
      status,
    });
    const server = new BridgeServer({
      host: config.server.host,
      port: config.server.port,
      tls: config.server.tls,
      telemetry: config.server.telemetry,
      maxConnections: config.server.maxConnections,
      health,
      metrics,
      logger,
      receivers,
      status: config.server.statusPage ? status : undefined,
    });
    return new Bridge(config, options, { metrics, health, status, server, pipeline });
  }

  /** Listens, then runs the pipeline in the background. Returns the server's address. */
  async start(): Promise<AddressInfo> {
    const address = await this.server.listen();
    this.running = this.pipeline.run().finally(() => this.server.close());
    return address;
  }

  get done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  get address(): AddressInfo | undefined {
    return this.server.address;
  }

  /** The port of /metrics and the probes when server.telemetry gives them one of their own. */
  get telemetryAddress(): AddressInfo | undefined {
    return this.server.telemetryAddress;
  }

  /** Graceful stop: no new polls, in-flight deliveries finish (bounded by shutdownTimeout), commit. */
  async stop(reason = 'shutdown'): Promise<void> {
    this.health.markStopping();
    await this.pipeline.stop(reason);
    await this.done;
    this.options.logger.info('stopped');
  }
}
