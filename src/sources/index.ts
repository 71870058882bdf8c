import type { SourceConfig, SourceType } from '../config/sources.js';
import type { Health } from '../pipeline/health.js';
import type { Source } from '../pipeline/types.js';
import type { AuditReceiver } from '../server/http-server.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Clock } from '../util/clock.js';
import type { QuotaRegistry } from '../util/token-bucket.js';
import { EksSource } from './eks/source.js';
import { AksSource } from './aks/source.js';
import { WebhookSource } from './webhook/source.js';
import { GkeSource } from './gke/source.js';

export interface SourceContext {
  logger: Logger;
  metrics: Metrics;
  health: Health;
  clock: Clock;
  /** Token buckets shared by every source of the process that draws on the same API quota. */
  quotas: QuotaRegistry;
  /** run --once: drain up to now − settleLag, then end. */
  once: boolean;
  /** The server asks senders for client certificates (server.tls.clientCaFile). */
  mtls?: boolean;
}

export interface CreatedSource {
  source: Source;
  /** Push sources also answer HTTP requests on the server. */
  receiver?: AuditReceiver;
}

/** Source types this build can run; the others are in the config schema but not implemented yet. */
export const AVAILABLE_SOURCE_TYPES: ReadonlySet<SourceType> = new Set(['webhook', 'gke', 'eks', 'aks']);

export function createSource(config: SourceConfig, ctx: SourceContext): CreatedSource {
  const logger = ctx.logger.child({ source: config.name });
  switch (config.type) {
    case 'webhook': {
      const source = new WebhookSource(config, { logger, metrics: ctx.metrics, clock: ctx.clock, mtls: ctx.mtls ?? false });
      return { source, receiver: source };
    }
    case 'gke':
      return { source: new GkeSource(config, { ...ctx, logger }) };
    case 'eks':
      return { source: new EksSource(config, { ...ctx, logger }) };
    case 'aks':
      return { source: new AksSource(config, { ...ctx, logger }) };
    default:
      throw new Error(`source type ${config.type} is not available yet in this version`);
  }
}
