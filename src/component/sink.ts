import type { Writable } from 'node:stream';
import type { z } from 'zod';
import type { DeadLetter } from '../pipeline/dead-letter.js';
import type { AlertReporter } from '../pipeline/status.js';
import type { Health } from '../pipeline/health.js';
import type { Sink } from '../pipeline/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Clock } from '../util/clock.js';
import type { CheckContext, ComponentCheck } from './source.js';
import type { DemoPartFactory } from './demo.js';

export interface SinkContext {
  /** Already a child logger naming the sink. */
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  health: Health;
  /** The pipeline's dead-letter file, for what a sink refuses inside its own batching. */
  deadLetter: DeadLetter;
  /** Where the stdout sink writes; process.stdout unless a test or the demo says otherwise. */
  stdout?: Writable | undefined;
  /** What the status page shows of a sink's own doings (a rules sink's alerts). */
  status?: AlertReporter | undefined;
}

/** A sink component: one folder under src/sinks/<type>/ whose index.ts exports it (see SourceComponent). */
export interface SinkComponent<C extends { name: string; type: string } = { name: string; type: string }, P = undefined> {
  readonly type: C['type'];
  readonly summary: string;
  readonly schema: z.ZodType<C>;
  check?(config: C, ctx: CheckContext & { cwd?: string | undefined }): ComponentCheck<P>;
  create(config: C, ctx: SinkContext, prepared: P | undefined): Sink;
  demo?: DemoPartFactory;
}
