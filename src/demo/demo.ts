import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Bridge } from '../bridge.js';
import { configSchema } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { DemoPart, DemoPartFactory } from '../component/demo.js';
import type { OutputFormat } from '../sinks/stdout/format.js';
import { demoParts } from './parts.js';

export interface DemoOptions {
  /** Stop after this long; undefined runs until the signal aborts. */
  durationMs?: number;
  port?: number;
  logger: Logger;
  stdout?: Writable;
  signal?: AbortSignal;
  /** The parts to run; default all of them. */
  parts?: DemoPartFactory[];
  /**
   * How everything the demo prints on stdout is written (stdout sinks and stdout alert outputs):
   * text for a person, json for programs; undefined leaves each part's own setting.
   */
  format?: OutputFormat;
}

export interface DemoSummary {
  url: string;
  parts: string[];
}

/**
 * The bridge end to end on an embedded default: every demo part contributes sources, sinks and
 * the programs that feed or receive them; the bridge runs on 127.0.0.1 until the duration ends or
 * the signal aborts.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { logger } = options;
  const workDir = await mkdtemp(join(tmpdir(), 'kube-audit-bridge-demo-'));
  const parts: DemoPart[] = [];
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.durationMs !== undefined ? setTimeout(() => stop.abort(), options.durationMs) : undefined;
  try {
    for (const factory of options.parts ?? demoParts) parts.push(await factory({ workDir, logger }));
    const config = configSchema.parse({
      sources: parts.flatMap((p) => p.sources ?? []),
      sinks: parts.flatMap((p) => p.sinks ?? []).map((sink) => (options.format ? onStdoutAs(sink, options.format) : sink)),
      checkpoint: { path: join(workDir, 'checkpoints.json') },
      deadLetter: { path: join(workDir, 'dead-letter.jsonl') },
      server: { host: '127.0.0.1', port: options.port ?? 0 },
    });
    const bridge = await Bridge.create(config, { logger, stdout: options.stdout });
    const { port } = await bridge.start();
    const url = `http://127.0.0.1:${port}`;
    logger.info({ metrics: `${url}/metrics`, parts: parts.map((p) => p.name) }, 'demo bridge running');
    try {
      const running = parts.flatMap((p) => (p.run ? [p.run(url, stop.signal)] : []));
      await new Promise<void>((resolve) => {
        if (stop.signal.aborted) resolve();
        stop.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await Promise.allSettled(running);
    } finally {
      await bridge.stop('demo finished');
    }
    return { url, parts: parts.map((p) => p.name) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    for (const part of parts.reverse()) await part.stop?.().catch((err: unknown) => logger.warn({ part: part.name, error: String(err) }, 'stopping demo part failed'));
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * A part's sink config with what it writes to stdout set to `format`: a stdout sink itself, and
 * the stdout alert outputs of a rules sink. Other sinks pass unchanged.
 */
function onStdoutAs(sink: Record<string, unknown>, format: OutputFormat): Record<string, unknown> {
  if (sink.type === 'stdout') return { ...sink, format };
  if (!Array.isArray(sink.alerts)) return sink;
  const alerts = (sink.alerts as unknown[]).map((a) => (typeof a === 'object' && a !== null && (a as { type?: unknown }).type === 'stdout' ? { ...a, format } : a));
  return { ...sink, alerts };
}
