import { readFileSync } from 'node:fs';
import { LogsQueryClient } from '@azure/monitor-query-logs';
import type { TokenCredential } from '@azure/identity';
import type { AksSourceConfig } from './config.js';
import type { Cursor, Source, SourceBatch } from '../../pipeline/types.js';
import type { SourceContext } from '../../component/source.js';
import { pollingBatches, pollingOptionsFor } from '../polling/loop.js';
import { createCredential, identityKey } from './credential.js';
import { AksPoller } from './poller.js';

export interface AksSourceOptions {
  /** Tests and the benchmark hand in a credential; by default it is built from the config. */
  credential?: TokenCredential;
}

/**
 * An AKS cluster's kube-audit log, polled from a Log Analytics workspace with
 * @azure/monitor-query-logs. Every source on the same identity shares one token bucket (the
 * service allows 200 requests per 30 s per identity) and pauses it on a 429.
 */
export class AksSource implements Source {
  readonly name: string;
  readonly pollIntervalMs: number;
  private readonly poller: AksPoller;

  constructor(
    private readonly config: AksSourceConfig,
    private readonly ctx: SourceContext,
    options: AksSourceOptions = {},
  ) {
    this.name = config.name;
    this.pollIntervalMs = config.pollInterval;
    const ca = config.caFile ? readFileSync(config.caFile, 'utf8') : undefined;
    const credential = options.credential ?? createCredential(config.credential, { ca });
    const client = new LogsQueryClient(credential, {
      ...(config.endpoint ? { endpoint: config.endpoint.replace(/\/+$/, '') } : {}),
      ...(ca ? { tlsOptions: { ca } } : {}),
      // Retries belong to the polling loop (backoff, Retry-After, the shared bucket paused on 429)
      // and 504s to the window splitting; the SDK's own retries would hide both.
      retryOptions: { maxRetries: 0 },
      userAgentOptions: { userAgentPrefix: 'kube-audit-bridge' },
    });
    const rate = config.requestsPer30s;
    const bucket = ctx.quotas.bucket(`aks:${identityKey(config.credential)}`, rate, rate / 30);
    this.poller = new AksPoller(config, { client, bucket, metrics: ctx.metrics, logger: ctx.logger, clock: ctx.clock, defer: ctx.deferNormalization });
  }

  batches(from: Cursor | undefined, signal: AbortSignal): AsyncIterable<SourceBatch> {
    const { config, ctx } = this;
    return pollingBatches(this.poller, pollingOptionsFor(config, ctx), from, signal);
  }
}
