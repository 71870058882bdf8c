// The one delivery path: a write is retried while its failure is transient, and a failure that
// retrying cannot fix narrows the batch, half by half, down to the items that cause it, which are
// dead-lettered alone. Sinks (items = events) and the rules sink's alert outputs (items = alerts)
// are both delivered here, so retries, backoff and the dead-letter file live in one place.
import type { AuditEvent } from '../event/event.js';
import type { EncodedEvent } from '../event/encoded.js';
import type { LogThrottle } from '../telemetry/log-throttle.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { DeadLetter } from './dead-letter.js';
import type { Health } from './health.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import { PermanentDeliveryError, TransientDeliveryError, type Sink } from './types.js';

export type Failure =
  | { kind: 'transient'; reason: string; retryAfterMs?: number }
  | { kind: 'permanent'; reason: string; detail: Record<string, unknown> };

/**
 * What a failure means for delivery. Transient: the sink said so (network errors, timeouts, 408,
 * 429, 5xx), or the operating system failed an I/O call (a full disk, a broken pipe). Anything else
 * (a refusal, or an exception such as a RangeError on an event too large to encode) cannot be fixed
 * by trying the same items again.
 */
export function classifyFailure(err: unknown): Failure {
  if (err instanceof TransientDeliveryError) {
    return { kind: 'transient', reason: err.message, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) };
  }
  if (err instanceof PermanentDeliveryError) return { kind: 'permanent', reason: err.message, detail: err.detail };
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (err instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { kind: 'transient', reason: `${code}: ${err.message}` };
  // A timeout or an interruption that is not the pipeline's own abort: the next try may pass.
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return { kind: 'transient', reason: err.message };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { kind: 'permanent', reason: message, detail: {} };
}

/** Where a delivery reports what happened to it: metrics and health, per kind of target. */
export interface DeliveryReport {
  delivered(count: number, startedMs: number): void;
  /** A transient failure; the write is tried again after `delayMs`. */
  retrying(attempt: number, delayMs: number, reason: string): void;
  /** Items refused for good, now in the dead-letter file. */
  refused(count: number, reason: string): void;
}

export interface DeliveryTarget<T> {
  readonly name: string;
  /** Between retries of this target; default the context's. */
  readonly backoff?: BackoffPolicy | undefined;
  /** Resolves when the destination has every item; throws as classifyFailure reads it. */
  write(items: readonly T[], signal: AbortSignal): Promise<void>;
  /** Keeps items refused for good, with the reason; throws only when the file cannot be written. */
  deadLetter(items: readonly T[], reason: string, detail: Record<string, unknown>): Promise<void>;
  report: DeliveryReport;
}

export interface DeliveryContext {
  clock: Clock;
  backoff: BackoffPolicy;
  /** For dead-letter writes that fail (a full disk): logged at a bounded rate while retried. */
  log: LogThrottle;
}

/**
 * Delivers `items` to `target`: resolves when every item is delivered or dead-lettered, rejects
 * only when `signal` aborts (the shutdown deadline), leaving the batch uncommitted.
 */
export async function deliver<T>(target: DeliveryTarget<T>, items: readonly T[], signal: AbortSignal, ctx: DeliveryContext): Promise<void> {
  if (items.length === 0) return;
  const started = ctx.clock.now();
  const failure = await writeUntilDefinite(target, items, signal, ctx);
  if (failure === undefined) {
    target.report.delivered(items.length, started);
    return;
  }
  if (items.length > 1) {
    // Halves in order, each retried and narrowed on its own: a batch of n costs at most 2n − 1 writes.
    const half = Math.ceil(items.length / 2);
    await deliver(target, items.slice(0, half), signal, ctx);
    await deliver(target, items.slice(half), signal, ctx);
    return;
  }
  await persist(() => target.deadLetter(items, failure.reason, failure.detail), signal, ctx);
  target.report.refused(items.length, failure.reason);
}

/** Writes until the target acknowledges (undefined) or fails in a way retrying cannot fix (the failure). */
async function writeUntilDefinite<T>(
  target: DeliveryTarget<T>,
  items: readonly T[],
  signal: AbortSignal,
  ctx: DeliveryContext,
): Promise<Extract<Failure, { kind: 'permanent' }> | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      await target.write(items, signal);
      return undefined;
    } catch (err) {
      if (signal.aborted) throw err;
      const failure = classifyFailure(err);
      if (failure.kind === 'permanent') return failure;
      const delay = backoffDelay(attempt, target.backoff ?? ctx.backoff, failure.retryAfterMs);
      target.report.retrying(attempt, delay, failure.reason);
      await ctx.clock.sleep(delay, signal);
    }
  }
}

/**
 * Runs a dead-letter write until it succeeds: the file is where refused items must end up, so a
 * failing write (a full or read-only disk) is retried, and the batch stays uncommitted meanwhile.
 */
export async function persist(write: () => Promise<void>, signal: AbortSignal, ctx: DeliveryContext): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      if (signal.aborted) throw err;
      const delay = backoffDelay(attempt, ctx.backoff);
      ctx.log.error('dead-letter-write', { attempt, retryInMs: delay, error: (err as Error).message }, 'writing the dead-letter file failed; retrying');
      await ctx.clock.sleep(delay, signal);
    }
  }
}

/** What a sink's delivery reports to. */
export interface SinkTargetServices {
  metrics: Metrics;
  health: Health;
  clock: Clock;
  deadLetter: DeadLetter;
}

/** A sink as the delivery path drives it: its metrics, its health, its dead-letter entries. */
export function sinkTarget(sink: Sink, deps: SinkTargetServices, log: LogThrottle): DeliveryTarget<AuditEvent> {
  return {
    name: sink.name,
    backoff: sink.retryBackoff,
    write: (events, signal) => sink.write(events, signal),
    deadLetter: (events, reason, detail) => deps.deadLetter.refused(sink.name, events, reason, detail),
    report: sinkReport(sink, deps, log),
  };
}

/** The same, for a sink that takes events as text (Sink.writeEncoded); undefined for one that does not. */
export function encodedSinkTarget(sink: Sink, deps: SinkTargetServices, log: LogThrottle): DeliveryTarget<EncodedEvent> | undefined {
  const writeEncoded = sink.writeEncoded?.bind(sink);
  if (!writeEncoded) return undefined;
  return {
    name: sink.name,
    backoff: sink.retryBackoff,
    write: writeEncoded,
    deadLetter: (items, reason, detail) =>
      deps.deadLetter.refused(
        sink.name,
        items.map((i) => i.event),
        reason,
        detail,
      ),
    report: sinkReport(sink, deps, log),
  };
}

function sinkReport(sink: Sink, deps: SinkTargetServices, log: LogThrottle): DeliveryReport {
  const { metrics, health, clock } = deps;
  return {
      delivered(count, startedMs) {
        health.sinkRecovered(sink.name);
        metrics.eventsDelivered.inc({ sink: sink.name }, count);
        metrics.sinkWriteDuration.observe({ sink: sink.name }, (clock.now() - startedMs) / 1000);
      },
      retrying(attempt, delayMs, reason) {
        health.sinkFailed(sink.name, reason);
        metrics.sinkRetries.inc({ sink: sink.name });
        log.warn(`retry:${sink.name}`, { sink: sink.name, attempt, retryInMs: delayMs, error: reason }, 'sink write failed; retrying');
      },
      refused(count, reason) {
        health.sinkRecovered(sink.name);
        metrics.deadLettered.inc({ kind: 'refused', component: sink.name }, count);
        log.error(`refused:${sink.name}`, { sink: sink.name, events: count, reason }, 'sink refused events permanently; written to the dead-letter file');
      },
  };
}
