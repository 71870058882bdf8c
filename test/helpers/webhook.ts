import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { webhookSinkSchema } from '../../src/sinks/webhook/config.js';
import { FileDeadLetter } from '../../src/pipeline/dead-letter.js';
import { deliver, sinkTarget } from '../../src/pipeline/deliver.js';
import { LogThrottle } from '../../src/telemetry/log-throttle.js';
import { WebhookSink } from '../../src/sinks/webhook/sink.js';
import type { AuditEvent } from '../../src/event/event.js';
import { Health } from '../../src/pipeline/health.js';
import { createLogger, type Logger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { tempDir } from './fs.js';

const closers: (() => Promise<void>)[] = [];

/** Runs `close` after the current test (sinks, receivers), in reverse order of registration. */
export function onCleanup(close: () => Promise<void>): void {
  closers.push(close);
}

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

/** A logger whose JSON lines the test can read (to check warnings, and that secrets stay out). */
export function captureLogger(level: 'trace' | 'debug' | 'info' = 'trace'): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger(level, stream);
  const text = (): string => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface SinkHarness {
  sink: WebhookSink;
  metrics: Metrics;
  health: Health;
  deadLetterPath: string;
  logs: ReturnType<typeof captureLogger>;
  write: (events: readonly AuditEvent[], signal?: AbortSignal) => Promise<void>;
}

/**
 * A webhook sink as the bridge builds it, with fast test timings unless `settings` says otherwise,
 * written to through the pipeline's delivery path (retries, narrowing, the dead-letter file), as
 * the pipeline writes to it; closed after the test.
 */
export async function webhookSink(
  url: string,
  settings: Record<string, unknown> = {},
  options: { clock?: Clock; healthClock?: Clock; env?: NodeJS.ProcessEnv; name?: string; metrics?: Metrics; health?: Health } = {},
): Promise<SinkHarness> {
  const dir = await tempDir();
  const name = options.name ?? 'hook';
  const metrics = options.metrics ?? new Metrics();
  const clock = options.clock ?? systemClock;
  const health = options.health ?? new Health(options.healthClock ?? clock, metrics);
  const deadLetterPath = join(dir, 'dead-letter.jsonl');
  // keepRaw: these tests read what a receiver answered; the default (size and digest only) is tested in the pipeline tests.
  const deadLetter = new FileDeadLetter(deadLetterPath, { keepRaw: true });
  const logs = captureLogger();
  const config = webhookSinkSchema.parse({
    name,
    type: 'webhook',
    url,
    batchMaxWait: '20ms',
    retry: { initialBackoff: '5ms', maxBackoff: '40ms' },
    ...settings,
  });
  const sink = new WebhookSink(config, { logger: logs.logger, metrics, clock, env: options.env ?? {} });
  health.registerSink(name, sink.failureThresholdMs);
  const log = new LogThrottle(logs.logger, () => clock.now());
  const target = sinkTarget(sink, { metrics, health, clock, deadLetter }, log);
  const delivery = { clock, backoff: sink.retryBackoff, log };
  onCleanup(async () => {
    await sink.close();
    await deadLetter.close();
  });
  return {
    sink,
    metrics,
    health,
    deadLetterPath,
    logs,
    write: (events, signal = new AbortController().signal) => deliver(target, events, signal, delivery),
  };
}

/** The value of a counter (or a histogram's _count) for the labels given, 0 when absent. */
export async function metricValue(
  metric: { get(): Promise<{ values: { value: number; labels: Record<string, string | number>; metricName?: string }[] }> },
  labels: Record<string, string>,
  suffix = '',
): Promise<number> {
  const { values } = await metric.get();
  const hit = values.find(
    (v) => (suffix === '' || v.metricName?.endsWith(suffix)) && Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val),
  );
  return hit?.value ?? 0;
}
