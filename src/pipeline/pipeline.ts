import { AbortError } from '../util/clock.js';
import { SourceRunner, type PipelineServices, type ProcessStage } from './source-runner.js';
import type { Source } from './types.js';

export interface PipelineOptions extends PipelineServices {
  sources: readonly Source[];
  process?: ProcessStage;
  maxInFlightBatches: number;
  /** Per-source overrides of maxInFlightBatches. */
  maxInFlightBySource?: ReadonlyMap<string, number>;
  dedupeSaveIntervalMs: number;
  shutdownTimeoutMs: number;
  /** A source whose oldest undelivered batch is older than this is reported as stalled; default 5 minutes. */
  stallThresholdMs?: number;
}

/**
 * Wires sources to sinks with the delivery guarantee of docs/architecture.md. `run()` resolves when every
 * source has ended (once mode) or after `stop()` has drained what was in flight.
 */
export class Pipeline {
  private readonly pollAbort = new AbortController();
  private readonly deliveryAbort = new AbortController();
  private readonly runners: SourceRunner[];
  private stopping: Promise<void> | undefined;
  private dedupeSaves: Promise<void> = Promise.resolve();

  constructor(private readonly options: PipelineOptions) {
    const identity: ProcessStage = (events) => events;
    this.runners = options.sources.map(
      (source) =>
        new SourceRunner(source, {
          ...options,
          process: options.process ?? identity,
          maxInFlightBatches: options.maxInFlightBySource?.get(source.name) ?? options.maxInFlightBatches,
          pollSignal: this.pollAbort.signal,
          deliverySignal: this.deliveryAbort.signal,
        }),
    );
    for (const source of options.sources) options.health.registerSource(source.name, source.pollIntervalMs);
    for (const { sink } of options.sinks) options.health.registerSink(sink.name, sink.failureThresholdMs);
    options.metrics.addCollector(() => this.updateAgeMetrics());
    options.health.addCheck(() => this.stalls().map((s) => `source ${s.source} has not delivered a batch for ${Math.round(s.ageMs / 1000)} s: waiting for ${s.waitingFor.join(', ')}`));
  }

  /** Sources whose oldest undelivered batch has waited past the threshold, and what it waits for. */
  private stalls(): { source: string; ageMs: number; waitingFor: string[] }[] {
    const threshold = this.options.stallThresholdMs ?? 5 * 60_000;
    const now = this.options.clock.now();
    return this.runners.flatMap((runner) => {
      const oldest = runner.oldestPending(now);
      return oldest && oldest.ageMs > threshold ? [{ source: runner.name, ...oldest }] : [];
    });
  }

  async run(): Promise<void> {
    const { logger, dedupeSaveIntervalMs } = this.options;
    const saver = setInterval(() => void this.saveDedupe(false), dedupeSaveIntervalMs);
    saver.unref();
    this.options.health.markStarted();
    try {
      const results = await Promise.allSettled(this.runners.map((r) => r.run()));
      for (const r of results) {
        if (r.status === 'rejected') logger.error({ error: String(r.reason) }, 'source runner ended with an error');
      }
    } finally {
      clearInterval(saver);
      await this.saveDedupe(true);
      await this.closeSinks();
      await this.options.preparer?.close();
      await this.options.deadLetter.close();
      await this.options.checkpoints.close();
    }
  }

  /**
   * Graceful shutdown: stop polling, let in-flight deliveries finish within shutdownTimeout,
   * then abort what remains (it is not committed, so it is read again after a restart).
   */
  stop(reason = 'shutdown'): Promise<void> {
    this.stopping ??= (async () => {
      const { logger, clock, shutdownTimeoutMs } = this.options;
      logger.info({ reason, timeoutMs: shutdownTimeoutMs }, 'stopping: no new polls; finishing in-flight deliveries');
      this.pollAbort.abort(new AbortError(reason));
      const deadline = new AbortController();
      const drained = Promise.all(this.runners.map((r) => r.drain()));
      const timer = clock.sleep(shutdownTimeoutMs, deadline.signal).then(
        () => 'timeout' as const,
        () => 'drained' as const,
      );
      const outcome = await Promise.race([drained.then(() => 'drained' as const), timer]);
      deadline.abort();
      if (outcome === 'timeout') {
        logger.warn('shutdown timeout reached; abandoning in-flight deliveries (they will be read again after a restart)');
        this.deliveryAbort.abort(new AbortError('shutdown timeout'));
      }
    })();
    return this.stopping;
  }

  /** Saves are chained so that an older snapshot can never overwrite a newer one. */
  private saveDedupe(force: boolean): Promise<void> {
    this.dedupeSaves = this.dedupeSaves.then(async () => {
      const changed = this.runners.filter((r) => force || r.dedupe.dirty);
      if (changed.length === 0) return;
      try {
        await this.options.checkpoints.saveDedupe(new Map(changed.map((r) => [r.name, r.dedupe.packedSnapshot()])));
      } catch (err) {
        // Their keys stay in the journal until a later save succeeds (src/checkpoint/file-store.ts).
        for (const r of changed) r.dedupe.markUnsaved();
        this.options.logger.error({ error: (err as Error).message }, 'saving the dedupe window failed');
      }
    });
    return this.dedupeSaves;
  }

  private async closeSinks(): Promise<void> {
    for (const { sink } of this.options.sinks) {
      try {
        await sink.close();
      } catch (err) {
        this.options.logger.error({ sink: sink.name, error: (err as Error).message }, 'closing sink failed');
      }
    }
  }

  private updateAgeMetrics(): void {
    const now = this.options.clock.now();
    const { metrics } = this.options;
    // sink_failing is set as readiness is computed: a scrape must not depend on the probes running.
    this.options.health.readiness();
    metrics.sourceStalled.reset();
    for (const stall of this.stalls()) for (const what of stall.waitingFor) metrics.sourceStalled.set({ source: stall.source, waiting_for: what }, 1);
    for (const runner of this.runners) {
      metrics.sourceBlocked.set({ source: runner.name }, (runner.oldestPending(now)?.ageMs ?? 0) / 1000);
      const ages = runner.ages(now);
      if (ages.checkpoint !== undefined) this.options.metrics.checkpointAge.set({ source: runner.name }, ages.checkpoint);
      if (ages.lag !== undefined) this.options.metrics.sourceLag.set({ source: runner.name }, ages.lag);
    }
  }
}
