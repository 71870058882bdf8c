import type { Logger } from '../telemetry/logger.js';

export interface DemoContext {
  /** A temporary directory removed when the demo ends. */
  workDir: string;
  logger: Logger;
}

/**
 * One piece of the demo: what it adds to the bridge's config (sources, sinks, as in YAML), and
 * what it runs beside the bridge (an emulator, a replayer, a receiver). Parts are started before
 * the bridge, `run` once the bridge listens, and stopped after the bridge has stopped.
 */
export interface DemoPart {
  name: string;
  sources?: Record<string, unknown>[];
  sinks?: Record<string, unknown>[];
  /** Runs until the signal aborts; `bridgeUrl` is http://127.0.0.1:<port>. */
  run?(bridgeUrl: string, signal: AbortSignal): Promise<void>;
  stop?(): Promise<void>;
}

export type DemoPartFactory = (ctx: DemoContext) => Promise<DemoPart>;
