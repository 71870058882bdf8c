import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../src/checkpoint/file-store.js';
import type { Cursor } from '../../src/checkpoint/store.js';
import { FileDeadLetter } from '../../src/pipeline/dead-letter.js';
import { FileSink } from '../../src/sinks/file/sink.js';
import type { AuditEvent } from '../../src/event/event.js';
import { Health } from '../../src/pipeline/health.js';
import { Pipeline, type PipelineOptions } from '../../src/pipeline/pipeline.js';
import { PermanentDeliveryError, TransientDeliveryError, type Source, type SourceBatch } from '../../src/pipeline/types.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { systemClock } from '../../src/util/clock.js';
import { scrubEvent } from '../../src/process/scrub.js';
import { makeEvent, makeEvents, readJsonLines } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';
import { ListSource, RecordingSink, SpyingStore, eventually } from '../helpers/pipeline.js';

async function buildPipeline(
  dir: string,
  sources: Source[],
  sinks: RecordingSink[] | PipelineOptions['sinks'],
  overrides: Partial<PipelineOptions> = {},
): Promise<{ pipeline: Pipeline; store: SpyingStore; metrics: Metrics; health: Health; deadLetterPath: string }> {
  const metrics = new Metrics();
  const health = new Health(systemClock, metrics);
  const store = new SpyingStore(await FileCheckpointStore.open(join(dir, 'checkpoints.json')));
  const deadLetterPath = join(dir, 'dead-letter.jsonl');
  const pipeline = new Pipeline({
    sources,
    sinks: sinks.map((s) => ('sink' in s ? s : { sink: s })),
    checkpoints: store,
    deadLetter: new FileDeadLetter(deadLetterPath),
    metrics,
    health,
    logger: silentLogger(),
    clock: systemClock,
    maxInFlightBatches: 4,
    dedupeMaxKeys: 10_000,
    dedupeSaveIntervalMs: 60_000,
    shutdownTimeoutMs: 2000,
    sinkBackoff: { initialMs: 5, maxMs: 20 },
    ...overrides,
  });
  return { pipeline, store, metrics, health, deadLetterPath };
}

const ids = (events: readonly AuditEvent[]): string[] => events.map((e) => e.auditID);

describe('pipeline: ack-gated, in-order commits', () => {
  it('commits a cursor only when its batch and every earlier one are acknowledged, even when acks come out of order', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink();
    sink.hold = true;
    const source = new ListSource('src', [0, 1, 2, 3].map((b) => ({ events: makeEvents(b * 10, 10) })));
    const { pipeline, store } = await buildPipeline(dir, [source], [sink]);
    const run = pipeline.run();
    await eventually(() => sink.writes.length === 4, 5000, 'four writes');

    sink.writes[2]!.release();
    sink.writes[1]!.release();
    sink.writes[3]!.release();
    await new Promise((r) => setTimeout(r, 50));
    expect(store.saved).toEqual([]); // batch 0 is not acknowledged: nothing may be committed

    sink.writes[0]!.release();
    await run;
    expect(store.saved).toEqual([{ next: 4 }]);
    expect(ids(sink.received)).toHaveLength(40);
  });

  it('commits step by step as the delivered prefix grows', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink();
    sink.hold = true;
    const source = new ListSource('src', [0, 1, 2, 3].map((b) => ({ events: makeEvents(b * 10, 10) })));
    const { pipeline, store } = await buildPipeline(dir, [source], [sink]);
    const run = pipeline.run();
    await eventually(() => sink.writes.length === 4);
    const committed = async (): Promise<unknown> => {
      await new Promise((r) => setTimeout(r, 30));
      return store.saved.at(-1);
    };
    sink.writes[0]!.release();
    expect(await committed()).toEqual({ next: 1 });
    sink.writes[2]!.release();
    expect(await committed()).toEqual({ next: 1 });
    sink.writes[1]!.release();
    expect(await committed()).toEqual({ next: 3 });
    sink.writes[3]!.release();
    await run;
    expect(store.saved.at(-1)).toEqual({ next: 4 });
  });

  it('needs every sink: the checkpoint waits for the slowest one', async () => {
    const dir = await tempDir();
    const fast = new RecordingSink('fast');
    const slow = new RecordingSink('slow');
    slow.hold = true;
    const source = new ListSource('src', [{ events: makeEvents(0, 5) }]);
    const { pipeline, store } = await buildPipeline(dir, [source], [fast, slow]);
    const run = pipeline.run();
    await eventually(() => fast.received.length === 5 && slow.writes.length === 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(store.saved).toEqual([]);
    slow.writes[0]!.release();
    await run;
    expect(store.saved).toEqual([{ next: 1 }]);
  });
});

describe('pipeline: backpressure', () => {
  it('a slow sink stops the source from fetching, and memory stays bounded', async () => {
    const dir = await tempDir();
    const maxInFlight = 3;
    let produced = 0;
    let delivered = 0;
    let maxAhead = 0;
    // An endless source of ~1 MB batches: buffering it would show at once in the heap.
    const source: Source = {
      name: 'endless',
      async *batches(_from, signal): AsyncGenerator<SourceBatch> {
        const pad = 'x'.repeat(1000);
        while (!signal.aborted) {
          // A real source waits on I/O between pages; yield so timers (and a runaway) can be seen.
          await new Promise((r) => setImmediate(r));
          const events = Array.from({ length: 1000 }, (_, i) => makeEvent(produced * 1000 + i, { userAgent: pad }));
          produced++;
          maxAhead = Math.max(maxAhead, produced - delivered);
          yield { source: 'endless', events, rejects: [], cursor: { batch: produced } };
        }
      },
    };
    // One write at a time, 10 ms each: slower than the source, as a congested receiver is.
    let queue = Promise.resolve();
    const slowSink = {
      name: 'slow',
      write(): Promise<void> {
        queue = queue.then(async () => {
          await new Promise((r) => setTimeout(r, 10));
          delivered++;
        });
        return queue;
      },
      async close(): Promise<void> {},
    };
    const { pipeline } = await buildPipeline(dir, [source], [{ sink: slowSink }], { maxInFlightBatches: maxInFlight });
    const heapBefore = process.memoryUsage().heapUsed;
    const run = pipeline.run();
    await eventually(() => delivered >= 150, 20_000, '150 delivered batches');
    const heapDuring = process.memoryUsage().heapUsed;
    await pipeline.stop();
    await run;

    // The source ran at most maxInFlight batches (plus the one being built) ahead of the sink.
    expect(maxAhead).toBeLessThanOrEqual(maxInFlight + 1);
    // 150 MB went through; what is held at any time is a few batches.
    expect(heapDuring - heapBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it('stops pulling while the sink holds, and resumes when it acknowledges', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink();
    sink.hold = true;
    const source = new ListSource('src', Array.from({ length: 20 }, (_, b) => ({ events: makeEvents(b * 2, 2) })));
    const { pipeline } = await buildPipeline(dir, [source], [sink], { maxInFlightBatches: 4 });
    const run = pipeline.run();
    await eventually(() => sink.writes.length === 4);
    await new Promise((r) => setTimeout(r, 50));
    expect(source.pulled).toBe(4);
    sink.writes[0]!.release();
    await eventually(() => source.pulled === 5);
    sink.hold = false;
    for (const w of sink.writes.slice(1)) w.release();
    await run;
    expect(source.pulled).toBe(20);
    expect(sink.received).toHaveLength(40);
  });
  it('does not run on behind an undelivered batch: later batches delivered first keep their slots until it is', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink();
    sink.hold = true;
    const source = new ListSource('src', Array.from({ length: 20 }, (_, b) => ({ events: makeEvents(b * 2, 2) })));
    const { pipeline } = await buildPipeline(dir, [source], [sink], { maxInFlightBatches: 4 });
    const run = pipeline.run();
    await eventually(() => sink.writes.length === 4);
    // The first batch is in backoff, say; the next three are acknowledged.
    for (const w of sink.writes.slice(1)) w.release();
    await new Promise((r) => setTimeout(r, 50));
    // Pulling on would leave more and more delivered batches behind an uncommitted cursor, all of
    // them repeated after a crash.
    expect(source.pulled).toBe(4);
    sink.writes[0]!.release();
    await eventually(() => source.pulled >= 5);
    sink.hold = false;
    for (const w of sink.writes.slice(4)) w.release();
    await run;
    expect(source.pulled).toBe(20);
    expect(sink.received).toHaveLength(40);
  });
});

describe('pipeline: a batch the runner cannot take', () => {
  it('costs the source a restart, not its in-flight slot: it is asked again', async () => {
    // Deferred records with no preparer: a wiring bug the runner refuses, as it would any broken batch.
    let asked = 0;
    const broken: Source = {
      name: 'broken',
      async *batches() {
        asked++;
        yield { source: 'broken', events: [], rejects: [], deferred: { converter: { module: 'sources/eks/normalize.js', export: 'eksConverter' }, context: {}, records: [{}], refs: ['r'] } };
      },
    };
    const dir = await tempDir();
    const { pipeline } = await buildPipeline(dir, [broken], [new RecordingSink()], { maxInFlightBatches: 1 });
    const run = pipeline.run();
    // With the slot kept by the first refusal, the restarted source would wait for it for ever.
    await eventually(() => asked >= 2, 10_000, 'the source asked again after the refusal');
    await pipeline.stop();
    await run;
  });
});

describe('pipeline: restart and dedupe', () => {
  it('resumes from the checkpoint after a stop with nothing lost, and the dedupe window survives the restart', async () => {
    const dir = await tempDir();
    const batches = Array.from({ length: 10 }, (_, b) => ({ events: makeEvents(b * 10, 10) }));

    // First run: only the first 5 batches are acknowledged before shutdown gives up on the rest.
    const first = new RecordingSink('first');
    first.hold = true;
    const a = await buildPipeline(dir, [new ListSource('src', batches, { endWhenDone: false })], [first], {
      maxInFlightBatches: 8,
      shutdownTimeoutMs: 100,
    });
    const run1 = a.pipeline.run();
    await eventually(() => first.writes.length === 8);
    for (const w of first.writes.slice(0, 5)) w.release();
    await eventually(() => a.store.saved.length > 0 && (a.store.saved.at(-1) as { next: number }).next === 5);
    await a.pipeline.stop();
    await run1;
    expect(first.received).toHaveLength(50);

    // Second run, on the same checkpoint. The source re-reads two batches before its cursor, as a
    // polling source's overlap window does; the persisted dedupe window must drop them.
    class RewindingSource extends ListSource {
      override batches(from: { next?: number } | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
        return super.batches(from?.next !== undefined ? { next: from.next - 2 } : undefined, signal);
      }
    }
    const second = new RecordingSink('second');
    const b = await buildPipeline(dir, [new RewindingSource('src', batches)], [second]);
    await b.pipeline.run();

    const all = [...ids(first.received), ...ids(second.received)];
    expect(new Set(all).size).toBe(100); // nothing lost
    expect(all).toHaveLength(100); // and nothing delivered twice
    expect(ids(second.received)).toEqual(ids(batches.slice(5).flatMap((x) => x.events)));
    expect(b.store.saved.at(-1)).toEqual({ next: 10 });
    expect(await b.metrics.eventsDeduplicated.get()).toMatchObject({ values: [{ value: 20 }] });
  });

  it('journals a batch\'s keys before its source acknowledges it, so a kill right after the ack repeats nothing', async () => {
    const dir = await tempDir();
    const killedAt = await tempDir();
    const batches = Array.from({ length: 4 }, (_, b) => ({ events: makeEvents(b * 10, 10) }));
    // A streaming source: each batch is acknowledged through settle. The moment batch 1 is
    // acknowledged, the state directory is copied, as a SIGKILL right then would leave it.
    class AckingSource extends ListSource {
      override async *batches(from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
        for await (const batch of super.batches(from, signal)) {
          const index = (batch.cursor as { next: number }).next - 1;
          yield {
            ...batch,
            settle: (outcome) => {
              if (index !== 1 || !outcome.delivered) return;
              for (const name of readdirSync(dir)) copyFileSync(join(dir, name), join(killedAt, name));
            },
          };
        }
      }
    }
    const first = new RecordingSink('first');
    const a = await buildPipeline(dir, [new AckingSource('src', batches)], [first], { maxInFlightBatches: 1 });
    await a.pipeline.run();
    expect(first.received).toHaveLength(40);

    // The restarted process finds no dedupe save (the interval is a minute); the source offers
    // every batch again, whatever the cursor, as Pub/Sub redelivers what it had not seen acked.
    class ReplayingSource extends ListSource {
      override batches(_from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
        return super.batches(undefined, signal);
      }
    }
    const second = new RecordingSink('second');
    const b = await buildPipeline(killedAt, [new ReplayingSource('src', batches)], [second], { maxInFlightBatches: 1 });
    expect(await b.store.loadDedupe('src')).toHaveLength(20);
    await b.pipeline.run();
    expect(ids(second.received)).toEqual(ids(batches.slice(2).flatMap((x) => x.events)));
  });

  it('drops repeats of (auditID, stage) inside a batch and across batches, but keeps other stages', async () => {
    const dir = await tempDir();
    const e = makeEvent(1);
    const started = { ...e, stage: 'ResponseStarted' as const };
    const sink = new RecordingSink();
    const source = new ListSource('src', [{ events: [e, started, e] }, { events: [e, makeEvent(2)] }]);
    const { pipeline } = await buildPipeline(dir, [source], [sink]);
    await pipeline.run();
    expect(sink.received.map((x) => `${x.auditID}/${x.stage}`)).toEqual([
      `${e.auditID}/ResponseComplete`,
      `${e.auditID}/ResponseStarted`,
      `${makeEvent(2).auditID}/ResponseComplete`,
    ]);
  });
});

describe('pipeline: rejects, retries and refusals', () => {
  it('counts rejects, keeps them in the dead-letter file with their reason, and lets the rest flow', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink();
    const rejects = [
      { reason: 'message is not valid JSON: Unexpected end of JSON input', raw: '{"kind":"Event","au', ref: 'eventId 3' },
      { reason: 'message is not valid JSON: Unexpected token', raw: 'garbage', ref: 'eventId 4' },
    ];
    const source = new ListSource('src', [{ events: makeEvents(0, 3), rejects }]);
    const { pipeline, store, metrics, deadLetterPath } = await buildPipeline(dir, [source], [sink]);
    await pipeline.run();
    expect(sink.received).toHaveLength(3);
    expect(store.saved).toEqual([{ next: 1 }]);
    const lines = readJsonLines(deadLetterPath) as Record<string, unknown>[];
    // Raw records are not kept by default (they may hold Secret values no scrubber can find): size and digest only.
    expect(lines.map((l) => [l.kind, l.source, l.reason, l.ref, l.size, l.sha256, 'record' in l])).toEqual([
      ['reject', 'src', rejects[0]!.reason, 'eventId 3', 19, createHash('sha256').update(rejects[0]!.raw).digest('hex'), false],
      ['reject', 'src', rejects[1]!.reason, 'eventId 4', 7, createHash('sha256').update('garbage').digest('hex'), false],
    ]);
    expect((await metrics.eventsRejected.get()).values).toEqual([
      { labels: { source: 'src', reason: 'message is not valid JSON' }, value: 2 },
    ]);
  });

  it('retries a transient sink failure until it succeeds, honouring Retry-After', async () => {
    const dir = await tempDir();
    let calls = 0;
    const received: AuditEvent[] = [];
    const flaky = {
      name: 'flaky',
      async write(events: readonly AuditEvent[]): Promise<void> {
        calls++;
        if (calls <= 3) throw new TransientDeliveryError('503 Service Unavailable', calls === 1 ? 10 : undefined);
        received.push(...events);
      },
      async close(): Promise<void> {},
    };
    const { pipeline, metrics, store } = await buildPipeline(dir, [new ListSource('src', [{ events: makeEvents(0, 4) }])], [{ sink: flaky }]);
    await pipeline.run();
    expect(calls).toBe(4);
    expect(received).toHaveLength(4);
    expect((await metrics.sinkRetries.get()).values[0]?.value).toBe(3);
    expect(store.saved).toEqual([{ next: 1 }]);
  });

  it('keeps raw records in the dead-letter file only with keepRaw', async () => {
    const dir = await tempDir();
    const rejects = [{ reason: 'message is not valid JSON', raw: 'garbage', ref: 'eventId 4' }];
    const deadLetterPath = join(dir, 'kept.jsonl');
    const { pipeline } = await buildPipeline(dir, [new ListSource('src', [{ events: [], rejects }])], [new RecordingSink()], {
      deadLetter: new FileDeadLetter(deadLetterPath, { keepRaw: true }),
    });
    await pipeline.run();
    expect((readJsonLines(deadLetterPath) as Record<string, unknown>[]).map((l) => l.record)).toEqual(['garbage']);
  });

  it('narrows a permanently refused batch to the events refused, dead-letters each alone, and goes on', async () => {
    const dir = await tempDir();
    const refusing = {
      name: 'strict',
      async write(): Promise<void> {
        throw new PermanentDeliveryError('HTTP 400 Bad Request', { status: 400, responseBody: 'bad event' });
      },
      async close(): Promise<void> {},
    };
    const other = new RecordingSink('other');
    const { pipeline, store, deadLetterPath, metrics } = await buildPipeline(
      dir,
      [new ListSource('src', [{ events: makeEvents(0, 2) }, { events: makeEvents(2, 2) }])],
      [{ sink: refusing }, { sink: other }],
    );
    await pipeline.run();
    expect(other.received).toHaveLength(4);
    expect(store.saved.at(-1)).toEqual({ next: 2 });
    const lines = readJsonLines(deadLetterPath) as { kind: string; sink: string; status: number; events: AuditEvent[] }[];
    // The two batches are delivered side by side, so their lines may interleave.
    expect(lines.map((l) => [l.kind, l.sink, l.status, l.events.map((e) => e.auditID)]).sort()).toEqual(
      makeEvents(0, 4).map((e) => ['refused', 'strict', 400, [e.auditID]]),
    );
    expect((await metrics.deadLettered.get()).values).toEqual([{ labels: { kind: 'refused', component: 'strict' }, value: 4 }]);
  });

  it('on shutdown, abandons deliveries that outlast shutdownTimeout and commits nothing past them', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink();
    sink.hold = true;
    const { pipeline, store } = await buildPipeline(dir, [new ListSource('src', [{ events: makeEvents(0, 2) }], { endWhenDone: false })], [sink], {
      shutdownTimeoutMs: 100,
    });
    const run = pipeline.run();
    await eventually(() => sink.writes.length === 1);
    const started = Date.now();
    await pipeline.stop();
    await run;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(store.saved).toEqual([]);
    expect(sink.closed).toBe(true);
  });

  it('writes to a real file sink survive: every acknowledged event is on disk', async () => {
    const dir = await tempDir();
    const path = join(dir, 'out', 'events.jsonl');
    const { pipeline } = await buildPipeline(
      dir,
      [new ListSource('src', Array.from({ length: 5 }, (_, b) => ({ events: makeEvents(b * 7, 7) })))],
      [{ sink: new FileSink('file', path) }],
    );
    await pipeline.run();
    expect((readJsonLines(path) as AuditEvent[]).map((e) => e.auditID)).toEqual(makeEvents(0, 35).map((e) => e.auditID));
  });
});

describe('pipeline: one bad event never costs its neighbours', () => {
  const SECRET = 'c3VwZXItc2VjcmV0LXZhbHVl';
  /** A Secret create whose body carries a value that must never reach the disk. */
  const secretCreate = (n: number): AuditEvent =>
    makeEvent(n, {
      level: 'Request',
      verb: 'create',
      objectRef: { resource: 'secrets', namespace: 'default', name: `s${n}`, apiVersion: 'v1' },
      requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: `s${n}` }, data: { password: SECRET } },
    });

  it('narrows a sink error that retrying cannot fix (a RangeError while encoding) to the one event, delivers the rest once, commits', async () => {
    const dir = await tempDir();
    const poison = secretCreate(4);
    const received: AuditEvent[] = [];
    let writes = 0;
    const encoding = {
      name: 'encoder',
      async write(events: readonly AuditEvent[]): Promise<void> {
        writes++;
        if (events.some((e) => e.auditID === poison.auditID)) throw new RangeError('Maximum call stack size exceeded');
        received.push(...events);
      },
      async close(): Promise<void> {},
    };
    const batch = [...makeEvents(0, 4), poison, ...makeEvents(5, 11)];
    const { pipeline, store, deadLetterPath, metrics } = await buildPipeline(dir, [new ListSource('src', [{ events: batch }])], [{ sink: encoding }]);
    await pipeline.run();
    expect(ids(received)).toEqual(ids(batch.filter((e) => e !== poison)));
    expect(writes).toBeLessThanOrEqual(2 * batch.length - 1);
    expect(store.saved).toEqual([{ next: 1 }]);
    const dead = readJsonLines(deadLetterPath) as { kind: string; sink: string; reason: string; events: AuditEvent[] }[];
    expect(dead.map((d) => [d.kind, d.sink, d.reason, ids(d.events)])).toEqual([['refused', 'encoder', 'RangeError: Maximum call stack size exceeded', [poison.auditID]]]);
    expect((await metrics.sinkRetries.get()).values).toEqual([]); // never retried: retrying cannot fix it
  });

  it('dead-letters an event a process stage throws on, alone and scrubbed, and passes the others', async () => {
    const dir = await tempDir();
    const poison = secretCreate(2);
    const sink = new RecordingSink();
    const batch = [...makeEvents(0, 2), poison, makeEvent(3)];
    const { pipeline, store, deadLetterPath } = await buildPipeline(dir, [new ListSource('src', [{ events: batch }])], [sink], {
      process: (events) => {
        if (events.includes(poison)) throw new TypeError('cannot read properties of undefined');
        return events;
      },
      deadLetter: new FileDeadLetter(join(dir, 'dead-letter.jsonl'), { scrub: (e) => scrubEvent(e, { secrets: true, paths: [] }) }),
    });
    await pipeline.run();
    expect(ids(sink.received)).toEqual(ids(batch.filter((e) => e !== poison)));
    expect(store.saved).toEqual([{ next: 1 }]);
    const text = readFileSync(deadLetterPath, 'utf8');
    expect(text).not.toContain(SECRET);
    const dead = readJsonLines(deadLetterPath) as { sink: string; reason: string; events: AuditEvent[] }[];
    expect(dead.map((d) => [d.sink, d.reason, ids(d.events)])).toEqual([['process', 'processing stage process failed: TypeError: cannot read properties of undefined', [poison.auditID]]]);
    expect((dead[0]!.events[0]!.requestObject as { data: Record<string, string> }).data.password).toBe('<redacted>');
  });

  it('keeps only the identity of an event that cannot be scrubbed, and never its body', async () => {
    const dir = await tempDir();
    const poison = secretCreate(1);
    const sink = new RecordingSink();
    const broken = (e: AuditEvent): AuditEvent => {
      if (e.auditID === poison.auditID) throw new RangeError('too deep');
      return e;
    };
    const { pipeline, deadLetterPath } = await buildPipeline(dir, [new ListSource('src', [{ events: [makeEvent(0), poison] }])], [{ sink, prepare: (events) => events.map(broken) }], {
      deadLetter: new FileDeadLetter(join(dir, 'dead-letter.jsonl'), { scrub: broken }),
    });
    await pipeline.run();
    expect(ids(sink.received)).toEqual([makeEvent(0).auditID]);
    const text = readFileSync(deadLetterPath, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(readJsonLines(deadLetterPath)).toMatchObject([
      { sink: 'recording', events: [{ auditID: poison.auditID, stage: poison.stage, verb: 'create', unkept: 'the event could not be scrubbed (too deep); only its identity is kept' }] },
    ]);
  });

  it('retries a dead-letter write that fails (a full disk) until it succeeds, and commits only then', async () => {
    const dir = await tempDir();
    const inner = new FileDeadLetter(join(dir, 'dead-letter.jsonl'));
    let failures = 2;
    const flaky = {
      rejects: (source: string, rejects: Parameters<FileDeadLetter['rejects']>[1]) => {
        if (failures-- > 0) return Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
        return inner.rejects(source, rejects);
      },
      refused: inner.refused.bind(inner),
      alerts: inner.alerts.bind(inner),
      close: () => inner.close(),
    };
    const rejects = [{ reason: 'not JSON', raw: 'x', ref: 'line 1' }];
    const { pipeline, store } = await buildPipeline(dir, [new ListSource('src', [{ events: makeEvents(0, 1), rejects }])], [new RecordingSink()], { deadLetter: flaky });
    await pipeline.run();
    expect(failures).toBe(-1);
    expect(store.saved).toEqual([{ next: 1 }]);
    expect(readJsonLines(join(dir, 'dead-letter.jsonl'))).toMatchObject([{ kind: 'reject', ref: 'line 1' }]);
  });

  it('reports a source whose oldest batch waits past stallThreshold on /readyz and in source_stalled, and clears it', async () => {
    const dir = await tempDir();
    const sink = new RecordingSink('slow');
    sink.hold = true;
    const { pipeline, health, metrics } = await buildPipeline(dir, [new ListSource('src', [{ events: makeEvents(0, 1) }], { endWhenDone: false })], [sink], {
      stallThresholdMs: 50,
    });
    const run = pipeline.run();
    await eventually(() => sink.writes.length === 1);
    await eventually(() => health.readiness().problems.some((p) => /^source src has not delivered a batch for \d+ s: waiting for slow$/.test(p)), 5000, 'the stall on /readyz');
    const text = await metrics.registry.metrics();
    expect(text).toContain('kube_audit_bridge_source_stalled{source="src",waiting_for="slow"} 1');
    sink.writes[0]!.release();
    await eventually(() => health.readiness().problems.every((p) => !p.startsWith('source src')), 5000, 'the stall cleared');
    expect(await metrics.registry.metrics()).not.toContain('kube_audit_bridge_source_stalled{');
    await pipeline.stop();
    await run;
  });
});
