import { LogsQueryResultStatus, type LogsQueryClient, type LogsQueryResult, type QueryTimeInterval } from '@azure/monitor-query-logs';
import type { AksSourceConfig } from './config.js';
import { normalizeAksRow } from './normalize.js';
import { isReject, parseMicroTime, type AuditEvent, type Reject } from '../../event/event.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { parseRetryAfter } from '../../util/backoff.js';
import { untilAborted, type Clock } from '../../util/clock.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import type { ApiFailure, PollContext } from '../polling/loop.js';
import { readAksV1Cursor } from '../polling/legacy-cursors.js';
import { OverlapWindowPoller, type Page, type RecordId } from '../polling/window-poller.js';
import type { PositionCodec, Window } from '../polling/window.js';
import { formatTicks, msFromTicks, parseTicks, ticksFromMs } from './kusto-time.js';
import { buildPageQuery, type LowerBound, type QueryScope } from './query.js';

export interface AksPollerDeps {
  client: Pick<LogsQueryClient, 'queryWorkspace'>;
  bucket: TokenBucket;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Hand rows to the runner's worker threads unnormalized (SourceContext.deferNormalization). */
  defer?: boolean | undefined;
}

type PageOutcome = { rows: Record<string, unknown>[] } | { limit: string; detail: string };

/** A row's place, for rejects: its ingestion time and key. */
function rowRef(r: AksRow): string {
  return `ingested ${String(r.row._ing)} key ${r.key}`;
}

/** What the normalizer stamps on every event, here or in a worker thread. */
function normalizeContextOf(config: AksSourceConfig): { cluster?: string } {
  return config.clusterName ? { cluster: config.clusterName } : {};
}

/** The converter the runner's workers normalize AKS rows with: aksConverter in ./convert.ts. */
export const AKS_CONVERTER = { module: 'sources/aks/convert.js', export: 'aksConverter' } as const;

/** A row as the query projects it, with its ingestion time read once. */
interface AksRow {
  row: Record<string, unknown>;
  ing: bigint;
  key: string;
}

/**
 * AKS positions are ingestion times in 100 ns ticks, checkpointed as Kusto datetime text (seven
 * fractional digits, what `tostring()` prints) so the keyset bound is the service's own value.
 */
export const aksPositions: PositionCodec = {
  unit: '100ns',
  format: formatTicks,
  parse: (value) => (typeof value === 'string' ? parseTicks(value) : undefined),
  fromMs: ticksFromMs,
  readLegacy: readAksV1Cursor,
};

/**
 * Reads a Log Analytics table by ingestion time (src/sources/aks/README.md) through the window
 * cursor: each window in keyset pages of pageSize rows ordered by (ingestion time, key), a retry
 * continuing strictly after the last row handed on. A page whose result hits a service limit
 * (rows, size, a 504, any PartialFailure) is never used or skipped: its (sub-)window is halved and
 * queried again, down to halving the page size when the window cannot shrink any further.
 */
export class AksPoller extends OverlapWindowPoller<AksRow> {
  readonly api = 'the Log Analytics query API';
  private readonly scope: QueryScope;
  private readonly normalizeContext: { cluster?: string };

  constructor(
    private readonly config: AksSourceConfig,
    private readonly deps: AksPollerDeps,
  ) {
    super({
      name: config.name,
      codec: aksPositions,
      settleLagMs: config.settleLag,
      overlapMs: config.overlap,
      metrics: deps.metrics,
      deferTo: deps.defer ? { converter: AKS_CONVERTER, context: normalizeContextOf(config) } : undefined,
    });
    this.scope = { table: config.table, categories: config.categories, resourceId: config.resourceId };
    this.normalizeContext = normalizeContextOf(config);
  }

  protected async *pages(window: Window, ctx: PollContext): AsyncGenerator<Page<AksRow>> {
    const { config } = this;
    let lowerTicks = window.start;
    let lower: LowerBound =
      window.resume?.after !== undefined ? { after: { ing: formatTicks(window.resume.position), key: window.resume.after } } : { from: formatTicks(window.start) };
    // Ends of the (sub-)windows still to read; a split pushes the midpoint of the current one.
    const ends: bigint[] = [window.end];
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

      const records = outcome.rows.map((row): AksRow => {
        const ing = typeof row._ing === 'string' ? parseTicks(row._ing) : undefined;
        if (ing === undefined) throw new Error(`query answer has a row without a valid _ing: ${JSON.stringify(row._ing)}`);
        return { row, ing, key: typeof row._key === 'string' ? row._key : '' };
      });
      if (records.length >= take) {
        const last = records[records.length - 1]!;
        lowerTicks = last.ing;
        lower = { after: { ing: formatTicks(last.ing), key: last.key } };
        yield { records, done: false, resume: { position: last.ing, after: last.key } };
      } else {
        // This (sub-)window is read to its end: everything ingested before `end` is in hand.
        ends.pop();
        lowerTicks = end;
        lower = { from: formatTicks(end) };
        take = config.pageSize;
        yield ends.length > 0 ? { records, done: false, resume: { position: end } } : { records, done: true };
      }
    }
  }

  protected identify(r: AksRow): RecordId {
    return { position: r.ing, key: r.key };
  }

  protected override defer(r: AksRow): { record: unknown; ref: string; ingestedMs: number } {
    // _ing is in 100 ns units; the runner observes the ingestion lag once the workers have the events.
    return { record: r.row, ref: rowRef(r), ingestedMs: Number(r.ing / 10_000n) };
  }

  protected convert(r: AksRow): AuditEvent | Reject {
    const result = normalizeAksRow(r.row, this.normalizeContext, rowRef(r));
    if (!isReject(result)) {
      const stage = parseMicroTime(result.stageTimestamp);
      if (stage !== undefined) this.deps.metrics.ingestionLag.observe({ source: this.config.name }, Math.max(0, Number(r.ing / 10n - stage)) / 1e6);
    }
    return result;
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
      throw new AksQueryError(err);
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
    const { workspaceId, table } = this.config;
    if (status !== undefined) {
      const failure: ApiFailure = { code: String(status), throttled: false };
      const message = err instanceof Error ? err.message : '';
      if (status === 403) {
        failure.lasting = { reason: 'permission_denied', fix: `give the bridge's identity the Log Analytics Reader role on workspace ${workspaceId}` };
      } else if (status === 401) {
        failure.lasting = { reason: 'bad_credentials', fix: `check credential (${this.config.credential.type}): the query API does not accept its token (tenant, client id, audience)` };
      } else if (status === 404) {
        failure.lasting = { reason: 'not_found', fix: `check workspaceId ${workspaceId} and endpoint: the query API knows no such workspace` };
      } else if (status === 400 && /resolve (table|scalar)|column/i.test(message)) {
        failure.lasting = {
          reason: 'not_found',
          fix: `send kube-audit to the workspace with a diagnostic setting in the mode that fills ${table} (${table === 'AzureDiagnostics' ? '"Azure diagnostics"' : '"resource specific"'}), or set table to the one it fills`,
        };
      } else if (status === 400) {
        failure.lasting = { reason: 'invalid_query', fix: "check the source's table, categories and resourceId: Log Analytics refuses the query" };
      }
      return failure;
    }
    const name = err instanceof AksQueryError ? err.causeName : err instanceof Error ? err.name : '';
    if (/Authentication|CredentialUnavailable/.test(name)) {
      return {
        code: 'credentials',
        throttled: false,
        api: 'Microsoft Entra ID',
        lasting: { reason: 'bad_credentials', fix: `check credential (${this.config.credential.type}): tenantId, clientId and the secret, certificate or token it reads` },
      };
    }
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === 'string' && code !== '' ? code : 'network', throttled: false };
  }

  onThrottled(_failure: ApiFailure, pauseMs: number): void {
    this.deps.bucket.pause(pauseMs);
  }
}

/** A failed query, with the service's innermost message (classify says what to do about it). */
export class AksQueryError extends Error {
  readonly statusCode: number | undefined;
  readonly code: string | undefined;
  readonly causeName: string;
  readonly response: unknown;

  constructor(cause: unknown) {
    super(errorText(cause));
    this.name = 'AksQueryError';
    this.statusCode = statusOf(cause);
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
