import { Health } from '../src/pipeline/health.js';
import type { SourceContext } from '../src/component/source.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { systemClock } from '../src/util/clock.js';
import { QuotaRegistry } from '../src/util/token-bucket.js';

// Benchmarks print figures and ratios to a baseline measured in the same run; they are never
// assertions (these machines are shared, timings move). Each suite returns its figures.

export interface Figure {
  /** Stable key, e.g. "gke.normalize.events_per_s". */
  key: string;
  label: string;
  value: number;
  unit: string;
  /** The same quantity for the baseline, measured in this run, and value / baseline. */
  baseline?: { label: string; value: number; ratio: number };
}

/** What a provider source needs to drain once in the benchmark process, logging nothing. */
export function onceSourceContext(quotas: QuotaRegistry = new QuotaRegistry(systemClock)): SourceContext {
  const metrics = new Metrics();
  return { logger: silentLogger(), metrics, health: new Health(systemClock, metrics), clock: systemClock, quotas, once: true };
}

export interface BenchContext {
  quick: boolean;
  log(message: string): void;
}

export interface Suite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export interface Rate {
  opsPerSecond: number;
  iterations: number;
  elapsedMs: number;
}

/**
 * Runs `op` (which handles `n` items per call) repeatedly for at least `minMs` after a warm-up,
 * and returns items per second.
 */
export async function rate(op: () => unknown, n: number, options: { minMs?: number; warmup?: number } = {}): Promise<Rate> {
  for (let i = 0; i < (options.warmup ?? 3); i++) await op();
  const minMs = options.minMs ?? 1000;
  let iterations = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    await op();
    iterations++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return { opsPerSecond: (iterations * n * 1000) / elapsed, iterations, elapsedMs: elapsed };
}

/**
 * The ceiling every figure is compared to: JSON.parse + JSON.stringify of the same bytes, which
 * any bridge must at least do once per event. Returns items/s and MB/s.
 */
export async function jsonCeiling(texts: readonly string[], minMs = 1000): Promise<{ itemsPerSecond: number; mbPerSecond: number }> {
  const bytes = texts.reduce((sum, t) => sum + Buffer.byteLength(t), 0);
  const r = await rate(() => {
    let sink = 0;
    for (const t of texts) sink += JSON.stringify(JSON.parse(t)).length;
    return sink;
  }, texts.length, { minMs });
  return { itemsPerSecond: r.opsPerSecond, mbPerSecond: (r.opsPerSecond / texts.length) * (bytes / 1e6) };
}

export function withBaseline(figure: Omit<Figure, 'baseline'>, baselineLabel: string, baselineValue: number): Figure {
  return { ...figure, baseline: { label: baselineLabel, value: baselineValue, ratio: figure.value / baselineValue } };
}

export function formatFigure(f: Figure): string {
  const value = `${f.value >= 100 ? Math.round(f.value).toLocaleString('en-US') : f.value.toFixed(2)} ${f.unit}`;
  const ratio = f.baseline ? `  (${f.baseline.ratio.toFixed(2)}x ${f.baseline.label})` : '';
  return `${f.label.padEnd(58)} ${value}${ratio}`;
}
