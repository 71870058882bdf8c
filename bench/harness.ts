import { Health } from '../src/pipeline/health.js';
import type { SourceContext } from '../src/component/source.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { systemClock } from '../src/util/clock.js';
import { QuotaRegistry } from '../src/util/token-bucket.js';

// Benchmarks print figures and ratios to a baseline measured in the same run; they are never
// assertions (these machines are shared, timings move). Each suite returns its figures.

export interface MeasuredFigure {
  /** Stable key, e.g. "gke.normalize.events_per_s". */
  key: string;
  label: string;
  value: number;
  unit: string;
  /** The same quantity for the baseline, measured in this run, and value / baseline. */
  baseline?: { label: string; value: number; ratio: number };
}

/** A figure whose run was too short to give a number worth printing: it says so, and has no value. */
export interface TooShortFigure {
  key: string;
  label: string;
  unit: string;
  /** What the run gave and what a figure needs, e.g. "0.31 s of work; a rate needs 2 s". */
  tooShort: string;
}

export type Figure = MeasuredFigure | TooShortFigure;

export function isMeasured(f: Figure): f is MeasuredFigure {
  return !('tooShort' in f);
}

/**
 * Below this much work a rate says more about start-up, one batch arriving at once and the
 * 10 ms CPU tick than about what is measured (an AKS drain of 4,000 events that all came in one
 * batch once printed 4,000,000 events/s).
 */
export const MIN_RUN_SECONDS = 2;

/**
 * `amount` (events, bytes, CPU seconds) over the `seconds` the work took, from its start (the
 * bridge ready, the first request sent) to its end; too short under MIN_RUN_SECONDS. A baseline
 * that is itself too short makes the figure too short: its ratio would mean nothing.
 */
export function perSecondFigure(
  figure: { key: string; label: string; unit: string },
  amount: number,
  seconds: number,
  baseline?: { label: string; figure: Figure } | { label: string; value: number },
): Figure {
  if (!(seconds >= MIN_RUN_SECONDS)) return { ...figure, tooShort: `${seconds.toFixed(2)} s of work; a rate needs ${MIN_RUN_SECONDS} s` };
  const measured = { ...figure, value: amount / seconds };
  if (!baseline) return measured;
  if ('figure' in baseline) {
    if (!isMeasured(baseline.figure)) return { ...figure, tooShort: `its baseline (${baseline.label}): ${baseline.figure.tooShort}` };
    return withBaseline(measured, baseline.label, baseline.figure.value);
  }
  return withBaseline(measured, baseline.label, baseline.value);
}

/**
 * The p-th percentile of `sorted` samples taken over `seconds`: too short when the run lasted
 * under MIN_RUN_SECONDS or when there are too few samples for it to be more than the largest one
 * (a p99 needs 100).
 */
export function percentileFigure(
  figure: { key: string; label: string; unit: string },
  sorted: readonly number[],
  p: number,
  seconds: number,
  baseline?: { label: string; value: number },
): Figure {
  const needed = Math.ceil(100 / (100 - p));
  if (sorted.length < needed) return { ...figure, tooShort: `${sorted.length} samples; a p${p} needs ${needed}` };
  if (!(seconds >= MIN_RUN_SECONDS)) return { ...figure, tooShort: `samples taken over ${seconds.toFixed(2)} s; a figure needs ${MIN_RUN_SECONDS} s` };
  const value = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return baseline ? withBaseline({ ...figure, value }, baseline.label, baseline.value) : { ...figure, value };
}

/** What a provider source needs to drain once in the benchmark process, logging nothing. */
export function onceSourceContext(quotas: QuotaRegistry = new QuotaRegistry(systemClock)): SourceContext {
  const metrics = new Metrics();
  return { logger: silentLogger(), metrics, health: new Health(systemClock, metrics), clock: systemClock, quotas, once: true };
}

export interface BenchContext {
  quick: boolean;
  log(message: string): void;
  /** Node options for the bridge processes of the end-to-end suite (`--bridge-cpu-prof DIR`). */
  bridgeNodeArgs: readonly string[];
  /** --provider NAME: the end-to-end suite runs these providers only (empty: all). */
  providers: readonly string[];
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

export function withBaseline(figure: Omit<MeasuredFigure, 'baseline'>, baselineLabel: string, baselineValue: number): MeasuredFigure {
  return { ...figure, baseline: { label: baselineLabel, value: baselineValue, ratio: figure.value / baselineValue } };
}

export function formatFigure(f: Figure): string {
  if (!isMeasured(f)) return `${f.label.padEnd(58)} too short to measure (${f.tooShort})`;
  const value = `${f.value >= 100 ? Math.round(f.value).toLocaleString('en-US') : f.value.toFixed(2)} ${f.unit}`;
  const ratio = f.baseline ? `  (${f.baseline.ratio.toFixed(2)}x ${f.baseline.label})` : '';
  return `${f.label.padEnd(58)} ${value}${ratio}`;
}
