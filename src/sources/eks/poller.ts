import type { FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import type { EksSourceConfig } from './config.js';
import { normalizeEksRecord, type EksContext } from './normalize.js';
import { isReject, type AuditEvent, type Reject } from '../../event/event.js';
import type { SourceBatch } from '../../pipeline/types.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import type { ApiFailure, PollContext, WindowPoller } from '../polling/loop.js';
import type { FilterLogEvents } from './client.js';
import { afterPage, completeWindow, hasSeen, initialCursor, isEksCursor, markSeen, windowFor, type EksCursor } from './cursor.js';

export interface EksPollerDeps {
  metrics: Metrics;
  bucket: TokenBucket;
  /** Resolves the SDK call on first use (the SDK loads lazily). */
  filterLogEvents: () => Promise<FilterLogEvents>;
  context: EksContext;
}

/**
 * The EKS half of a polling source: pages FilterLogEvents over the window the cursor gives,
 * through empty pages, drops eventIds already handed on, normalizes, and yields one batch per
 * page whose cursor resumes after it; the last page's batch also completes the window.
 */
export class EksPoller implements WindowPoller<EksCursor> {
  readonly logGroupName: string;

  constructor(
    private readonly config: EksSourceConfig,
    private readonly deps: EksPollerDeps,
  ) {
    this.logGroupName = config.logGroup ?? `/aws/eks/${config.cluster}/cluster`;
  }

  initialCursor(startMs: number): EksCursor {
    return initialCursor(startMs);
  }

  async *poll(from: EksCursor, ctx: PollContext): AsyncGenerator<SourceBatch & { cursor: EksCursor }> {
    // A checkpoint from another source type or version cannot be trusted to resume from.
    if (!isEksCursor(from)) throw new Error('the checkpoint of this source is not an EKS cursor; remove it to start afresh');
    const window = windowFor(from, ctx.nowMs, this.config.settleLag);
    if (!window) {
      // Nothing has settled since the cursor yet. Hand the cursor on anyway so that a first run's
      // resolved startFrom is checkpointed: a restart must not re-resolve "now" and skip the gap.
      yield { source: this.config.name, events: [], rejects: [], cursor: from };
      return;
    }
    const call = await this.deps.filterLogEvents();
    const { metrics } = this.deps;
    const source = this.config.name;
    let cursor = from;
    let seen = { ...from.seen };
    let nextToken: string | undefined;
    do {
      const page = await call(
        {
          logGroupName: this.logGroupName,
          logStreamNamePrefix: this.config.logStreamNamePrefix,
          startTime: window.startTime,
          endTime: window.endTime,
          limit: this.config.limit,
          ...(this.config.filterPattern ? { filterPattern: this.config.filterPattern } : {}),
          ...(nextToken ? { nextToken } : {}),
        },
        ctx.signal,
      );
      nextToken = page.nextToken || undefined;
      const logEvents = page.events ?? [];
      const events: AuditEvent[] = [];
      const rejects: Reject[] = [];
      let last = cursor.resume ?? window.startTime;
      for (const logEvent of logEvents) {
        const timestamp = logEvent.timestamp ?? window.startTime;
        const id = eventIdOf(logEvent);
        last = Math.max(last, timestamp);
        if (hasSeen(seen, timestamp, id)) continue;
        markSeen(seen, timestamp, id);
        // Below the watermark means the previous window covered this time without seeing it.
        if (timestamp < from.watermark) metrics.lateEvents.inc({ source });
        if (logEvent.ingestionTime !== undefined) metrics.ingestionLag.observe({ source }, Math.max(0, logEvent.ingestionTime - timestamp) / 1000);
        const result = normalizeEksRecord(logEvent, this.deps.context, `eventId ${id}`);
        if (isReject(result)) rejects.push(result);
        else events.push(result);
      }
      if (nextToken === undefined) {
        yield { source, events, rejects, cursor: completeWindow(cursor, seen, window, this.config.overlap) };
        return;
      }
      // An empty page moves nothing: CloudWatch says only that it has more to search.
      if (logEvents.length === 0) continue;
      cursor = afterPage(cursor, seen, last, window, this.config.overlap);
      seen = { ...cursor.seen }; // the pruned set; the cursor's own copy is never written again
      yield { source, events, rejects, cursor };
    } while (!ctx.signal.aborted);
  }

  classify(err: unknown): ApiFailure {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
    const name = typeof e?.name === 'string' && e.name !== 'Error' ? e.name : undefined;
    const status = e?.$metadata?.httpStatusCode;
    const throttled =
      name === 'ThrottlingException' || name === 'LimitExceededException' || name === 'TooManyRequestsException' || status === 429 || e?.$retryable?.throttling === true;
    return { code: name ?? (status !== undefined ? String(status) : 'network'), throttled };
  }

  onThrottled(_failure: ApiFailure, pauseMs: number): void {
    this.deps.bucket.pause(pauseMs);
  }
}

/** eventId is unique per event; an event without one (never seen on AWS) gets a stable stand-in. */
function eventIdOf(e: FilteredLogEvent): string {
  return e.eventId ?? `${e.logStreamName ?? ''}/${e.timestamp ?? ''}/${e.ingestionTime ?? ''}/${e.message?.length ?? 0}`;
}
