import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { FileCheckpointStore } from './checkpoint/file-store.js';
import type { Config } from './config/schema.js';
import { FileDeadLetter } from './forward/dead-letter.js';
import { AVAILABLE_SINK_TYPES, createSink } from './forward/index.js';
import { Health } from './pipeline/health.js';
import { Pipeline } from './pipeline/pipeline.js';
import { compileProcessing, processStage, scrubberFactory } from './process/stages.js';
import type { Source } from './pipeline/types.js';
import { QuotaRegistry } from './util/token-bucket.js';
import { AVAILABLE_SOURCE_TYPES, createSource } from './providers/index.js';
import { BridgeServer, type AuditReceiver } from './server/http-server.js';
import type { Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import { systemClock, type Clock } from './util/clock.js';

export interface BridgeOptions {
  logger: Logger;
  once?: boolean;
  clock?: Clock;
  stdout?: Writable;
  /** Node process metrics (memory, event loop) on /metrics; off in tests that build many bridges. */
  processMetrics?: boolean;
  /** API quota buckets; default one registry for this bridge. Benchmarks lift the quotas with their own. */
  quotas?: QuotaRegistry;
}

/** Config entries this build cannot run yet, as lines naming the key: `validate` and `run` report them. */
export function unavailableComponents(config: Config): string[] {
  const lines: string[] = [];
  config.sources.forEach((s, i) => {
    if (!AVAILABLE_SOURCE_TYPES.has(s.type)) lines.push(`sources[${i}].type: ${s.type} sources are not available yet in this version`);
  });
  config.sinks.forEach((s, i) => {
    if (!AVAILABLE_SINK_TYPES.has(s.type)) lines.push(`sinks[${i}].type: ${s.type} sinks are not available yet in this version`);
  });
  return lines;
}

/**
 * The composition root: builds sources, sinks, checkpoint store and server from a validated
 * config. `start()` listens and runs; `done` settles when the pipeline has finished (after
 * `stop()`, or by itself in once mode).
 */
export class Bridge {
  readonly metrics: Metrics;
  readonly health: Health;
  private readonly server: BridgeServer;
  private readonly pipeline: Pipeline;
  private running: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    private readonly options: BridgeOptions,
    parts: { metrics: Metrics; health: Health; server: BridgeServer; pipeline: Pipeline },
  ) {
    this.metrics = parts.metrics;
    this.health = parts.health;
    this.server = parts.server;
    this.pipeline = parts.pipeline;
  }

  static async create(config: Config, options: BridgeOptions): Promise<Bridge> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger;
    const once = options.once ?? false;
    const metrics = new Metrics({ processMetrics: options.processMetrics ?? false });
    const health = new Health(clock, metrics);
    // Opened first: a corrupt checkpoint must stop the start before anything else happens.
    const checkpoints = await FileCheckpointStore.open(config.checkpoint.path);

    // Checked by validate and run already; a config built in code gets the same refusal here.
    const loaded = compileProcessing(config.process);
    if (!loaded.processing) throw new Error(`process: ${loaded.problems.join('; ')}`);
    for (const warning of loaded.warnings) logger.warn({ warning }, 'audit policy: unknown field ignored');
    const processing = loaded.processing;
    const scrubberFor = scrubberFactory(processing, metrics);

    const quotas = options.quotas ?? new QuotaRegistry(clock);
    const sources: Source[] = [];
    const receivers: AuditReceiver[] = [];
    for (const sourceConfig of config.sources) {
      if (once && sourceConfig.type === 'webhook') {
        logger.warn({ source: sourceConfig.name }, 'run --once: webhook sources have nothing to drain; skipping');
        continue;
      }
      const created = createSource(sourceConfig, { logger, metrics, health, clock, quotas, once });
      sources.push(created.source);
      if (created.receiver) receivers.push(created.receiver);
    }
    // One dead-letter file for the pipeline (rejects) and the sinks that refuse events themselves.
    const deadLetter = new FileDeadLetter(config.deadLetter.path, () => clock.now());
    const sinks = config.sinks.map((sinkConfig) => ({
      prepare: scrubberFor(sinkConfig),
      sink: createSink(sinkConfig, {
        logger: logger.child({ sink: sinkConfig.name }),
        metrics,
        clock,
        health,
        deadLetter,
        stdout: options.stdout,
      }),
    }));

    const pipeline = new Pipeline({
      sources,
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
      sinkBackoff: { initialMs: 1000, maxMs: 60_000 },
    });
    const server = new BridgeServer({ host: config.server.host, port: config.server.port, health, metrics, logger, receivers });
    return new Bridge(config, options, { metrics, health, server, pipeline });
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

  /** Graceful stop: no new polls, in-flight deliveries finish (bounded by shutdownTimeout), commit. */
  async stop(reason = 'shutdown'): Promise<void> {
    this.health.markStopping();
    await this.pipeline.stop(reason);
    await this.done;
    this.options.logger.info('stopped');
  }
}
