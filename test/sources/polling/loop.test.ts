import { describe, expect, it } from 'vitest';
import type { SourceBatch } from '../../../src/pipeline/types.js';
import { Health } from '../../../src/pipeline/health.js';
import { pollingBatches, type WindowPoller } from '../../../src/sources/polling/loop.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { VirtualClock } from '../../helpers/clock.js';
import { makeEvents } from '../../helpers/events.js';

type C = { watermark: number } & Record<string, unknown>;

/** A poller over a fixed timeline of events (one per second), failing on the polls it is told to. */
function timeline(failOn: Set<number>): WindowPoller<C> & { polls: { from: number; to: number }[] } {
  const polls: { from: number; to: number }[] = [];
  return {
    polls,
    initialCursor: (startMs) => ({ watermark: startMs }),
    async *poll(cursor, { nowMs }) {
      const poll = polls.length;
      const end = nowMs - 30_000;
      polls.push({ from: cursor.watermark, to: end });
      if (failOn.has(poll)) throw Object.assign(new Error('Quota exceeded'), { code: 8 });
      const seconds = Math.max(0, Math.floor((end - cursor.watermark) / 1000));
      const events = makeEvents(Math.floor(cursor.watermark / 1000), seconds);
      yield { source: 's', events, rejects: [], cursor: { watermark: end } };
    },
    classify: (err) => ({ code: (err as { code?: number }).code === 8 ? 'RESOURCE_EXHAUSTED' : 'UNKNOWN', throttled: true }),
  };
}

async function collect(poller: WindowPoller<C>, options: { once: boolean; polls: number }, clock: VirtualClock, metrics: Metrics): Promise<SourceBatch[]> {
  const abort = new AbortController();
  const batches: SourceBatch[] = [];
  const health = new Health(clock, metrics);
  health.registerSource('s', 10_000);
  const it = pollingBatches(
    poller,
    { name: 's', pollIntervalMs: 10_000, once: options.once, startMs: () => clock.now() - 60_000, clock, health, metrics, logger: silentLogger(), backoff: { initialMs: 1000, maxMs: 8000 } },
    undefined,
    abort.signal,
  );
  for await (const batch of it) {
    batches.push(batch);
    if (batches.length >= options.polls) abort.abort();
  }
  return batches;
}

describe('pollingBatches', () => {
  it('reads contiguous windows up to now − settleLag, one per poll interval', async () => {
    const clock = new VirtualClock();
    const poller = timeline(new Set());
    const batches = await collect(poller, { once: false, polls: 4 }, clock, new Metrics());
    expect(poller.polls[0]).toEqual({ from: poller.polls[0]!.to - 30_000, to: poller.polls[0]!.to });
    for (let i = 1; i < 4; i++) {
      expect(poller.polls[i]!.from).toBe(poller.polls[i - 1]!.to); // no gap, no overlap at this level
      expect(poller.polls[i]!.to - poller.polls[i - 1]!.to).toBe(10_000); // the poll interval
    }
    expect(batches.flatMap((b) => b.events)).toHaveLength(30 + 10 + 10 + 10);
  });

  it('after a failed poll, backs off, counts the error and re-queries from the last cursor', async () => {
    const clock = new VirtualClock();
    const metrics = new Metrics();
    const poller = timeline(new Set([1, 2]));
    await collect(poller, { once: false, polls: 3 }, clock, metrics);
    expect(poller.polls[1]!.from).toBe(poller.polls[0]!.to);
    expect(poller.polls[2]!.from).toBe(poller.polls[0]!.to);
    expect(poller.polls[3]!.from).toBe(poller.polls[0]!.to);
    expect((await metrics.apiErrors.get()).values).toEqual([{ labels: { source: 's', code: 'RESOURCE_EXHAUSTED' }, value: 2 }]);
    expect((await metrics.apiThrottles.get()).values[0]?.value).toBe(2);
  });

  it('in once mode, ends after one complete poll', async () => {
    const clock = new VirtualClock();
    const poller = timeline(new Set([0]));
    const batches = await collect(poller, { once: true, polls: 100 }, clock, new Metrics());
    expect(poller.polls).toHaveLength(2); // the failed one, then the complete one
    expect(batches).toHaveLength(1);
  });
});
