import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileCheckpointStore } from '../../../src/checkpoint/file-store.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import type { Source, SourceBatch } from '../../../src/pipeline/types.js';
import { Health } from '../../../src/pipeline/health.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { SourceStoppedError } from '../../../src/pipeline/source-runner.js';
import { LASTING_RETRY_MS, pollingBatches, type WindowPoller } from '../../../src/sources/polling/loop.js';
import { CursorError } from '../../../src/sources/polling/window.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { VirtualClock } from '../../helpers/clock.js';
import { makeEvents } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { RecordingSink } from '../../helpers/pipeline.js';

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

/** A clock whose sleeps are recorded (virtual time). */
class RecordingClock extends VirtualClock {
  readonly sleeps: number[] = [];
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return super.sleep(ms, signal);
  }
}

const DENIED = Object.assign(new Error('7 PERMISSION_DENIED: denied'), { code: 7 });

/** A poller told, per poll, whether it hands on a batch first and how it then ends. */
function scripted(
  clock: VirtualClock,
  script: ('batch-then-fail' | 'fail' | 'denied' | 'ok' | 'unreadable')[],
): WindowPoller<C> & { polls: number; readiness: string[][]; health?: Health; stop?: AbortController } {
  const poller: WindowPoller<C> & { polls: number; readiness: string[][]; health?: Health; stop?: AbortController } = {
    api: 'Test API',
    polls: 0,
    readiness: [],
    initialCursor: (startMs) => ({ watermark: startMs }),
    async *poll(cursor) {
      const step = script[poller.polls++];
      if (step === undefined) {
        // The script is played out: stop the loop where it stands.
        poller.stop?.abort();
        throw new Error('stopped');
      }
      if (poller.health) poller.readiness.push(poller.health.readiness().problems);
      if (step === 'batch-then-fail' || step === 'ok') {
        clock.advance(12_000); // a long read: a page every 12 s
        yield { source: 's', events: makeEvents(poller.polls, 1), rejects: [], cursor: { watermark: cursor.watermark + 1 } };
      }
      if (step === 'batch-then-fail' || step === 'fail') throw Object.assign(new Error('unavailable'), { code: 14 });
      if (step === 'denied') throw DENIED;
      if (step === 'unreadable') throw new CursorError('source s: the checkpoint is not a window cursor in ms (found keys next); remove it');
    },
    classify: (err) =>
      (err as { code?: number }).code === 7
        ? { code: 'PERMISSION_DENIED', throttled: false, answer: 'denied', lasting: { reason: 'permission_denied', fix: 'grant it the reader role' } }
        : { code: 'UNAVAILABLE', throttled: false },
  };
  return poller;
}

async function run(
  poller: WindowPoller<C> & { health?: Health; stop?: AbortController },
  clock: VirtualClock,
  options: { once: boolean; stopAfterPolls?: number; metrics?: Metrics },
): Promise<{ batches: SourceBatch[]; health: Health; metrics: Metrics }> {
  const metrics = options.metrics ?? new Metrics();
  const health = new Health(clock, metrics);
  health.markStarted();
  health.registerSource('s', 10_000);
  poller.health = health;
  const abort = new AbortController();
  poller.stop = abort;
  const batches: SourceBatch[] = [];
  const it = pollingBatches(
    poller,
    { name: 's', pollIntervalMs: 10_000, once: options.once, startMs: () => clock.now(), clock, health, metrics, logger: silentLogger(), backoff: { initialMs: 1000, maxMs: 8000 } },
    undefined,
    abort.signal,
  );
  const polls = (): number => (poller as unknown as { polls: number }).polls;
  for await (const batch of it) {
    batches.push(batch);
    if (options.stopAfterPolls !== undefined && polls() >= options.stopAfterPolls) abort.abort();
  }
  return { batches, health, metrics };
}

describe('pollingBatches: errors that end or show', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('starts the backoff over after a poll that handed on a batch, even one that failed after it', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const clock = new RecordingClock();
    const poller = scripted(clock, ['batch-then-fail', 'batch-then-fail', 'batch-then-fail', 'batch-then-fail', 'ok']);
    await run(poller, clock, { once: false, stopAfterPolls: 5 });
    expect(clock.sleeps.slice(0, 4)).toEqual([999, 999, 999, 999]);
    // Each poll made progress: /readyz never said the source had not polled, though 48 s passed in failing polls.
    expect(poller.readiness.flat()).toEqual([]);

    // Without progress the backoff grows as before.
    const stuck = new RecordingClock();
    await run(scripted(stuck, ['fail', 'fail', 'fail', 'fail', 'ok']), stuck, { once: false, stopAfterPolls: 5 });
    expect(stuck.sleeps.slice(0, 4)).toEqual([999, 1998, 3996, 7992]);
  });

  it('shows a lasting error on /readyz at once with one line, counts it by reason, retries slowly and clears it after a good poll', async () => {
    const clock = new RecordingClock();
    const poller = scripted(clock, ['denied', 'denied', 'ok']);
    const { metrics } = await run(poller, clock, { once: false, stopAfterPolls: 3 });
    const line = 'source s: Test API answered PERMISSION_DENIED: denied. Likely fix: grant it the reader role';
    expect(poller.readiness).toEqual([[], [line], [line]]);
    expect(clock.sleeps.slice(0, 2)).toEqual([LASTING_RETRY_MS, LASTING_RETRY_MS]);
    expect(LASTING_RETRY_MS).toBe(5 * 60_000);
    expect((await metrics.sourceLastingErrors.get()).values).toEqual([{ labels: { source: 's', reason: 'permission_denied' }, value: 2 }]);
    expect((await metrics.sourceFailing.get()).values).toEqual([{ labels: { source: 's', reason: 'permission_denied' }, value: 0 }]);
    expect((await metrics.apiErrors.get()).values).toEqual([{ labels: { source: 's', code: 'PERMISSION_DENIED' }, value: 2 }]);
  });

  it('keeps source_failing at 1 while the lasting error lasts', async () => {
    const clock = new RecordingClock();
    const { metrics, health } = await run(scripted(clock, ['denied', 'denied']), clock, { once: false });
    expect((await metrics.sourceFailing.get()).values).toEqual([{ labels: { source: 's', reason: 'permission_denied' }, value: 1 }]);
    expect(health.readiness().problems).toEqual(['source s: Test API answered PERMISSION_DENIED: denied. Likely fix: grant it the reader role']);
  });

  it('in once mode, a lasting error ends the source with that line after handing on what it read', async () => {
    const clock = new RecordingClock();
    const poller = scripted(clock, ['denied']);
    const err = await run(poller, clock, { once: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceStoppedError);
    expect((err as SourceStoppedError).line).toBe('source s: Test API answered PERMISSION_DENIED: denied. Likely fix: grant it the reader role');
    expect(clock.sleeps).toEqual([]);
  });

  it('an unreadable checkpoint is lasting too (bad_checkpoint), its message the line', async () => {
    const clock = new RecordingClock();
    const metrics = new Metrics();
    const err = await run(scripted(clock, ['unreadable']), clock, { once: true, metrics }).catch((e: unknown) => e);
    expect((err as SourceStoppedError).line).toMatch(/^source s: the checkpoint is not a window cursor in ms/);
    expect((await metrics.sourceLastingErrors.get()).values).toEqual([{ labels: { source: 's', reason: 'bad_checkpoint' }, value: 1 }]);
    expect((await metrics.apiErrors.get()).values).toEqual([]);
  });
});

describe('Health with lasting errors', () => {
  it('reports a lasting error at once, as its line, until the source reads again; a stopped source stays reported', () => {
    const clock = new VirtualClock();
    const h = new Health(clock);
    h.markStarted();
    h.registerSource('eks', 10_000);
    h.sourceFailed('eks', 'ThrottlingException: Rate exceeded');
    expect(h.readiness().ready).toBe(true); // transient: only after three poll intervals
    h.sourceFailed('eks', 'source eks: CloudWatch Logs FilterLogEvents answered AccessDeniedException. Likely fix: allow it', { lasting: true });
    expect(h.readiness().problems).toEqual(['source eks: CloudWatch Logs FilterLogEvents answered AccessDeniedException. Likely fix: allow it']);
    h.sourcePolled('eks');
    expect(h.readiness().ready).toBe(true);
    expect(h.stoppedSources()).toEqual([]);
    h.sourceStopped('eks', 'source eks: stopped');
    expect(h.readiness().problems).toEqual(['source eks: stopped']);
    expect(h.stoppedSources()).toEqual(['source eks: stopped']);
  });
});

describe('a source stopped by a lasting error in a pipeline (run --once)', () => {
  it('delivers and commits what it read before, is not restarted, and is listed for run to print', async () => {
    const dir = await tempDir();
    const clock = new VirtualClock();
    const start = clock.now();
    const metrics = new Metrics();
    const health = new Health(clock, metrics);
    const store = await FileCheckpointStore.open(join(dir, 'checkpoints.json'));
    const poller = scripted(clock, ['batch-then-fail', 'denied', 'ok']);
    poller.classify = (err) =>
      (err as { code?: number }).code === 14
        ? { code: 'UNAVAILABLE', throttled: false }
        : { code: 'PERMISSION_DENIED', throttled: false, answer: 'denied', lasting: { reason: 'permission_denied', fix: 'grant it the reader role' } };
    const options = { name: 's', pollIntervalMs: 10_000, once: true, startMs: () => clock.now(), clock, health, metrics, logger: silentLogger(), backoff: { initialMs: 1, maxMs: 1 } };
    const source: Source = { name: 's', pollIntervalMs: 10_000, batches: (from, signal) => pollingBatches(poller, options, from, signal) };
    const sink = new RecordingSink();
    const pipeline = new Pipeline({
      sources: [source],
      sinks: [{ sink }],
      checkpoints: store,
      deadLetter: new FileDeadLetter(join(dir, 'dead-letter.jsonl')),
      metrics,
      health,
      logger: silentLogger(),
      clock,
      maxInFlightBatches: 4,
      dedupeMaxKeys: 100,
      dedupeSaveIntervalMs: 60_000,
      shutdownTimeoutMs: 1000,
      sinkBackoff: { initialMs: 1, maxMs: 1 },
    });
    await pipeline.run();
    expect(poller.polls).toBe(2); // not restarted after the lasting error
    expect(sink.received).toHaveLength(1);
    const reopened = await FileCheckpointStore.open(join(dir, 'checkpoints.json'));
    expect(await reopened.load('s')).toEqual({ watermark: start + 1 }); // the batch before the error, committed
    await reopened.close();
    expect(health.stoppedSources()).toEqual(['source s: Test API answered PERMISSION_DENIED: denied. Likely fix: grant it the reader role']);
  });
});
