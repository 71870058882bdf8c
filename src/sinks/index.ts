import type { Writable } from 'node:stream';
import type { SinkConfig } from '../config/sinks.js';
import type { Health } from '../pipeline/health.js';
import type { Sink } from '../pipeline/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Clock } from '../util/clock.js';
import type { DeadLetter } from '../pipeline/dead-letter.js';
import { FileSink } from './file/sink.js';
import type { RuleEngine } from '../rules/engine.js';
import { createRulesSink } from './rules/sink.js';
import { StdoutSink } from './stdout/sink.js';
import { WebhookSink } from './webhook/sink.js';

export interface SinkContext {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** Sinks that retry internally (webhook) report failing and recovering here, for /readyz. */
  health: Health;
  /** The pipeline's dead-letter file, for sinks that refuse single events or batches themselves. */
  deadLetter: DeadLetter;
  /** Where the stdout sink writes; process.stdout unless a test or the demo says otherwise. */
  stdout?: Writable;
  /** Rule engines the config check compiled, by rules sink name (so rule files are read once). */
  rules?: ReadonlyMap<string, RuleEngine>;
}

export const AVAILABLE_SINK_TYPES: ReadonlySet<SinkConfig['type']> = new Set(['stdout', 'file', 'webhook', 'rules']);

export function createSink(config: SinkConfig, ctx: SinkContext): Sink {
  switch (config.type) {
    case 'stdout':
      return new StdoutSink(config.name, ctx.stdout);
    case 'file':
      return new FileSink(config.name, config.path);
    case 'webhook':
      return new WebhookSink(config, ctx);
    case 'rules':
      return createRulesSink(config, { ...ctx, engine: ctx.rules?.get(config.name) });
  }
}
