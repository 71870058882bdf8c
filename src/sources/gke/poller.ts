import type { GkeSourceConfig } from './config.js';
import type { AuditEvent, Reject } from '../../event/event.js';
import { normalizeGkeEntry } from './normalize.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { TokenBucket } from '../../util/token-bucket.js';
import type { ApiFailure, PollContext } from '../polling/loop.js';
import { readGkeV1Cursor } from '../polling/legacy-cursors.js';
import { OverlapWindowPoller, type Page, type RecordId } from '../polling/window-poller.js';
import type { PositionCodec, Window } from '../polling/window.js';
import type { EntriesRequest, LoggingClient } from './client.js';
import { decodeWireEntry, readWireEntry, type WireEntryHead } from './entry.js';
import { deferGkeEntry, GKE_ENTRY_CONVERTER } from './deferred.js';
import { baseFilter, windowFilter } from './filter.js';
import { formatTimeNs, msToNs, nsToMs, parseTimeNs } from './time.js';

/** google/rpc/code.proto names, for metrics labels. */
const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** What google-auth-library throws when it has no credentials, or Google refuses the ones it has. */
const CREDENTIAL_TROUBLE = /Could not load the default credentials|invalid_grant|unauthorized_client|invalid_client/i;

/**
 * GKE positions are LogEntry timestamps in epoch nanoseconds, checkpointed as RFC 3339 text with
 * nine fractional digits so that no precision is lost through the checkpoint file.
 */
export const gkePositions: PositionCodec = {
  unit: 'ns',
  format: formatTimeNs,
  parse: (value) => (typeof value === 'string' ? parseTimeNs(value) : undefined),
  fromMs: msToNs,
  readLegacy: readGkeV1Cursor,
};

export interface GkePollerDeps {
  client: () => Promise<LoggingClient>;
  /** The entries.list bucket of the project, shared with every other source on it. */
  quota: TokenBucket;
  logger: Logger;
  metrics?: Metrics;
  /** Hand entries to the runner's worker threads with their AuditLog undecoded (SourceContext.deferNormalization). */
  defer?: boolean | undefined;
}

type Config = Pick<GkeSourceConfig, 'name' | 'projectId' | 'logs' | 'clusters' | 'locations' | 'filter' | 'pageSize' | 'settleLag' | 'overlap' | 'keepTypeKey'>;

/** How a rejected entry is named in messages and the dead-letter file. */
function refOf(entry: { insertId?: string | undefined }): string {
  return entry.insertId ?? 'entry without insertId';
}

/**
 * One gke source's windows (src/sources/gke/README.md): each poll reads its window in timestamp
 * order, page by page (each page one batch), through the window cursor. A record's key is its
 * insertId at its timestamp: the start and end entries of an exec share the insertId.
 */
export class GkeWindowPoller extends OverlapWindowPoller<WireEntryHead> {
  readonly api = 'Cloud Logging entries.list';
  private readonly base: string;
  private readonly normalizeOptions: { keepTypeKey: boolean };

  constructor(
    private readonly config: Config,
    private readonly deps: GkePollerDeps,
  ) {
    super({
      name: config.name,
      codec: gkePositions,
      settleLagMs: config.settleLag,
      overlapMs: config.overlap,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      deferTo: deps.defer ? { converter: GKE_ENTRY_CONVERTER, context: config.keepTypeKey ? { keepTypeKey: 'true' } : {} } : undefined,
    });
    this.base = baseFilter({ projectId: config.projectId, logs: config.logs, clusters: config.clusters, locations: config.locations, extra: config.filter });
    this.normalizeOptions = { keepTypeKey: config.keepTypeKey };
  }

  protected async *pages(window: Window, ctx: PollContext): AsyncGenerator<Page<WireEntryHead>> {
    const client = await this.deps.client();
    const filter = windowFilter(this.base, window.start, window.end);
    let pageToken: string | undefined;
    do {
      await this.deps.quota.take(ctx.signal);
      const page = await this.readPage(client, { filter, pageSize: this.config.pageSize, pageToken }, ctx.signal);
      pageToken = page.nextPageToken;
      yield { records: page.records, done: pageToken === undefined };
    } while (pageToken !== undefined);
  }

  /**
   * One page, read as far as each entry's AuditLog (which stays bytes: convert, or a worker thread,
   * decodes it). In a function of its own so that the SDK's decoded page is garbage once read:
   * held in the generator's frame, it lived as long as its batch took to go through the pipeline.
   */
  private async readPage(client: LoggingClient, request: EntriesRequest, signal: AbortSignal): Promise<{ records: WireEntryHead[]; nextPageToken: string | undefined }> {
    const page = await client.list(request, signal);
    return { records: page.entries.map(readWireEntry), nextPageToken: page.nextPageToken || undefined };
  }

  protected identify(head: WireEntryHead): RecordId | undefined {
    return head.timestampNs !== undefined && head.insertId !== undefined ? { position: head.timestampNs, key: head.insertId } : undefined;
  }

  protected convert(head: WireEntryHead): AuditEvent | Reject {
    this.observeLag(head);
    const wire = decodeWireEntry(head);
    if (!wire.ok) return { reason: wire.reason, raw: wire.raw, ref: refOf(wire) };
    return normalizeGkeEntry(wire.json, this.normalizeOptions, wire.insertId);
  }

  protected override defer(head: WireEntryHead): { record: unknown; ref: string } {
    this.observeLag(head);
    return { record: deferGkeEntry(head), ref: refOf(head) };
  }

  private observeLag(head: WireEntryHead): void {
    if (head.ok && head.receiveNs !== undefined) this.deps.metrics?.ingestionLag.observe({ source: this.config.name }, Math.max(0, nsToMs(head.receiveNs - head.timestampNs)) / 1000);
  }

  classify(err: unknown): ApiFailure {
    const e = err as { code?: unknown; details?: unknown; message?: unknown } | null;
    const message = typeof e?.message === 'string' ? e.message : String(err);
    if (typeof e?.code !== 'number' && CREDENTIAL_TROUBLE.test(message)) {
      return { code: 'credentials', throttled: false, api: 'Google authentication', lasting: { reason: 'bad_credentials', fix: this.credentialsFix() } };
    }
    const code = typeof e?.code === 'number' ? (GRPC_CODES[e.code] ?? `GRPC_${e.code}`) : err instanceof Error && err.name === 'TimeoutError' ? 'DEADLINE_EXCEEDED' : 'UNKNOWN';
    const failure: ApiFailure = { code, throttled: code === 'RESOURCE_EXHAUSTED' };
    const lasting = this.lasting(code, message);
    if (!lasting) return failure;
    // gRPC messages read "7 PERMISSION_DENIED: <details>": the details are the API's answer.
    const answer = typeof e?.details === 'string' && e.details !== '' ? e.details : message.replace(/^\d+ [A-Z_]+: /, '');
    return { ...failure, answer, lasting };
  }

  private lasting(code: string, message: string): ApiFailure['lasting'] {
    const { projectId } = this.config;
    switch (code) {
      case 'PERMISSION_DENIED': {
        const dataAccess = this.config.logs.includes('data_access')
          ? ', and Private Logs Viewer (roles/logging.privateLogViewer), which reading data_access needs'
          : ' (roles/logging.privateLogViewer too, to read data_access)';
        return { reason: 'permission_denied', fix: `grant the bridge's identity the Logs Viewer role (roles/logging.viewer) on project ${projectId}${dataAccess}` };
      }
      case 'UNAUTHENTICATED':
        return { reason: 'bad_credentials', fix: this.credentialsFix() };
      case 'NOT_FOUND':
        return { reason: 'not_found', fix: `check projectId ${projectId}: Cloud Logging knows no such project` };
      case 'INVALID_ARGUMENT':
        // An expired page token is refused the same way, and a fresh query fixes that.
        return /page.?token/i.test(message) ? undefined : { reason: 'invalid_query', fix: "check the source's filter, clusters and locations: Cloud Logging refuses the query" };
      default:
        return undefined;
    }
  }

  private credentialsFix(): string {
    return "check keyFile, GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding of the bridge's service account: Google does not accept the credentials";
  }

  onThrottled(_failure: ApiFailure, pauseMs: number): void {
    this.deps.quota.pause(pauseMs);
  }
}
