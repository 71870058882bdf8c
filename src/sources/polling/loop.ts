import type { Cursor, SourceBatch } from '../../pipeline/types.js';
import type { Health } from '../../pipeline/health.js';
import { SourceStoppedError } from '../../pipeline/source-runner.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { resolveStartFrom, type StartFrom } from '../../config/fields.js';
import { backoffDelay } from '../../util/backoff.js';
import { isAbortError, type Clock } from '../../util/clock.js';
import { CursorError } from './window.js';

/**
 * Why retrying will not help, as the `reason` label of source_lasting_errors_total and
 * source_failing: the identity may not read (permission_denied), what the source names does not
 * exist (not_found: project, log group, workspace, table), the credentials are refused
 * (bad_credentials), the API refuses the query itself (invalid_query), or the checkpoint cannot be
 * read (bad_checkpoint).
 */
export type LastingReason = 'permission_denied' | 'not_found' | 'bad_credentials' | 'invalid_query' | 'bad_checkpoint';

/** How a provider classifies an API failure, for metrics and pacing. */
export interface ApiFailure {
  /** Short, low-cardinality label: a gRPC code name, an HTTP status, an AWS error name. */
  code: string;
  /** Quota or rate refusal: the shared bucket is paused, not only this source. */
  throttled: boolean;
  retryAfterMs?: number;
  /** The API's own words, when the error's message wraps them in more. */
  answer?: string;
  /** Who answered, when not the poller's API (a token service refusing the credentials). */
  api?: string;
  /** Set when retrying cannot fix it by itself: what is wrong and what the operator likely has to do. */
  lasting?: { reason: LastingReason; fix: string };
}

export interface PollContext {
  signal: AbortSignal;
  /** The clock's time when this poll started; the window ends at nowMs − settleLag. */
  nowMs: number;
  /** Called after every answer of the API: a long read is progress, not a stall. */
  progress?: () => void;
}

/**
 * The provider-specific half of a polling source. `poll` reads everything new from `cursor` up
 * to nowMs − settleLag, page by page, and yields batches whose `cursor` resumes after them. It
 * should end with a batch carrying the cursor of the window's end (events may be empty) so the
 * checkpoint advances even when nothing arrived. It throws on API errors; the loop backs off
 * and polls again from the last cursor it yielded.
 */
export interface WindowPoller<C extends Cursor> {
  /** The API call, as the one-line message of a lasting error names it ("CloudWatch Logs FilterLogEvents"). */
  readonly api?: string;
  initialCursor(startMs: number): C;
  poll(cursor: C, ctx: PollContext): AsyncIterable<SourceBatch & { cursor: C }>;
  /** Transient (throttling, 5xx, timeouts, network) or lasting (`lasting` set). */
  classify(err: unknown): ApiFailure;
  /** A throttling answer pauses the quota bucket every source of that quota shares. */
  onThrottled?(failure: ApiFailure, pauseMs: number): void;
}

/** How long a source waits before trying again after a lasting error, in continuous mode. */
export const LASTING_RETRY_MS = 5 * 60_000;

export interface PollingOptions {
  name: string;
  pollIntervalMs: number;
  /** run --once: one complete poll up to now − settleLag, then end; a lasting error ends it too. */
  once: boolean;
  /** Absolute start for the first run (startFrom resolved by the caller). */
  startMs: () => number;
  clock: Clock;
  health: Health;
  metrics: Metrics;
  logger: Logger;
  /** Backoff after a failed poll; defaults 1 s initial, 60 s cap. */
  backoff?: { initialMs: number; maxMs: number };
  /** Wait after a lasting error before trying again; default LASTING_RETRY_MS. */
  lastingRetryMs?: number;
}

/** The polling options of a source's config and context: the same for every cloud provider. */
export function pollingOptionsFor(
  config: { name: string; pollInterval: number; startFrom: StartFrom },
  ctx: Pick<PollingOptions, 'once' | 'clock' | 'health' | 'metrics' | 'logger' | 'backoff' | 'lastingRetryMs'>,
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
    ...(ctx.lastingRetryMs !== undefined ? { lastingRetryMs: ctx.lastingRetryMs } : {}),
  };
}

/**
 * The loop every polling source shares (src/sources/polling/README.md): poll, report health and
 * duration, sleep the poll interval. On a transient API error: count it, back off (honouring
 * Retry-After and pausing the shared quota on throttling) and re-query from the last cursor handed
 * to the pipeline; the backoff starts over whenever a poll hands on a batch, even one that fails
 * later. On a lasting error: say so on /readyz and in the metrics with one line naming the source,
 * the API's answer and the likely fix, then try again only every lastingRetryMs; in once mode, end
 * the source with that line instead (SourceStoppedError).
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
  const failing = new Set<string>();
  const alive = (): void => {
    health.sourcePolled(name);
    for (const reason of failing) metrics.sourceFailing.set({ source: name, reason }, 0);
    failing.clear();
  };
  while (!signal.aborted) {
    const started = clock.now();
    try {
      for await (const batch of poller.poll(cursor, { signal, nowMs: started, progress: alive })) {
        yield batch;
        cursor = batch.cursor;
        failures = 0;
        alive();
      }
      failures = 0;
      alive();
      metrics.pollDuration.observe({ source: name }, (clock.now() - started) / 1000);
      if (options.once) return;
      await clock.sleep(Math.max(0, options.pollIntervalMs - (clock.now() - started)), signal);
    } catch (err) {
      if (signal.aborted && isAbortError(err)) return;
      if (signal.aborted) return;
      const message = oneLine(err instanceof Error ? err.message : String(err));
      // A checkpoint that cannot be read is no API error, but as lasting as one: its message says what to do.
      const unreadable = err instanceof CursorError;
      const failure: ApiFailure = unreadable ? { code: 'checkpoint', throttled: false, lasting: { reason: 'bad_checkpoint', fix: '' } } : poller.classify(err);
      if (!unreadable) metrics.apiErrors.inc({ source: name, code: failure.code });
      let delay: number;
      if (failure.lasting) {
        const { reason } = failure.lasting;
        const line = unreadable ? message : lastingLine(name, failure.api ?? poller.api, failure, message);
        metrics.sourceLastingErrors.inc({ source: name, reason });
        metrics.sourceFailing.set({ source: name, reason }, 1);
        failing.add(reason);
        health.sourceFailed(name, line, { lasting: true });
        if (options.once) throw new SourceStoppedError(line);
        delay = options.lastingRetryMs ?? LASTING_RETRY_MS;
        logger.error({ code: failure.code, reason, retryInMs: delay, error: message }, line);
      } else {
        failures++;
        if (failure.throttled) metrics.apiThrottles.inc({ source: name });
        delay = backoffDelay(failures, options.backoff ?? { initialMs: 1000, maxMs: 60_000 }, failure.retryAfterMs);
        if (failure.throttled) poller.onThrottled?.(failure, delay);
        health.sourceFailed(name, `${failure.code}: ${message}`);
        logger.warn({ code: failure.code, attempt: failures, retryInMs: delay, error: message }, 'poll failed; retrying from the last cursor');
      }
      try {
        await clock.sleep(delay, signal);
      } catch {
        return;
      }
    }
  }
}

/** What `run --once` prints and /readyz shows for a lasting error: source, the API's answer, the likely fix. */
export function lastingLine(source: string, api: string | undefined, failure: ApiFailure, message: string): string {
  const answer = oneLine(failure.answer ?? message);
  const said = answer === '' || answer === failure.code ? failure.code : `${failure.code}: ${answer}`;
  return `source ${source}: ${api ?? 'the API'} answered ${said}${/[.!?]$/.test(said) ? '' : '.'} Likely fix: ${failure.lasting?.fix ?? 'none known'}`;
}

/** Error messages can span lines (SDK dumps, server bodies): one line, of a length a terminal shows. */
function oneLine(text: string, maxLength = 400): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
}
