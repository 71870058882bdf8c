// What a source component is: one folder under src/sources/<type>/ whose index.ts exports a
// SourceComponent. src/registry.ts lists them; the config schema, createSource, `convert --from`,
// `emulator`, the demo and the chart's schema check are all derived from that list.
import type { z } from 'zod';
import type { Health } from '../pipeline/health.js';
import type { Source } from '../pipeline/types.js';
import type { AuditReceiver } from '../server/http-server.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Clock } from '../util/clock.js';
import type { QuotaRegistry } from '../util/token-bucket.js';
import type { Converter } from './converter.js';
import type { DemoPartFactory } from './demo.js';
import type { EmulatorComponent } from './emulator.js';

export interface SourceContext {
  /** Already a child logger naming the source. */
  logger: Logger;
  metrics: Metrics;
  health: Health;
  clock: Clock;
  /** Token buckets shared by every source of the process that draws on the same API quota. */
  quotas: QuotaRegistry;
  /** run --once: drain what there is, then end. */
  once: boolean;
  /** The server asks senders for client certificates (server.tls.clientCaFile); push sources only. */
  mtls?: boolean;
  /** The pipeline.maxInFlightBatches the runner holds this source to, for sources that size their intake by it. */
  maxInFlightBatches?: number;
  /**
   * There are worker threads (pipeline.workers): a source that can should hand its records over
   * unnormalized (SourceBatch.deferred), so that normalizing them leaves the main thread.
   */
  deferNormalization?: boolean;
}

export interface CreatedSource {
  source: Source;
  /** Push sources also answer HTTP requests on the server. */
  receiver?: AuditReceiver;
}

/** What a component's check sees of the rest of the config. */
export interface CheckContext {
  /** server.tls is set. */
  serverTls: boolean;
  /** server.tls.clientCaFile is set: senders present client certificates. */
  clientCertificates: boolean;
  /** server.host is a loopback address: only this machine can connect. */
  serverLoopback: boolean;
}

/** Problems refuse the config (exit 2); warnings are said at validate and at every start. Both are relative to the entry: "" or ".key: ...". */
export interface ComponentCheck<P = undefined> {
  problems: string[];
  warnings: string[];
  /** What the check compiled (a rule engine), handed to create so that no file is read twice. */
  prepared?: P;
}

export interface SourceComponent<C extends { name: string; type: string } = { name: string; type: string }> {
  readonly type: C['type'];
  /** One line for the docs and `--help`. */
  readonly summary: string;
  /** The entry's schema: a strict object with `type: z.literal(type)` and `name`. */
  readonly schema: z.ZodType<C>;
  /** Checks beyond the schema (files, combinations with server settings). */
  check?(config: C, ctx: CheckContext): ComponentCheck;
  /** Undefined for a type this build knows but cannot run yet. */
  create?(config: C, ctx: SourceContext): CreatedSource;
  /** `convert --from <type>`: provider records to Events (a lazy import). */
  converter?: () => Promise<Converter>;
  /** `emulator <name>`: the provider's API on 127.0.0.1. */
  emulator?: EmulatorComponent;
  /** What this source adds to `demo`. */
  demo?: DemoPartFactory;
}
