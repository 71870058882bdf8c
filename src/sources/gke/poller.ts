import type { GkeSourceConfig } from './config.js';
import { isReject, type AuditEvent, type Reject } from '../../event/event.js';
import { normalizeGkeEntry } from './normalize.js';
import type { Logger } from '../../telemetry/logger.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import type { ApiFailure, PollContext, WindowPoller } from '../polling/loop.js';
import type { LoggingClient } from './client.js';
import { initialGkeCursor, readGkeCursor, SeenSet, seenKey, type GkeCursor } from './cursor.js';
import { fromWireEntry } from './entry.js';
import { baseFilter, windowFilter } from './filter.js';
import { formatTimeNs, msToNs, nsToMs, parseTimeNs } from './time.js';
import type { SourceBatch } from '../../pipeline/types.js';

/** google/rpc/code.proto names, for metrics labels. */
const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export interface GkePollerDeps {
  client: () => Promise<LoggingClient>;
  /** The entries.list bucket of the project, shared with every other source on it. */
  quota: TokenBucket;
  logger: Logger;
  /** Called after every successful entries.list: a long backfill is progress, not a stall. */
  progress?: () => void;
}

type Config = Pick<GkeSourceConfig, 'name' | 'projectId' | 'logs' | 'clusters' | 'locations' | 'filter' | 'pageSize' | 'settleLag' | 'overlap' | 'keepTypeKey'>;

/**
 * One gke source's windows: each poll reads [watermark − overlap, now − settleLag) in timestamp
 * order, page by page (each page one batch), skipping what the cursor has seen.
 */
export class GkeWindowPoller implements WindowPoller<GkeCursor> {
  private readonly base: string;

  constructor(
    private readonly config: Config,
    private readonly deps: GkePollerDeps,
  ) {
    this.base = baseFilter({ projectId: config.projectId, logs: config.logs, clusters: config.clusters, locations: config.locations, extra: config.filter });
  }

  initialCursor(startMs: number): GkeCursor {
    return initialGkeCursor(msToNs(startMs));
  }

  async *poll(cursor: GkeCursor, ctx: PollContext): AsyncGenerator<SourceBatch & { cursor: GkeCursor }> {
    const { watermarkNs, resumeNs, sinceNs, seen: seenList } = readGkeCursor(cursor);
    const overlapNs = msToNs(this.config.overlap);
    const endNs = msToNs(ctx.nowMs - this.config.settleLag);
    let fromNs = resumeNs ?? watermarkNs - overlapNs;
    if (sinceNs !== undefined && fromNs < sinceNs) fromNs = sinceNs;
    if (endNs <= fromNs) {
      // Nothing is settled yet beyond where we are: keep the cursor as it is.
      yield { source: this.config.name, events: [], rejects: [], cursor };
      return;
    }
    const client = await this.deps.client();
    const filter = windowFilter(this.base, fromNs, endNs);
    const seen = new SeenSet(seenList);
    let resume = cursor.resume;
    let pageToken: string | undefined;
    let maxLagMs = 0;
    const normalizeOptions = { keepTypeKey: this.config.keepTypeKey };
    for (;;) {
      await this.deps.quota.take(ctx.signal);
      const page = await client.list({ filter, pageSize: this.config.pageSize, pageToken }, ctx.signal);
      const events: AuditEvent[] = [];
      const rejects: Reject[] = [];
      for (const raw of page.entries) {
        const wire = fromWireEntry(raw);
        if (wire.timestampNs !== undefined && wire.insertId !== undefined) {
          const key = seenKey(wire.timestampNs, wire.insertId);
          resume = formatTimeNs(wire.timestampNs); // read up to here, whether new or not
          if (seen.has(key)) continue;
          seen.add(key, wire.timestampNs);
        }
        if (!wire.ok) {
          rejects.push({ reason: wire.reason, raw: wire.raw, ref: wire.insertId ?? 'entry without insertId' });
          continue;
        }
        const lag = wire.receiveNs === undefined ? 0 : nsToMs(wire.receiveNs - wire.timestampNs);
        if (lag > maxLagMs) maxLagMs = lag;
        const result = normalizeGkeEntry(wire.json, normalizeOptions, wire.insertId);
        if (isReject(result)) rejects.push(result);
        else events.push(result);
      }
      this.deps.progress?.();
      pageToken = page.nextPageToken || undefined;
      if (pageToken) {
        // A restart re-reads from `resume`, and the next window from end − overlap: older keys
        // are never needed again. This keeps the cursor small through a long backfill.
        const resumeAt = resume === undefined ? fromNs : parseTimeNs(resume)!;
        seen.prune(resumeAt < endNs - overlapNs ? resumeAt : endNs - overlapNs);
        const next: GkeCursor = { watermark: cursor.watermark, seen: seen.list() };
        if (resume !== undefined) next.resume = resume;
        if (cursor.since !== undefined) next.since = cursor.since;
        yield { source: this.config.name, events, rejects, cursor: next };
        continue;
      }
      // The window is complete: the watermark moves to its end; seen keeps what the next
      // window (from end − overlap) can read again.
      const newWatermark = endNs > watermarkNs ? endNs : watermarkNs;
      seen.prune(newWatermark - overlapNs);
      const done: GkeCursor = { watermark: formatTimeNs(newWatermark), seen: seen.list() };
      if (cursor.since !== undefined && sinceNs !== undefined && sinceNs > newWatermark - overlapNs) done.since = cursor.since;
      if (maxLagMs > 0) this.deps.logger.debug({ maxIngestionLagMs: maxLagMs }, 'window read');
      yield { source: this.config.name, events, rejects, cursor: done };
      return;
    }
  }

  classify(err: unknown): ApiFailure {
    const code = (err as { code?: unknown } | null)?.code;
    const name = typeof code === 'number' ? (GRPC_CODES[code] ?? `GRPC_${code}`) : err instanceof Error && err.name === 'TimeoutError' ? 'DEADLINE_EXCEEDED' : 'UNKNOWN';
    return { code: name, throttled: name === 'RESOURCE_EXHAUSTED' };
  }

  onThrottled(_failure: ApiFailure, pauseMs: number): void {
    this.deps.quota.pause(pauseMs);
  }
}
