import { isReject, type AuditEvent, type Reject } from '../../event/event.js';
import type { ConverterRef, Cursor, DeferredRecords, SourceBatch } from '../../pipeline/types.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { ApiFailure, PollContext, WindowPoller } from './loop.js';
import {
  afterPage,
  completeWindow,
  CursorError,
  initialWindowCursor,
  max,
  readWindowCursor,
  windowFor,
  writeWindowCursor,
  type PositionCodec,
  type ResumePoint,
  type Window,
  type WindowCursor,
} from './window.js';

/** One answer of the provider's API inside a window. */
export interface Page<R> {
  records: readonly R[];
  /** The window has been read to its end: this is its last page. */
  done: boolean;
  /**
   * Where a retry continues when not done. Default: the highest position among the page's keyed
   * records, inclusive (the seen set drops what is read again there). Keyset providers give the
   * last record's (position, key).
   */
  resume?: ResumePoint;
}

/** A record's place in the log: its position, and a key unique among the records at that position. */
export interface RecordId {
  position: bigint;
  key: string;
}

export interface WindowSettings {
  /** The source's name, for batches and metrics. */
  name: string;
  codec: PositionCodec;
  settleLagMs: number;
  overlapMs: number;
  metrics?: Metrics;
  /**
   * Hand records over unnormalized (SourceBatch.deferred) to this converter, with this context,
   * for the runner's worker threads; the provider's `defer` then says what of a record crosses.
   */
  deferTo?: { converter: ConverterRef; context: DeferredRecords['context'] } | undefined;
}

/**
 * The window loop every polled source shares: each poll reads [floor or watermark − overlap or the
 * resume point, now − settleLag) page by page, skips the records its cursor has seen, and yields one
 * batch per page whose cursor resumes after it; the window's last page also completes it. A
 * provider supplies only how to fetch the pages of a window, a record's position and key, and how
 * to turn a record into an Event.
 */
export abstract class OverlapWindowPoller<R> implements WindowPoller<Cursor> {
  private readonly overlap: bigint;

  protected constructor(private readonly settings: WindowSettings) {
    this.overlap = settings.codec.fromMs(settings.overlapMs) - settings.codec.fromMs(0);
  }

  /** The pages of a window, in position order, the last one marked done. */
  protected abstract pages(window: Window, ctx: PollContext): AsyncIterable<Page<R>>;
  /** Undefined for a record that has no usable position or key: it is handed on every time it is read. */
  protected abstract identify(record: R, window: Window): RecordId | undefined;
  protected abstract convert(record: R, id: RecordId | undefined): AuditEvent | Reject;
  /**
   * With settings.deferTo: the record as plain data and its ref, as `convert` would name it, and
   * when the provider took it in (epoch ms) if the source observes ingestion lag from events.
   */
  protected defer?(record: R, id: RecordId | undefined): { record: unknown; ref: string; ingestedMs?: number };
  abstract classify(err: unknown): ApiFailure;

  initialCursor(startMs: number): Cursor {
    return writeWindowCursor(initialWindowCursor(this.settings.codec.fromMs(startMs)), this.settings.codec);
  }

  async *poll(from: Cursor, ctx: PollContext): AsyncGenerator<SourceBatch & { cursor: Cursor }> {
    const { name: source, codec, metrics } = this.settings;
    let cursor: WindowCursor;
    try {
      cursor = readWindowCursor(from, codec, this.overlap);
    } catch (err) {
      throw err instanceof CursorError ? new CursorError(`source ${source}: ${err.message}`) : err;
    }
    const window = windowFor(cursor, codec.fromMs(ctx.nowMs - this.settings.settleLagMs), this.overlap);
    if (!window) {
      // Nothing has settled past the cursor. It is handed on anyway so that a first run's resolved
      // startFrom is checkpointed: a restart must not resolve "now" again and skip the gap.
      yield { source, events: [], rejects: [], cursor: writeWindowCursor(cursor, codec), caughtUp: true };
      return;
    }
    const watermark = cursor.watermark;
    const { deferTo } = this.settings;
    const defer = deferTo && this.defer?.bind(this);
    for await (const page of this.pages(window, ctx)) {
      ctx.progress?.();
      const events: AuditEvent[] = [];
      const rejects: Reject[] = [];
      const deferred: DeferredRecords | undefined = defer && { ...deferTo, records: [], refs: [] };
      let reached: bigint | undefined;
      let late = 0;
      for (const record of page.records) {
        const id = this.identify(record, window);
        if (id) {
          if (reached === undefined || id.position > reached) reached = id.position;
          if (!cursor.seen.add(id.position, id.key)) continue;
        }
        if (deferred) {
          const handed = defer!(record, id);
          deferred.records.push(handed.record);
          deferred.refs.push(handed.ref);
          // One ingestion time per record, NaN where there is none, so indexes stay those of the records.
          if (handed.ingestedMs !== undefined) (deferred.ingestedMs ??= Array<number>(deferred.records.length - 1).fill(NaN)).push(handed.ingestedMs);
          else deferred.ingestedMs?.push(NaN);
          // Counted before normalizing: a late record that turns out malformed counts too.
          if (id && id.position < watermark) late++;
          continue;
        }
        const result = this.convert(record, id);
        if (isReject(result)) {
          rejects.push(result);
        } else {
          events.push(result);
          // Below the watermark: the window that covered this time was read without it.
          if (id && id.position < watermark) late++;
        }
      }
      if (late > 0) metrics?.lateEvents.inc({ source }, late);
      const handed = deferred && deferred.records.length > 0 ? { deferred } : {};
      if (page.done) {
        cursor = completeWindow(cursor, window, this.overlap);
        // A window ends at now − settleLag: nothing more is read before the next poll.
        yield { source, events, rejects, ...handed, cursor: writeWindowCursor(cursor, codec), caughtUp: true };
        return;
      }
      // A page that holds nothing and names no resume point moves nothing (CloudWatch and Cloud
      // Logging answer such pages while they search): no batch for it.
      if (page.records.length === 0 && page.resume === undefined) continue;
      const resume = page.resume ?? { position: max(cursor.resume?.position ?? window.start, reached ?? window.start) };
      cursor = afterPage(cursor, resume, window, this.overlap);
      yield { source, events, rejects, ...handed, cursor: writeWindowCursor(cursor, codec) };
    }
    // The pages ended without reaching the window's end: only an abort does that.
    ctx.signal.throwIfAborted();
    throw new Error(`source ${source}: the reader of the window stopped before its end`);
  }
}
