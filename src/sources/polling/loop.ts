import type { Cursor, SourceBatch } from '../../pipeline/types.js';
import type { Health } from '../../pipeline/health.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { resolveStartFrom, type StartFrom } from '../../config/fields.js';
import { backoffDelay } from '../../util/backoff.js';
import { isAbortError, type Clock } from '../../util/clock.js';

/** How a provider classifies an API failure, for metrics and pacing. */
export interface ApiFailure {
  /** Short, low-cardinality label: a gRPC code name, an HTTP status, an AWS error name. */
  code: string;
  /** Quota or rate refusal: the shared bucket is paused, not only this source. */
  throttled: boolean;
  retryAfterMs?: number;
}

export interface PollContext {
  signal: AbortSignal;
  /** The clock's time when this poll started; the window ends at nowMs − settleLag. */
  nowMs: number;
}

/**
 * The provider-specific half of a polling source. `poll` reads everything new from `cursor` up
 * to nowMs − settleLag, page by page, and yields batches whose `cursor` resumes after them. It
 * should end with a batch carrying the cursor of the window's end (events may be empty) so the
 * checkpoint advances even when nothing arrived. It throws on API errors; the loop backs off
 * and polls again from the last cursor it yielded.
 */
export interface WindowPoller<C extends Cursor> {
  initialCursor(startMs: number): C;
  poll(cursor: C, ctx: PollContext): AsyncIterable<SourceBatch & { cursor: C }>;
  classify(err: unknown): ApiFailure;
  /** A throttling answer pauses the quota bucket every source of that quota shares. */
  onThrottled?(failure: ApiFailure, pauseMs: number): void;
}

export interface PollingOptions {
  name: string;
  pollIntervalMs: number;
  /** run --once: one complete poll up to now − settleLag, then end. */
  once: boolean;
  /** Absolute start for the first run (startFrom resolved by the caller). */
  startMs: () => number;
  clock: Clock;
  health: Health;
  metrics: Metrics;
  logger: Logger;
  /** Backoff after a failed poll; defaults 1 s initial, 60 s cap. */
  backoff?: { initialMs: number; maxMs: number };
}

/** The polling options of a source's config and context: the same for every cloud provider. */
export function pollingOptionsFor(
  config: { name: string; pollInterval: number; startFrom: StartFrom },
  ctx: Pick<PollingOptions, 'once' | 'clock' | 'health' | 'metrics' | 'logger' | 'backoff'>,
): PollingOptions {
  const { clock } = ctx;
  return {
    name: config.name,
    pollIntervalMs: config.pollInterval,
    once: ctx.once,
    startMs: () => resolveStartFrom(config.startFrom, clock.now()),
    clock,
    health: ctx.health,
    metrics: ctx.metrics,
    logger: ctx.logger,
    ...(ctx.backoff ? { backoff: ctx.backoff } : {}),
  };
}

/**
 * The loop every polling source shares (DESIGN §4): poll, report health and duration, sleep the
 * poll interval; on an API error count it, back off (honouring Retry-After and pausing the shared
 * quota on throttling) and re-query from the last cursor handed to the pipeline.
 */
export async function* pollingBatches<C extends Cursor>(
  poller: WindowPoller<C>,
  options: PollingOptions,
  from: Cursor | undefined,
  signal: AbortSignal,
): AsyncGenerator<SourceBatch> {
  const { name, clock, health, metrics, logger } = options;
  let cursor = (from as C | undefined) ?? poller.initialCursor(options.startMs());
  let failures = 0;
  while (!signal.aborted) {
    const started = clock.now();
    try {
      for await (const batch of poller.poll(cursor, { signal, nowMs: started })) {
        yield batch;
        cursor = batch.cursor;
      }
      failures = 0;
      health.sourcePolled(name);
      metrics.pollDuration.observe({ source: name }, (clock.now() - started) / 1000);
      if (options.once) return;
      await clock.sleep(Math.max(0, options.pollIntervalMs - (clock.now() - started)), signal);
    } catch (err) {
      if (signal.aborted && isAbortError(err)) return;
      if (signal.aborted) return;
      failures++;
      const failure = poller.classify(err);
      metrics.apiErrors.inc({ source: name, code: failure.code });
      if (failure.throttled) metrics.apiThrottles.inc({ source: name });
      const delay = backoffDelay(failures, options.backoff ?? { initialMs: 1000, maxMs: 60_000 }, failure.retryAfterMs);
      if (failure.throttled) poller.onThrottled?.(failure, delay);
      const message = err instanceof Error ? err.message : String(err);
      health.sourceFailed(name, `${failure.code}: ${message}`);
      logger.warn({ code: failure.code, attempt: failures, retryInMs: delay, error: message }, 'poll failed; retrying from the last cursor');
      try {
        await clock.sleep(delay, signal);
      } catch {
        return;
      }
    }
  }
}
