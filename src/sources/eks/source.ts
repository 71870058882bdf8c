import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EksSourceConfig } from './config.js';
import type { Cursor, Source, SourceBatch } from '../../pipeline/types.js';
import type { SourceContext } from '../../component/source.js';
import { pollingBatches, pollingOptionsFor } from '../polling/loop.js';
import { accountOf, createFilterLogEvents, type AwsCredentials, type FilterLogEvents } from './client.js';
import { EksPoller } from './poller.js';

export interface EksSourceDeps extends SourceContext {
  /** Overrides the AWS default credential chain (tests use static keys). */
  credentials?: AwsCredentials;
  /** Backoff of the polling loop after a failed poll; default 1 s initial, 60 s cap. */
  backoff?: { initialMs: number; maxMs: number };
}

/** The bucket key of FilterLogEvents' quota: 5 requests per second per account and Region. */
export function eksQuotaKey(config: Pick<EksSourceConfig, 'accountId' | 'roleArn' | 'region'>): string {
  // Without a known account, sources of one Region share a bucket: slower, never over the quota.
  return `aws-logs:FilterLogEvents:${accountOf(config) ?? 'default-account'}:${config.region}`;
}

/**
 * An EKS cluster's audit log in CloudWatch Logs (src/sources/eks/README.md): FilterLogEvents on the cluster's log
 * group, through the polling loop every polling source shares.
 */
export class EksSource implements Source {
  readonly name: string;
  readonly pollIntervalMs: number;
  private readonly poller: EksPoller;
  private client: Promise<{ filterLogEvents: FilterLogEvents; client: CloudWatchLogsClient }> | undefined;

  constructor(
    private readonly config: EksSourceConfig,
    private readonly deps: EksSourceDeps,
  ) {
    this.name = config.name;
    this.pollIntervalMs = config.pollInterval;
    // Capacity 1: requests are spaced 1/rate apart, so no one-second span ever holds more than the rate.
    const bucket = deps.quotas.bucket(eksQuotaKey(config), 1, config.requestsPerSecond);
    this.poller = new EksPoller(config, {
      metrics: deps.metrics,
      bucket,
      filterLogEvents: async () => {
        // A failed setup is retried at the next poll rather than remembered.
        this.client ??= createFilterLogEvents(config, bucket, deps.credentials).catch((err: unknown) => {
          this.client = undefined;
          throw err;
        });
        return (await this.client).filterLogEvents;
      },
      context: { cluster: config.cluster, region: config.region, accountId: accountOf(config) },
      defer: deps.deferNormalization,
    });
  }

  get logGroupName(): string {
    return this.poller.logGroupName;
  }

  async *batches(from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    try {
      yield* this.polling(from, signal);
    } finally {
      // Close the SDK's keep-alive sockets when the source stops; a later run builds a new client.
      const client = this.client;
      this.client = undefined;
      if (client) (await client.catch(() => undefined))?.client.destroy();
    }
  }

  private polling(from: Cursor | undefined, signal: AbortSignal): AsyncIterable<SourceBatch> {
    return pollingBatches(this.poller, pollingOptionsFor(this.config, this.deps), from, signal);
  }
}
