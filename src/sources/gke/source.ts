import type { GkeSourceConfig } from './config.js';
import type { Cursor, Source, SourceBatch } from '../../pipeline/types.js';
import type { SourceContext } from '../../component/source.js';
import { pollingBatches, pollingOptionsFor } from '../polling/loop.js';
import { createLoggingClient, type LoggingClient } from './client.js';
import { GkeWindowPoller } from './poller.js';

/** Cloud Logging allows 60 entries.list per minute per project; a small burst, then the rate. */
const QUOTA_BURST = 5;

/** A GKE cluster's (or project's) Kubernetes API audit log, polled from Cloud Logging. */
export class GkeSource implements Source {
  readonly name: string;
  readonly pollIntervalMs: number;

  constructor(
    private readonly config: GkeSourceConfig,
    private readonly ctx: SourceContext,
    private readonly makeClient: (config: GkeSourceConfig) => Promise<LoggingClient> = createLoggingClient,
  ) {
    this.name = config.name;
    this.pollIntervalMs = config.pollInterval;
  }

  async *batches(from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const { config, ctx } = this;
    const logger = ctx.logger;
    let client: Promise<LoggingClient> | undefined;
    const quota = ctx.quotas.bucket(`gke:${config.projectId}`, Math.min(QUOTA_BURST, config.requestsPerMinute), config.requestsPerMinute / 60);
    const poller = new GkeWindowPoller(config, {
      client: () =>
        (client ??= this.makeClient(config).catch((err: unknown) => {
          client = undefined; // the next poll tries again
          throw err;
        })),
      quota,
      logger,
      metrics: ctx.metrics,
      defer: ctx.deferNormalization,
    });
    try {
      yield* pollingBatches(poller, pollingOptionsFor(config, { ...ctx, logger }), from, signal);
    } finally {
      await client?.then((c) => c.close()).catch(() => undefined);
    }
  }
}
