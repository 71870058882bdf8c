import type { FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import type { EksSourceConfig } from './config.js';
import { normalizeEksRecord, type EksContext } from './normalize.js';
import type { AuditEvent, Reject } from '../../event/event.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import type { ApiFailure, PollContext } from '../polling/loop.js';
import { readEksV1Cursor } from '../polling/legacy-cursors.js';
import { OverlapWindowPoller, type Page, type RecordId } from '../polling/window-poller.js';
import type { PositionCodec, Window } from '../polling/window.js';
import type { FilterLogEvents } from './client.js';
import { readAhead } from '../polling/read-ahead.js';

export interface EksPollerDeps {
  metrics: Metrics;
  bucket: TokenBucket;
  /** Resolves the SDK call on first use (the SDK loads lazily). */
  filterLogEvents: () => Promise<FilterLogEvents>;
  context: EksContext;
  /** Hand records to the runner's worker threads unnormalized (SourceContext.deferNormalization). */
  defer?: boolean | undefined;
}

/** The converter the runner's workers normalize EKS records with: eksConverter in ./normalize.ts. */
export const EKS_CONVERTER = { module: 'sources/eks/normalize.js', export: 'eksConverter' } as const;

/** EKS positions are CloudWatch event timestamps, epoch milliseconds, checkpointed as JSON numbers. */
export const eksPositions: PositionCodec = {
  unit: 'ms',
  format: (position) => Number(position),
  parse: (value) => {
    if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : undefined;
    return typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? BigInt(value) : undefined;
  },
  fromMs: (ms) => BigInt(Math.floor(ms)),
  readLegacy: readEksV1Cursor,
};

/** AWS error names retrying does not fix: the identity is refused. */
const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
]);

/**
 * The EKS half of a polling source (src/sources/eks/README.md): FilterLogEvents filters on the
 * event timestamp with both bounds inclusive and cannot filter on ingestion time, so a late event
 * lands behind any time cursor; each window therefore re-reads `overlap` before the watermark and
 * the window cursor drops what it already handed on by eventId. Pages follow nextToken through
 * empty pages to the end of the window; a window the first page does not finish is read as
 * consecutive ranges, `parallelReads` at once (src/sources/polling/read-ahead.ts).
 */
export class EksPoller extends OverlapWindowPoller<FilteredLogEvent> {
  readonly api = 'CloudWatch Logs FilterLogEvents';
  readonly logGroupName: string;

  constructor(
    private readonly config: EksSourceConfig,
    private readonly deps: EksPollerDeps,
  ) {
    super({
      name: config.name,
      codec: eksPositions,
      settleLagMs: config.settleLag,
      overlapMs: config.overlap,
      metrics: deps.metrics,
      deferTo: deps.defer ? { converter: EKS_CONVERTER, context: { ...deps.context } } : undefined,
    });
    this.logGroupName = config.logGroup ?? `/aws/eks/${config.cluster}/cluster`;
  }

  protected async *pages(window: Window, ctx: PollContext): AsyncGenerator<Page<FilteredLogEvent>> {
    const call = await this.deps.filterLogEvents();
    const pages = readAhead<FilterLogEventsPage>(
      {
        start: window.start,
        end: window.end,
        parallel: this.config.parallelReads,
        read: (from, to, signal) => this.range(call, from, to, signal),
        more: (page) => page.nextToken !== undefined,
        positions: (page) => timestampsOf(page.events),
        size: (page) => page.events.length,
        unsurfaced: (err) => this.countFailure(err),
      },
      ctx.signal,
    );
    for await (const { page, last } of pages) yield { records: page.events, done: last };
  }

  /** The pages of [from, to): FilterLogEvents following nextToken, through empty pages, to the end. */
  private async *range(call: FilterLogEvents, from: bigint, to: bigint, signal: AbortSignal): AsyncGenerator<FilterLogEventsPage> {
    let nextToken: string | undefined;
    do {
      const page = await call(
        {
          logGroupName: this.logGroupName,
          logStreamNamePrefix: this.config.logStreamNamePrefix,
          startTime: Number(from),
          endTime: Number(to) - 1, // inclusive on the API, exclusive in the window
          limit: this.config.limit,
          ...(this.config.filterPattern ? { filterPattern: this.config.filterPattern } : {}),
          ...(nextToken ? { nextToken } : {}),
        },
        signal,
      );
      nextToken = page.nextToken || undefined;
      yield { events: page.events ?? [], nextToken };
    } while (nextToken !== undefined);
  }

  /** A failed request the polling loop does not see (src/sources/polling/read-ahead.ts), counted as the loop counts the one it sees. */
  private countFailure(err: unknown): void {
    const failure = this.classify(err);
    this.deps.metrics.apiErrors.inc({ source: this.config.name, code: failure.code });
    if (failure.throttled) this.deps.metrics.apiThrottles.inc({ source: this.config.name });
  }

  protected identify(e: FilteredLogEvent, window: Window): RecordId {
    return { position: e.timestamp === undefined ? window.start : BigInt(e.timestamp), key: eventIdOf(e) };
  }

  protected convert(e: FilteredLogEvent, id: RecordId): AuditEvent | Reject {
    this.observeLag(e, id);
    return normalizeEksRecord(e, this.deps.context, `eventId ${id.key}`);
  }

  protected override defer(e: FilteredLogEvent, id: RecordId): { record: unknown; ref: string } {
    this.observeLag(e, id);
    // The SDK's event is already plain data; the worker needs no more of it than normalize reads.
    return { record: e, ref: `eventId ${id.key}` };
  }

  private observeLag(e: FilteredLogEvent, id: RecordId): void {
    if (e.ingestionTime !== undefined) this.deps.metrics.ingestionLag.observe({ source: this.config.name }, Math.max(0, e.ingestionTime - Number(id.position)) / 1000);
  }

  classify(err: unknown): ApiFailure {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
    const name = typeof e?.name === 'string' && e.name !== 'Error' ? e.name : undefined;
    const status = e?.$metadata?.httpStatusCode;
    const throttled =
      name === 'ThrottlingException' || name === 'LimitExceededException' || name === 'TooManyRequestsException' || status === 429 || e?.$retryable?.throttling === true;
    const failure: ApiFailure = { code: name ?? (status !== undefined ? String(status) : 'network'), throttled };
    if (throttled) return failure;
    const { region, cluster } = this.config;
    const account = this.deps.context.accountId ?? '<account>';
    if (name === 'AccessDeniedException' || name === 'AccessDenied' || status === 403) {
      const role = this.config.roleArn ? ` (the role ${this.config.roleArn}, and sts:AssumeRole on it for the identity that assumes it)` : '';
      failure.lasting = {
        reason: 'permission_denied',
        fix: `allow logs:FilterLogEvents on arn:aws:logs:${region}:${account}:log-group:${this.logGroupName}:* to the bridge's IAM identity${role}`,
      };
    } else if (name === 'ResourceNotFoundException') {
      failure.lasting = {
        reason: 'not_found',
        fix: `log group ${this.logGroupName} does not exist in ${region}: enable the cluster's audit log type (aws eks update-cluster-config --region ${region} --name ${cluster} --logging '{"clusterLogging":[{"types":["audit"],"enabled":true}]}'), or set logGroup`,
      };
    } else if ((name !== undefined && CREDENTIAL_ERRORS.has(name)) || status === 401) {
      if (name === 'CredentialsProviderError') failure.api = 'the AWS credential chain';
      failure.lasting = { reason: 'bad_credentials', fix: 'check the AWS credentials the bridge runs with (environment, IRSA web identity, profile, roleArn): AWS does not accept them' };
    } else if (name === 'InvalidParameterException' && !/token/i.test(e.message ?? '')) {
      // An expired or foreign nextToken is answered the same way, and a fresh query fixes that.
      failure.lasting = { reason: 'invalid_query', fix: 'check the source\'s logGroup, logStreamNamePrefix and filterPattern: CloudWatch Logs refuses the request' };
    }
    return failure;
  }

  onThrottled(_failure: ApiFailure, pauseMs: number): void {
    this.deps.bucket.pause(pauseMs);
  }
}

interface FilterLogEventsPage {
  events: FilteredLogEvent[];
  nextToken: string | undefined;
}

/** The earliest and latest timestamp of a page's events (they come sorted by timestamp; min and max need not trust that). */
function timestampsOf(events: readonly FilteredLogEvent[]): { first: bigint; last: bigint } | undefined {
  let first: number | undefined;
  let last: number | undefined;
  for (const e of events) {
    if (e.timestamp === undefined) continue;
    if (first === undefined || e.timestamp < first) first = e.timestamp;
    if (last === undefined || e.timestamp > last) last = e.timestamp;
  }
  return first === undefined || last === undefined ? undefined : { first: BigInt(first), last: BigInt(last) };
}

/** eventId is unique per event; an event without one (never seen on AWS) gets a stable stand-in. */
function eventIdOf(e: FilteredLogEvent): string {
  return e.eventId ?? `${e.logStreamName ?? ''}/${e.timestamp ?? ''}/${e.ingestionTime ?? ''}/${e.message?.length ?? 0}`;
}
