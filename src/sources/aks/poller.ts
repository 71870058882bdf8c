import { LogsQueryResultStatus, type LogsQueryClient, type LogsQueryResult, type QueryTimeInterval } from '@azure/monitor-query-logs';
import type { AksSourceConfig } from './config.js';
import { normalizeAksRow } from './normalize.js';
import { isReject, parseMicroTime, type AuditEvent, type Reject } from '../../event/event.js';
import type { SourceBatch } from '../../pipeline/types.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { parseRetryAfter } from '../../util/backoff.js';
import { untilAborted, type Clock } from '../../util/clock.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import type { ApiFailure, PollContext, WindowPoller } from '../polling/loop.js';
import { formatTicks, msFromTicks, parseTicks, ticksFromMs } from './kusto-time.js';
import { buildPageQuery, type LowerBound, type QueryScope } from './query.js';

/**
 * Where an AKS source resumes. `ingested`: every row ingested before this time (Kusto datetime
 * text, 100 ns) has been read. `seen`: the keys read at or after ingested − overlap, grouped by
 * their ingestion time, so the overlap re-read finds late rows without repeating the others.
 */
export interface AksCursor extends Record<string, unknown> {
  ingested: string;
  seen: Record<string, string[]>;
  /**
   * Set while a poll is part-way through its window: the last row read (ingestion time, key). A
   * poll that failed or a restarted process resumes right after it instead of re-reading the
   * overlap, so a steady rate of failures cannot keep a large overlap from ever being passed.
   */
  page?: { ing: string; key: string };
}

export interface AksPollerDeps {
  client: Pick<LogsQueryClient, 'queryWorkspace'>;
  bucket: TokenBucket;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
}

type PageOutcome = { rows: Record<string, unknown>[] } | { limit: string; detail: string };

/**
 * Reads a Log Analytics table by ingestion time (reference/aks.md §3): each poll covers
 * [ingested − overlap, now − settleLag) in keyset pages of pageSize rows ordered by
 * (ingestion time, key). A page whose result hits a service limit (rows, size, a 504, any
 * PartialFailure) is never used or skipped: its (sub-)window is halved and queried again, down to
 * halving the page size when the window cannot shrink any further.
 */
export class AksPoller implements WindowPoller<AksCursor> {
  private readonly scope: QueryScope;
  private readonly overlapTicks: bigint;

  constructor(
    private readonly config: AksSourceConfig,
    private readonly deps: AksPollerDeps,
  ) {
    this.scope = { table: config.table, categories: config.categories, resourceId: config.resourceId };
    this.overlapTicks = ticksFromMs(config.overlap);
  }

  initialCursor(startMs: number): AksCursor {
    return { ingested: formatTicks(ticksFromMs(startMs)), seen: {} };
  }

  async *poll(cursor: AksCursor, ctx: PollContext): AsyncGenerator<SourceBatch & { cursor: AksCursor }> {
    const { config } = this;
    const from = parseTicks(String(cursor.ingested));
    if (from === undefined) throw new Error(`checkpoint of source ${config.name} has no valid ingestion time: ${JSON.stringify(cursor.ingested)}`);
    const windowEnd = ticksFromMs(ctx.nowMs - config.settleLag);
    if (windowEnd <= from) {
      yield { source: config.name, events: [], rejects: [], cursor };
      return;
    }
    const seen = readSeen(cursor.seen);
    const normalizeContext = config.clusterName ? { cluster: config.clusterName } : {};
    let watermark = from;
    const resume = resumePoint(cursor.page);
    let lowerTicks = resume ? resume.ticks : from - this.overlapTicks;
    let lower: LowerBound = resume ? { after: resume.after } : { from: formatTicks(lowerTicks) };
    // Ends of the (sub-)windows still to read; a split pushes the midpoint of the current one.
    const ends: bigint[] = [windowEnd];
    let take = config.pageSize;
    // TimeGenerated lags ingestion by minutes; maxLateness bounds it (the service prunes on it).
    const timespan: QueryTimeInterval = {
      startTime: new Date(msFromTicks(lowerTicks) - config.maxLateness),
      endTime: new Date(ctx.nowMs + config.maxLateness),
    };

    while (ends.length > 0) {
      const end = ends[ends.length - 1]!;
      const outcome = await this.page(buildPageQuery(this.scope, { lower, end: formatTicks(end), take }), timespan, ctx.signal);
      if ('limit' in outcome) {
        this.deps.metrics.querySplits.inc({ source: config.name, reason: outcome.limit });
        const mid = lowerTicks + (end - lowerTicks) / 2n;
        if (mid > lowerTicks && mid < end) ends.push(mid);
        else if (take > 1) take = Math.max(1, Math.floor(take / 2));
        else throw new Error(`a single row ingested at ${formatTicks(lowerTicks)} exceeds a query limit (${outcome.limit}): ${outcome.detail}`);
        this.deps.logger.info({ reason: outcome.limit, until: formatTicks(ends[ends.length - 1]!), pageSize: take }, 'query hit a service limit; splitting its window');
        continue;
      }

      const { rows } = outcome;
      const events: AuditEvent[] = [];
      const rejects: Reject[] = [];
      for (const row of rows) {
        const ing = typeof row._ing === 'string' ? parseTicks(row._ing) : undefined;
        const key = typeof row._key === 'string' ? row._key : '';
        if (ing === undefined) throw new Error(`query answer has a row without a valid _ing: ${JSON.stringify(row._ing)}`);
        if (seen.has(key)) continue;
        seen.set(key, { ticks: ing, text: String(row._ing) });
        const result = normalizeAksRow(row, normalizeContext, `ingested ${String(row._ing)} key ${key}`);
        if (isReject(result)) rejects.push(result);
        else {
          events.push(result);
          this.observe(result, ing, from);
        }
      }

      let page: AksCursor['page'];
      if (rows.length >= take) {
        const last = rows[rows.length - 1]!;
        lowerTicks = parseTicks(String(last._ing))!;
        page = { ing: String(last._ing), key: String(last._key) };
        lower = { after: page };
        if (lowerTicks > watermark) watermark = lowerTicks;
      } else {
        // This (sub-)window is read to its end: everything ingested before `end` is in hand.
        ends.pop();
        lowerTicks = end;
        lower = { from: formatTicks(end) };
        if (end > watermark) watermark = end;
        take = config.pageSize;
        // More sub-windows to go: resuming means starting at this end (keys are never empty).
        if (ends.length > 0) page = { ing: formatTicks(end), key: '' };
      }
      // Keys are kept for the overlap behind the watermark, and behind a resume point too.
      const keepFrom = (page ? minTicks(watermark, lowerTicks) : watermark) - this.overlapTicks;
      for (const [k, t] of seen) if (t.ticks < keepFrom) seen.delete(k);
      const next: AksCursor = { ingested: formatTicks(watermark), seen: writeSeen(seen) };
      if (page) next.page = page;
      yield { source: config.name, events, rejects, cursor: next };
    }
  }

  private observe(event: AuditEvent, ing: bigint, watermark: bigint): void {
    const { metrics } = this.deps;
    const source = this.config.name;
    if (ing < watermark) metrics.lateEvents.inc({ source });
    const stage = parseMicroTime(event.stageTimestamp);
    if (stage !== undefined) metrics.ingestionLag.observe({ source }, Math.max(0, Number(ing / 10n - stage)) / 1e6);
  }

  private async page(kql: string, timespan: QueryTimeInterval, signal: AbortSignal): Promise<PageOutcome> {
    await this.deps.bucket.take(signal);
    let result: LogsQueryResult;
    try {
      result = await untilAborted(
        this.deps.client.queryWorkspace(this.config.workspaceId, kql, timespan, {
          serverTimeoutInSeconds: Math.round(this.config.serverTimeout / 1000),
          // The client gives up a little after the server would have answered 504.
          requestOptions: { timeout: this.config.serverTimeout + 30_000 },
        }),
        signal,
      );
    } catch (err) {
      const status = statusOf(err);
      if (status === 504) return { limit: 'timeout', detail: errorText(err) };
      if (status === 413) return { limit: 'size', detail: errorText(err) };
      throw new AksQueryError(err, this.config.table);
    }
    if (result.status === LogsQueryResultStatus.PartialFailure) {
      // The SDK drops the innererror that would say which limit was hit, so every partial result
      // is treated alike: its rows are not trusted, its window is split.
      return { limit: 'partial', detail: JSON.stringify(result.partialError ?? {}).slice(0, 500) };
    }
    const table = result.tables[0];
    if (!table) return { rows: [] };
    const names = table.columnDescriptors.map((c) => c.name ?? '');
    return {
      rows: table.rows.map((cells) => {
        const row: Record<string, unknown> = {};
        names.forEach((name, i) => (row[name] = cells[i]));
        return row;
      }),
    };
  }

  classify(err: unknown): ApiFailure {
    const status = statusOf(err);
    if (status === 429) {
      const retryAfter = retryAfterOf(err, this.deps.clock.now());
      return retryAfter === undefined ? { code: '429', throttled: true } : { code: '429', throttled: true, retryAfterMs: retryAfter };
    }
    if (status !== undefined) return { code: String(status), throttled: false };
    const name = err instanceof AksQueryError ? err.causeName : err instanceof Error ? err.name : '';
    if (/Authentication|CredentialUnavailable/.test(name)) return { code: 'credentials', throttled: false };
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === 'string' && code !== '' ? code : 'network', throttled: false };
  }

  onThrottled(_failure: ApiFailure, pauseMs: number): void {
    this.deps.bucket.pause(pauseMs);
  }
}

/** A failed query, with the service's innermost message and a hint for the common mistakes. */
export class AksQueryError extends Error {
  readonly statusCode: number | undefined;
  readonly code: string | undefined;
  readonly causeName: string;
  readonly response: unknown;

  constructor(cause: unknown, table: string) {
    const status = statusOf(cause);
    let message = errorText(cause);
    if (status === 400 && /resolve (table|scalar)|column/i.test(message)) {
      message += ` (is the workspace's diagnostic setting in the mode that fills ${table}? AKSAudit needs "resource specific", AzureDiagnostics "Azure diagnostics")`;
    }
    if (status === 401 || status === 403) message += ' (the identity needs the Log Analytics Reader role on the workspace)';
    super(message);
    this.name = 'AksQueryError';
    this.statusCode = status;
    this.causeName = cause instanceof Error ? cause.name : '';
    this.response = (cause as { response?: unknown }).response;
    const code = (cause as { code?: unknown }).code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function retryAfterOf(err: unknown, nowMs: number): number | undefined {
  const headers = (err as { response?: { headers?: { get?: (name: string) => string | undefined } } }).response?.headers;
  return parseRetryAfter(headers?.get?.('retry-after'), nowMs);
}

/** The most specific message a RestError carries: the innererror's, else the error's. */
function errorText(err: unknown): string {
  const base = err instanceof Error ? err.message : String(err);
  const details = (err as { details?: unknown }).details;
  let inner: unknown = (details as { error?: unknown } | undefined)?.error ?? details;
  let text: string | undefined;
  for (let depth = 0; depth < 5 && inner && typeof inner === 'object'; depth++) {
    const m = (inner as { message?: unknown }).message;
    if (typeof m === 'string' && m !== '') text = m;
    inner = (inner as { innererror?: unknown }).innererror;
  }
  return text && text !== base ? `${base}: ${text}` : base;
}

function resumePoint(page: unknown): { ticks: bigint; after: { ing: string; key: string } } | undefined {
  if (!page || typeof page !== 'object') return undefined;
  const { ing, key } = page as { ing?: unknown; key?: unknown };
  const ticks = typeof ing === 'string' ? parseTicks(ing) : undefined;
  if (ticks === undefined || typeof key !== 'string') return undefined;
  return { ticks, after: { ing: ing as string, key } };
}

function minTicks(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** A key read, with its ingestion time as ticks (to prune) and as the service's text (to save). */
interface Seen {
  ticks: bigint;
  text: string;
}

function readSeen(seen: unknown): Map<string, Seen> {
  const out = new Map<string, Seen>();
  if (!seen || typeof seen !== 'object') return out;
  for (const [text, keys] of Object.entries(seen as Record<string, unknown>)) {
    const ticks = parseTicks(text);
    if (ticks === undefined || !Array.isArray(keys)) continue;
    for (const key of keys) if (typeof key === 'string') out.set(key, { ticks, text });
  }
  return out;
}

/** Keys grouped by their ingestion time text (the order carries no meaning). */
function writeSeen(seen: Map<string, Seen>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, { text }] of seen) (out[text] ??= []).push(key);
  return out;
}
