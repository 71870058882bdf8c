import type { Clock } from '../util/clock.js';
import type { Metrics } from '../telemetry/metrics.js';

interface SourceHealth {
  pollIntervalMs: number | undefined;
  registeredAt: number;
  lastSuccess: number | undefined;
  lastError: string | undefined;
  /** The last error is one retrying cannot fix: reported at once, not after three poll intervals. */
  lasting: boolean;
  /** The source gave up (run --once met a lasting error): the line `run` prints. */
  stopped: string | undefined;
}

interface SinkHealth {
  thresholdMs: number;
  failingSince: number | undefined;
  lastError: string | undefined;
}

export interface Readiness {
  ready: boolean;
  problems: string[];
}

/**
 * What /readyz reports (the README's Operations section): each polling source has polled successfully within three
 * poll intervals, and no sink has been failing for longer than its threshold.
 */
export class Health {
  private readonly sources = new Map<string, SourceHealth>();
  private readonly sinks = new Map<string, SinkHealth>();
  private started = false;

  constructor(
    private readonly clock: Clock,
    private readonly metrics?: Metrics,
  ) {}

  private stopping = false;
  private readonly checks: (() => string[])[] = [];

  /** A further readiness check; each string it returns is a problem. */
  addCheck(check: () => string[]): void {
    this.checks.push(check);
  }

  markStarted(): void {
    this.started = true;
  }

  /** During shutdown the instance is not ready, so a Service stops sending it webhook traffic. */
  markStopping(): void {
    this.stopping = true;
  }

  registerSource(name: string, pollIntervalMs?: number): void {
    this.sources.set(name, { pollIntervalMs, registeredAt: this.clock.now(), lastSuccess: undefined, lastError: undefined, lasting: false, stopped: undefined });
  }

  /** The source read successfully (a whole poll, or one answer of its API during a long one). */
  sourcePolled(name: string): void {
    const s = this.sources.get(name);
    if (s) {
      s.lastSuccess = this.clock.now();
      s.lastError = undefined;
      s.lasting = false;
    }
  }

  /** `lasting`: retrying cannot fix it (permission denied, not found...); /readyz reports it at once, `error` as the whole problem. */
  sourceFailed(name: string, error: string, options: { lasting?: boolean } = {}): void {
    const s = this.sources.get(name);
    if (s) {
      s.lastError = error;
      s.lasting = options.lasting ?? false;
    }
  }

  /** The source ended on an error it cannot get past; `line` names the source, what failed and the fix. */
  sourceStopped(name: string, line: string): void {
    const s = this.sources.get(name);
    if (s) s.stopped = line;
  }

  /** The lines of the sources that gave up, for `run --once` to print and exit non-zero on. */
  stoppedSources(): string[] {
    return [...this.sources.values()].flatMap((s) => (s.stopped === undefined ? [] : [s.stopped]));
  }

  registerSink(name: string, thresholdMs = 5 * 60_000): void {
    this.sinks.set(name, { thresholdMs, failingSince: undefined, lastError: undefined });
    this.metrics?.sinkFailing.set({ sink: name }, 0);
  }

  sinkFailed(name: string, error: string): void {
    const s = this.sinks.get(name);
    if (!s) return;
    s.failingSince ??= this.clock.now();
    s.lastError = error;
  }

  sinkRecovered(name: string): void {
    const s = this.sinks.get(name);
    if (!s) return;
    s.failingSince = undefined;
    s.lastError = undefined;
    this.metrics?.sinkFailing.set({ sink: name }, 0);
  }

  readiness(): Readiness {
    const now = this.clock.now();
    const problems: string[] = [];
    if (!this.started) problems.push('pipeline not started');
    if (this.stopping) problems.push('shutting down');
    for (const [name, s] of this.sources) {
      if (s.stopped !== undefined || (s.lasting && s.lastError !== undefined)) {
        problems.push(s.stopped ?? s.lastError!);
        continue;
      }
      if (s.pollIntervalMs === undefined) continue;
      const window = 3 * s.pollIntervalMs;
      const since = s.lastSuccess ?? s.registeredAt;
      if (now - since > window) {
        const what = s.lastSuccess === undefined ? 'has not polled successfully yet' : 'has not polled successfully';
        problems.push(`source ${name} ${what} in ${Math.round((now - since) / 1000)} s${s.lastError ? ` (${s.lastError})` : ''}`);
      }
    }
    for (const [name, s] of this.sinks) {
      const failing = s.failingSince !== undefined && now - s.failingSince > s.thresholdMs;
      this.metrics?.sinkFailing.set({ sink: name }, failing ? 1 : 0);
      if (failing) {
        problems.push(`sink ${name} failing for ${Math.round((now - s.failingSince!) / 1000)} s (${s.lastError ?? 'unknown error'})`);
      }
    }
    for (const check of this.checks) problems.push(...check());
    return { ready: problems.length === 0, problems };
  }
}
