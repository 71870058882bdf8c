import { describe, expect, it } from 'vitest';
import { Health } from '../../src/pipeline/health.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import type { Clock } from '../../src/util/clock.js';

function manualClock(start = 0): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, sleep: () => Promise.resolve(), advance: (ms) => (now += ms) };
}

describe('Health (what /readyz reports)', () => {
  it('is not ready before the pipeline starts, nor while shutting down', () => {
    const h = new Health(manualClock());
    expect(h.readiness()).toEqual({ ready: false, problems: ['pipeline not started'] });
    h.markStarted();
    expect(h.readiness().ready).toBe(true);
    h.markStopping();
    expect(h.readiness()).toEqual({ ready: false, problems: ['shutting down'] });
  });

  it('requires each polling source to have polled successfully within three poll intervals', () => {
    const clock = manualClock();
    const h = new Health(clock);
    h.markStarted();
    h.registerSource('gke', 10_000);
    h.registerSource('webhook'); // push sources have no poll interval
    clock.advance(29_000);
    expect(h.readiness().ready).toBe(true);
    clock.advance(2000);
    expect(h.readiness().problems).toEqual(['source gke has not polled successfully yet in 31 s']);
    h.sourcePolled('gke');
    expect(h.readiness().ready).toBe(true);
    h.sourceFailed('gke', 'RESOURCE_EXHAUSTED');
    clock.advance(31_000);
    expect(h.readiness().problems).toEqual(['source gke has not polled successfully in 31 s (RESOURCE_EXHAUSTED)']);
  });

  it('reports a sink failing longer than its threshold, on /readyz and as a metric', async () => {
    const clock = manualClock();
    const metrics = new Metrics();
    const h = new Health(clock, metrics);
    h.markStarted();
    h.registerSink('falco', 60_000);
    h.sinkFailed('falco', 'connect ECONNREFUSED');
    clock.advance(59_000);
    expect(h.readiness().ready).toBe(true);
    clock.advance(2000);
    expect(h.readiness().problems).toEqual(['sink falco failing for 61 s (connect ECONNREFUSED)']);
    expect((await metrics.sinkFailing.get()).values).toEqual([{ labels: { sink: 'falco' }, value: 1 }]);
    h.sinkRecovered('falco');
    expect(h.readiness().ready).toBe(true);
    expect((await metrics.sinkFailing.get()).values).toEqual([{ labels: { sink: 'falco' }, value: 0 }]);
  });
});
