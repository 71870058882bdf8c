import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/event/event.js';
import { isReject } from '../../src/event/event.js';
import { goJSON } from '../../src/event/encode.js';
import { processSchema } from '../../src/process/config.js';
import { applyPolicyToAll } from '../../src/process/policy.js';
import { scrubEvent } from '../../src/process/scrub.js';
import { compileProcessing, type CompiledProcessing } from '../../src/process/stages.js';
import { dedupeKey } from '../../src/pipeline/dedupe.js';
import {
  InThreadPreparer,
  loadNormalizer,
  PooledPreparer,
  splitJobs,
  prepareWorkerScript,
  processRecords,
  processRecordsToWire,
  fromWires,
  wireTransfers,
  type PrepareJob,
  type ProcessedText,
  type ProcessedWire,
} from '../../src/pipeline/prepare.js';
import { packTexts, TextPacker, unpackTexts } from '../../src/pipeline/pack.js';
import type { PrepareWorkerData } from '../../src/pipeline/prepare-worker.js';
import type { DeferredRecords } from '../../src/pipeline/types.js';
import { WorkerPool } from '../../src/pipeline/worker-pool.js';
import { eksConverter } from '../../src/sources/eks/normalize.js';
import { EKS_CONVERTER } from '../../src/sources/eks/poller.js';
import { captureLogger } from '../helpers/webhook.js';
import { asSecretCreate, sampleEvents } from '../sources/eks/helpers.js';

const POLICY = new URL('../../config/audit-policy.yaml', import.meta.url).pathname;
const SECRET_VALUE = 'c3VwZXJzZWNyZXQ=';
const CONTEXT = { cluster: 'demo-eks', region: 'us-east-1', accountId: '123456789012' };
const pools: WorkerPool<PrepareJob, ProcessedWire>[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function processing(config: Record<string, unknown>): CompiledProcessing {
  const load = compileProcessing(processSchema.parse(config));
  if (!load.processing) throw new Error(load.problems.join('; '));
  return load.processing;
}

/** `count` FilterLogEvents records from the samples, each its own auditID; every 7th a Secret create; `bad` indexes malformed. */
function deferred(count: number, bad: readonly number[] = []): DeferredRecords {
  const records = sampleEvents(count, 'prep').map((event, i) => {
    if (i % 7 === 0) asSecretCreate(event, 'default', `s-${i}`, SECRET_VALUE);
    const message = bad.includes(i) ? '{"kind":"Event",' : JSON.stringify(event);
    return { logStreamName: 'kube-apiserver-audit-1', timestamp: 1_700_000_000_000 + i, message, eventId: String(i) };
  });
  return { converter: EKS_CONVERTER, context: CONTEXT, records, refs: records.map((r) => `eventId ${r.eventId}`) };
}

/** processRecords' answer packed the plain way, all texts at once: what processRecordsToWire must equal. */
function toWire(text: ProcessedText): ProcessedWire {
  const { scrubbed, plain, ...rest } = text;
  return { ...rest, ...(scrubbed ? { scrubbed: packTexts(scrubbed) } : {}), ...(plain ? { plain: packTexts(plain) } : {}) };
}

/** The same work the way the runner does it without workers: normalize, policy, filters, scrub, encode. */
function onThisThread(d: DeferredRecords, p: CompiledProcessing): { scrubbed: string[]; plain: string[]; keys: string[]; rejects: number[] } {
  const events: AuditEvent[] = [];
  const rejects: number[] = [];
  d.records.forEach((record, i) => {
    const result = eksConverter.normalize(record, d.refs[i]!, d.context);
    if (isReject(result)) rejects.push(i);
    else events.push(result);
  });
  let kept = p.policy ? applyPolicyToAll(p.policy, events).events : events;
  if (p.filter) kept = kept.filter(p.filter);
  return {
    scrubbed: kept.map((e) => goJSON(scrubEvent(e, { secrets: true, paths: p.scrubPaths }))),
    plain: kept.map((e) => goJSON(e)),
    keys: kept.map((e) => dedupeKey(e)),
    rejects,
  };
}

describe('processRecords (what a worker thread does)', () => {
  it('gives the texts the main thread would: normalized, policy and filters applied, scrubbed for sinks that scrub', () => {
    const p = processing({ policy: POLICY, drop: ['jpath("verb") = "watch"'] });
    const d = deferred(300, [3, 150]);
    const out = processRecords(d, eksConverter.normalize.bind(eksConverter), p, { scrubbed: true, plain: true });
    const expected = onThisThread(d, p);
    expect(out.scrubbed).toEqual(expected.scrubbed);
    expect(out.plain).toEqual(expected.plain);
    expect(out.keys).toEqual(expected.keys);
    expect(out.rejects.map((r) => r.index)).toEqual([3, 150]);
    expect(out.rejects[0]!.reason).toMatch(/^malformed message: not JSON/);
    expect(out.dropped.policy + out.dropped.filter + out.keys.length + out.rejects.length).toBe(300);
    expect(out.dropped.policy).toBeGreaterThan(0);
    // The Secret value is only in the plain variant, and only if the policy kept request bodies.
    expect(out.scrubbed!.some((t) => t.includes(SECRET_VALUE))).toBe(false);
  });

  it('without a policy, the plain variant keeps Secret values the scrubbed one replaces', () => {
    const p = processing({});
    const out = processRecords(deferred(20), eksConverter.normalize.bind(eksConverter), p, { scrubbed: true, plain: true });
    expect(out.plain!.filter((t) => t.includes(SECRET_VALUE))).toHaveLength(3); // records 0, 7, 14
    expect(out.scrubbed!.filter((t) => t.includes(SECRET_VALUE))).toHaveLength(0);
    expect(out.scrubbedCount).toBe(3);
  });

  it('makes only the variants asked for', () => {
    const out = processRecords(deferred(5), eksConverter.normalize.bind(eksConverter), processing({}), { scrubbed: true, plain: false });
    expect(out.scrubbed).toHaveLength(5);
    expect(out.plain).toBeUndefined();
  });

  it('reports an event a stage throws on as a failure, and keeps its neighbours', () => {
    const p = processing({});
    p.filter = (event) => {
      if (event.auditID === 'prep-4') throw new TypeError('filter broke');
      return true;
    };
    const out = processRecords(deferred(10), eksConverter.normalize.bind(eksConverter), p, { scrubbed: true, plain: false });
    expect(out.failures).toHaveLength(1);
    expect(out.failures[0]).toMatchObject({ stage: 'process', reason: 'processing stage process failed: TypeError: filter broke' });
    expect((JSON.parse(out.failures[0]!.text) as AuditEvent).auditID).toBe('prep-4');
    expect(out.keys).toHaveLength(9);
  });
});

describe('the wire form of an answer', () => {
  it('packs each variant into one buffer of UTF-8 and gives back the same texts', () => {
    const out = processRecords(deferred(40, [9]), eksConverter.normalize.bind(eksConverter), processing({}), { scrubbed: true, plain: true });
    // Characters of two, three and four bytes, and a line separator: offsets count bytes, not characters.
    out.plain![0] = goJSON({ kind: 'Event', note: 'line one\nline two\u2028 é € 😀' });
    const wire = toWire(out);
    expect(unpackTexts(wire.scrubbed!)).toEqual(out.scrubbed);
    expect(unpackTexts(wire.plain!)).toEqual(out.plain);
    expect(wire.plain!.ends.at(-1)).toBe(wire.plain!.bytes.byteLength);
    // Each buffer is whole and its own, so it can be transferred rather than copied.
    for (const buffer of wireTransfers(wire)) expect(buffer).toBeInstanceOf(ArrayBuffer);
    expect(wireTransfers(wire)).toHaveLength(4);
    expect(wire.scrubbed!.bytes.byteOffset).toBe(0);
    expect(wire.scrubbed!.bytes.buffer.byteLength).toBe(wire.scrubbed!.bytes.byteLength);
  });

  it('is what a worker answers: processRecordsToWire packs each text as it is encoded, the same answer, and scratch left by a job that threw is not carried over', () => {
    const normalize = eksConverter.normalize.bind(eksConverter);
    const p = processing({});
    const variants = { scrubbed: true, plain: true };
    const packers = { scrubbed: new TextPacker(), plain: new TextPacker() };
    packers.scrubbed.push('left by a job that threw');
    for (const d of [deferred(40, [9]), deferred(3)]) {
      const wire = processRecordsToWire(d, normalize, p, variants, packers);
      expect(wire).toEqual(toWire(processRecords(d, normalize, p, variants)));
    }
    const scrubbedOnly = processRecordsToWire(deferred(5), normalize, p, { scrubbed: true, plain: false }, packers);
    expect(scrubbedOnly.plain).toBeUndefined();
    expect(unpackTexts(scrubbedOnly.scrubbed!)).toHaveLength(5);
  });

  it('carries an answer with no events', () => {
    const out = processRecords(deferred(2, [0, 1]), eksConverter.normalize.bind(eksConverter), processing({}), { scrubbed: true, plain: false });
    expect(out.scrubbed).toEqual([]);
    expect(unpackTexts(packTexts([]))).toEqual([]);
    const prepared = fromWires(deferred(2, [0, 1]), [toWire(out)], [2]);
    expect(prepared.kind === 'processed' && prepared.scrubbed).toEqual([]);
  });
});

describe('splitJobs', () => {
  const batch = (sizes: number[]): DeferredRecords => ({
    converter: EKS_CONVERTER,
    context: {},
    records: sizes.map((n, i) => ({ message: 'x'.repeat(n), eventId: String(i) })),
    refs: sizes.map((_, i) => `r${i}`),
  });
  const shape = (jobs: DeferredRecords[]): string[][] => jobs.map((j) => j.refs);

  it('cuts by record count and by text, keeps order, and never leaves a record behind', () => {
    expect(shape(splitJobs(batch([1, 1, 1, 1, 1]), 2, 1000))).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
    expect(shape(splitJobs(batch([400, 400, 400, 100, 900]), 10, 1000))).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
  });

  it('gives a record larger than the text bound a job of its own', () => {
    expect(shape(splitJobs(batch([10, 5000, 10]), 10, 1000))).toEqual([['r0'], ['r1'], ['r2']]);
  });

  it('counts a string record by its length', () => {
    const strings: DeferredRecords = { converter: EKS_CONVERTER, context: {}, records: ['aaaa', 'bbbb', 'cc'], refs: ['a', 'b', 'c'] };
    expect(shape(splitJobs(strings, 10, 8))).toEqual([['a', 'b'], ['c']]);
  });
});

describe('fromWires', () => {
  it('puts the answers of consecutive jobs together as the answer of one, reject indexes counted from the batch', () => {
    const normalize = eksConverter.normalize.bind(eksConverter);
    const whole = deferred(30, [2, 12, 29]);
    const parts = [0, 10, 20].map((start) => ({ ...whole, records: whole.records.slice(start, start + 10), refs: whole.refs.slice(start, start + 10) }));
    const p = processing({});
    const variants = { scrubbed: true, plain: true };
    const texts = (prepared: ReturnType<typeof fromWires>) => {
      if (prepared.kind !== 'processed') throw new Error('expected processed records');
      const { scrubbed, plain, ...rest } = prepared;
      return { ...rest, scrubbed: scrubbed!.map((e) => [e.text, e.auditID, e.stageTimestamp]), plain: plain!.map((e) => e.text) };
    };
    const merged = texts(
      fromWires(
        whole,
        parts.map((d) => toWire(processRecords(d, normalize, p, variants))),
        [10, 10, 10],
      ),
    );
    expect(merged).toEqual(texts(fromWires(whole, [toWire(processRecords(whole, normalize, p, variants))], [30])));
    expect(merged.rejects.map((r) => r.ref)).toEqual(['eventId 2', 'eventId 12', 'eventId 29']);
    expect(merged.recordIndexes.slice(0, 3)).toEqual([0, 1, 3]);
    expect(merged.scrubbed[0]![1]).toBe('prep-0');
  });
});

describe('PooledPreparer (worker threads)', () => {
  const data: PrepareWorkerData = { process: processSchema.parse({ policy: POLICY }), variants: { scrubbed: true, plain: true } };

  it('spreads a batch over the workers in jobs and puts the answers back in record order', async () => {
    const pool = new WorkerPool<PrepareJob, ProcessedWire>({ script: prepareWorkerScript(), size: 2, workerData: data });
    pools.push(pool);
    const { logger } = captureLogger();
    const p = processing({ policy: POLICY });
    const preparer = new PooledPreparer(pool, { processing: p, variants: data.variants }, logger, { records: 400, chars: 4 << 20 });
    const d = deferred(2500, [5, 1500, 2499]);
    const prepared = await preparer.prepare(d);
    if (prepared.kind !== 'processed') throw new Error('expected processed records');
    const expected = onThisThread(d, p);
    expect(prepared.scrubbed!.map((e) => e.text)).toEqual(expected.scrubbed);
    expect(prepared.plain!.map((e) => e.text)).toEqual(expected.plain);
    expect(prepared.keys).toEqual(expected.keys);
    expect(prepared.rejects.map((r) => r.ref)).toEqual(['eventId 5', 'eventId 1500', 'eventId 2499']);
    expect(prepared.rejects[1]!.raw).toBe(d.records[1500]);
    expect(pool.started).toBe(2);
    // The parsed event of a text is that text's event, and encodes to it again.
    const first = prepared.scrubbed![0]!;
    expect(goJSON(first.event)).toBe(first.text);
    expect(first.event.auditID).toBe(first.auditID);
  });

  it('does a job on the main thread when its worker dies, and says so', async () => {
    const pool = new WorkerPool<PrepareJob, ProcessedWire>({ script: new URL('../fixtures/workers/exit-on-job.mjs', import.meta.url), size: 2, workerData: data });
    pools.push(pool);
    const { logger, lines } = captureLogger();
    const p = processing({ policy: POLICY });
    const preparer = new PooledPreparer(pool, { processing: p, variants: data.variants }, logger, { records: 100, chars: 4 << 20 });
    const d = deferred(250, [17]);
    const prepared = await preparer.prepare(d);
    if (prepared.kind !== 'processed') throw new Error('expected processed records');
    expect(prepared.scrubbed!.map((e) => e.text)).toEqual(onThisThread(d, p).scrubbed);
    expect(prepared.rejects.map((r) => r.ref)).toEqual(['eventId 17']);
    const failures = lines().filter((l) => l.msg === 'a worker thread failed a job; preparing its records on the main thread');
    expect(failures).toHaveLength(3);
    expect(failures[0]).toMatchObject({ error: 'worker thread exited with code 7', records: 100 });
  });
});

describe('InThreadPreparer (no workers)', () => {
  it('normalizes with the converter the reference names, and leaves the stages to the runner', async () => {
    const d = deferred(12, [4]);
    const prepared = await new InThreadPreparer().prepare(d);
    expect(prepared.kind).toBe('normalized');
    if (prepared.kind !== 'normalized') return;
    expect(prepared.events.map((e) => e.auditID)).toEqual(Array.from({ length: 12 }, (_, i) => `prep-${i}`).filter((id) => id !== 'prep-4'));
    expect(prepared.events[0]!.annotations).toMatchObject({ cluster_name: 'demo-eks' });
    expect(prepared.rejects.map((r) => r.ref)).toEqual(['eventId 4']);
  });

  it('says which reference does not name a converter', async () => {
    await expect(loadNormalizer({ module: 'sources/eks/normalize.js', export: 'nothingHere' })).rejects.toThrow('sources/eks/normalize.js exports no converter named nothingHere');
  });
});
