import type { AuditEvent } from '../normalize/event.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { DeadLetter } from '../forward/dead-letter.js';
import type { Health } from './health.js';
import { PermanentDeliveryError, TransientDeliveryError, type Sink } from './types.js';

export interface DeliveryContext {
  clock: Clock;
  metrics: Metrics;
  health: Health;
  deadLetter: DeadLetter;
  logger: Logger;
  backoff: BackoffPolicy;
}

/**
 * Hands events to one sink until it acknowledges: transient failures are retried with
 * backoff for as long as the signal allows; a permanent refusal sends the batch to the
 * dead-letter file, which counts as handled so delivery goes on.
 */
export async function deliverToSink(sink: Sink, events: readonly AuditEvent[], signal: AbortSignal, ctx: DeliveryContext): Promise<void> {
  if (events.length === 0) return;
  const started = ctx.clock.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await sink.write(events, signal);
      ctx.health.sinkRecovered(sink.name);
      ctx.metrics.eventsDelivered.inc({ sink: sink.name }, events.length);
      ctx.metrics.sinkWriteDuration.observe({ sink: sink.name }, (ctx.clock.now() - started) / 1000);
      return;
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof PermanentDeliveryError) {
        await ctx.deadLetter.refused(sink.name, events, err.message, err.detail);
        ctx.metrics.deadLettered.inc({ kind: 'refused', component: sink.name }, events.length);
        ctx.logger.error({ sink: sink.name, events: events.length, reason: err.message }, 'sink refused a batch permanently; written to the dead-letter file');
        ctx.health.sinkRecovered(sink.name);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      ctx.health.sinkFailed(sink.name, message);
      ctx.metrics.sinkRetries.inc({ sink: sink.name });
      const delay = backoffDelay(attempt, ctx.backoff, err instanceof TransientDeliveryError ? err.retryAfterMs : undefined);
      ctx.logger.warn({ sink: sink.name, attempt, retryInMs: delay, error: message }, 'sink write failed; retrying');
      await ctx.clock.sleep(delay, signal);
    }
  }
}
