// For any Secret-bearing event, and whatever fails on the way (a process stage that throws, a
// scrubber that throws, a sink that cannot encode it, a receiver that refuses it and echoes it
// back, a record the source could not parse), no Secret value reaches a sink's output, stdout or
// the dead-letter file. The real pipeline, file and stdout sinks, scrubber and dead-letter file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../src/checkpoint/file-store.js';
import { configSchema } from '../../src/config/schema.js';
import { FileDeadLetter } from '../../src/pipeline/dead-letter.js';
import { FileSink } from '../../src/sinks/file/sink.js';
import { StdoutSink } from '../../src/sinks/stdout/sink.js';
import type { AuditEvent, Reject } from '../../src/event/event.js';
import { Health } from '../../src/pipeline/health.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { PermanentDeliveryError, type Sink } from '../../src/pipeline/types.js';
import { compileProcessing, deadLetterScrubber, processStage, scrubberFactory } from '../../src/process/stages.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { systemClock } from '../../src/util/clock.js';
import { tempDir } from '../helpers/fs.js';
import { ListSource } from '../helpers/pipeline.js';
import { MARK, eventOf, shapes } from '../helpers/secret-shapes.js';

type Fault = 'none' | 'process-throws' | 'scrub-throws' | 'encode-fails' | 'refused-with-echo' | 'unparseable';
const faults = fc.constantFrom<Fault>('none', 'process-throws', 'scrub-throws', 'encode-fails', 'refused-with-echo', 'unparseable');

/** A sink of the kind that must never see a Secret value: encodes like the others, fails as told. */
class FaultySink implements Sink {
  readonly name = 'faulty';
  readonly seen: string[] = [];

  constructor(private readonly faultOf: (e: AuditEvent) => Fault) {}

  async write(events: readonly AuditEvent[]): Promise<void> {
    for (const e of events) {
      const fault = this.faultOf(e);
      if (fault === 'encode-fails') throw new RangeError('Maximum call stack size exceeded');
      // A receiver that refuses and echoes what it got, as some do in their error bodies.
      if (fault === 'refused-with-echo') throw new PermanentDeliveryError('HTTP 400', { status: 400, response: JSON.stringify(e) });
    }
    this.seen.push(...events.map((e) => JSON.stringify(e)));
  }

  async close(): Promise<void> {}
}

describe('no Secret value reaches an output (property)', () => {
  it('whatever the event shape and whatever fails on the way', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(shapes, faults), { minLength: 1, maxLength: 6 }), async (cases) => {
        const dir = await tempDir('kab-secrets-');
        const config = configSchema.parse({
          sources: [{ name: 'src', type: 'webhook', allowUnauthenticated: true }],
          sinks: [
            { name: 'archive', type: 'file', path: join(dir, 'archive.jsonl') },
            { name: 'console', type: 'stdout' },
          ],
          deadLetter: { path: join(dir, 'dead.jsonl') },
        });
        const processing = compileProcessing(config.process).processing!;
        const metrics = new Metrics();
        const scrubFor = scrubberFactory(processing, metrics);

        const events: AuditEvent[] = [];
        const rejects: Reject[] = [];
        const fault = new Map<string, Fault>();
        cases.forEach(([shape, f], i) => {
          const event = { ...eventOf(shape, ''), auditID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` };
          if (f === 'unparseable') rejects.push({ reason: 'not JSON', raw: JSON.stringify(event).slice(0, -3), ref: `line ${i}` });
          else events.push(event);
          fault.set(event.auditID, f);
        });
        const faultOf = (e: AuditEvent): Fault => fault.get(e.auditID) ?? 'none';
        const process = processStage(processing, metrics);
        const stdout = new PassThrough();
        let printed = '';
        stdout.on('data', (d: Buffer) => (printed += d.toString()));
        const scrubbing = (sink: Sink, name: 'archive' | 'console') => {
          const scrub = scrubFor(config.sinks.find((s) => s.name === name)!)!;
          return {
            sink,
            prepare: (batch: AuditEvent[]) => {
              if (batch.some((e) => faultOf(e) === 'scrub-throws')) throw new RangeError('scrubber failed');
              return scrub(batch);
            },
          };
        };
        const faulty = new FaultySink(faultOf);
        const pipeline = new Pipeline({
          sources: [new ListSource('src', [{ events, rejects }])],
          process: (batch, source) => {
            if (batch.some((e) => faultOf(e) === 'process-throws')) throw new TypeError('stage failed');
            return process(batch, source);
          },
          sinks: [
            scrubbing(new FileSink('archive', join(dir, 'archive.jsonl')), 'archive'),
            scrubbing(new StdoutSink('console', stdout), 'console'),
            { sink: faulty, prepare: scrubFor(config.sinks[0]!) },
          ],
          checkpoints: await FileCheckpointStore.open(join(dir, 'checkpoints.json')),
          deadLetter: new FileDeadLetter(join(dir, 'dead.jsonl'), { scrub: deadLetterScrubber(config.deadLetter.scrubSecrets, processing) }),
          metrics,
          health: new Health(systemClock, metrics),
          logger: silentLogger(),
          clock: systemClock,
          maxInFlightBatches: 2,
          dedupeMaxKeys: 1000,
          dedupeSaveIntervalMs: 60_000,
          shutdownTimeoutMs: 2000,
          sinkBackoff: { initialMs: 1, maxMs: 5 },
        });
        await pipeline.run();

        const read = (file: string): string => {
          try {
            return readFileSync(join(dir, file), 'utf8');
          } catch {
            return '';
          }
        };
        for (const [what, text] of [
          ['the file sink', read('archive.jsonl')],
          ['stdout', printed],
          ['the faulty sink', faulty.seen.join('\n')],
          ['the dead-letter file', read('dead.jsonl')],
        ] as const) {
          expect(text, what).not.toContain(MARK);
        }
        // Nothing was lost on the way: every event is in the archive or in the dead-letter file.
        const archived = read('archive.jsonl');
        const dead = read('dead.jsonl');
        for (const [id, f] of fault) expect(archived.includes(id) || dead.includes(id) || f === 'unparseable', `${id} (${f})`).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});
