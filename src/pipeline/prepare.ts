// Deferred records (src/pipeline/types.ts) become events here. With worker threads, a worker
// normalizes them, runs the process stages (policy, filters) and the scrubber, and encodes each
// event once per variant the sinks need; what crosses back is UTF-8 bytes in a transferred buffer,
// not objects (a structured clone of an event costs about what parsing its text does, so handing
// objects back would move no work off the main thread). Sinks that send bytes copy each event's
// range into their bodies (Sink.writeEncoded); for the others the main thread parses each text
// once, and the text stays that event's encoding (src/event/encoded.ts), so no sink encodes it again. Without workers the source's converter runs
// here, on the main thread, and the runner's own stages follow as for any batch.
import type { AuditEvent, Reject } from '../event/event.js';
import { goJSON } from '../event/encode.js';
import { EncodedEvent } from '../event/encoded.js';
import type { CompiledProcessing } from '../process/stages.js';
import { applyPolicy } from '../process/policy.js';
import { scrubEvent } from '../process/scrub.js';
import { isReject } from '../event/event.js';
import { dedupeKey } from './dedupe.js';
import type { Logger } from '../telemetry/logger.js';
import type { ConverterRef, DeferredRecords } from './types.js';
import type { WorkerPool } from './worker-pool.js';
import { mapRanges, packRecords, packTexts, recordTransfers, textTransfers, TextPacker, unpackRecords, unpackTexts, type PackedRecords, type PackedTexts } from './pack.js';

/**
 * A converter's normalize (src/component/converter.ts): pure, never throws on bad input. A record
 * that holds several events (an Event Hubs message of diagnostic records) gives a list.
 */
export type NormalizeRecord = (
  record: unknown,
  ref: string,
  context: Readonly<Record<string, string | undefined>>,
) => AuditEvent | Reject | readonly (AuditEvent | Reject)[];

/** Each event or reject of one record, with the record's index. */
function eachResult(deferred: DeferredRecords, normalize: NormalizeRecord, visit: (result: AuditEvent | Reject, index: number) => void): void {
  deferred.records.forEach((record, index) => {
    const result = normalize(record, deferred.refs[index]!, deferred.context);
    if (Array.isArray(result)) for (const one of result as readonly (AuditEvent | Reject)[]) visit(one, index);
    else visit(result as AuditEvent | Reject, index);
  });
}

/** Which encodings the sinks need: scrubbed for sinks that scrub, plain for those that do not. */
export interface Variants {
  scrubbed: boolean;
  plain: boolean;
}

/** What a worker answers for a job: parallel arrays (cheap to clone) in record order. */
export interface ProcessedText {
  /** Dedupe key of each kept event (src/pipeline/dedupe.ts). */
  keys: string[];
  auditIDs: string[];
  stageTimestamps: string[];
  /** The index in the job of the record each kept event came from. */
  recordIndexes: number[];
  /** goJSON of each kept event after the process stages and the scrubber; when variants.scrubbed. */
  scrubbed?: string[];
  /** goJSON of each kept event after the process stages only; when variants.plain. */
  plain?: string[];
  /**
   * What the converter refused: the record's index in the job and why, and the reject's own ref and
   * raw value where they are not the record's (a refused record inside a message).
   */
  rejects: { index: number; reason: string; ref?: string; raw?: unknown }[];
  /** Events a stage threw on, as normalized: the stage, the error, the event's text. */
  failures: { stage: string; reason: string; text: string }[];
  dropped: { policy: number; filter: number };
  /** Kept events the scrubber changed. */
  scrubbedCount: number;
}

/** Deferred records made into events: what the runner takes in place of a source's events. */
export type PreparedRecords =
  /** Normalized only (no workers): the runner's stages and sinks' scrubbers still run. */
  | { kind: 'normalized'; events: AuditEvent[]; rejects: Reject[]; recordIndexes: number[] }
  /** Normalized, processed, scrubbed and encoded (by a worker): ready for the sinks. */
  | {
      kind: 'processed';
      keys: string[];
      stageTimestamps: string[];
      recordIndexes: number[];
      scrubbed?: EncodedEvent[];
      plain?: EncodedEvent[];
      rejects: Reject[];
      failures: { stage: string; reason: string; event: AuditEvent }[];
      dropped: { policy: number; filter: number };
      scrubbedCount: number;
    };

export interface RecordPreparer {
  prepare(deferred: DeferredRecords): Promise<PreparedRecords>;
  close(): Promise<void>;
}

/** The converter over each record, on the calling thread. */
export function normalizeRecords(deferred: DeferredRecords, normalize: NormalizeRecord): { events: AuditEvent[]; rejects: Reject[]; recordIndexes: number[] } {
  const events: AuditEvent[] = [];
  const rejects: Reject[] = [];
  const recordIndexes: number[] = [];
  eachResult(deferred, normalize, (result, index) => {
    if (isReject(result)) {
      rejects.push(result);
    } else {
      events.push(result);
      recordIndexes.push(index);
    }
  });
  return { events, rejects, recordIndexes };
}

/** Where a job's encoded events go, one text per kept event: an array, or a TextPacker. */
interface TextCollector {
  push(text: string): void;
}

/** A worker's answer but for the texts of its events. */
type ProcessedRest = Omit<ProcessedText, 'scrubbed' | 'plain'>;

/**
 * A worker's job: normalize, process, scrub and encode. Pure; an event a stage throws on is reported
 * as a failure, with the stage and the error, and its neighbours go on.
 */
export function processRecords(deferred: DeferredRecords, normalize: NormalizeRecord, processing: CompiledProcessing, variants: Variants): ProcessedText {
  const scrubbed = variants.scrubbed ? ([] as string[]) : undefined;
  const plain = variants.plain ? ([] as string[]) : undefined;
  const rest = processInto(deferred, normalize, processing, variants, { scrubbed, plain });
  return { ...rest, ...optional('scrubbed', scrubbed), ...optional('plain', plain) };
}

/**
 * processRecords as it crosses back: each event's text packed as soon as it is encoded, so that no
 * text lives to the job's end (TextPacker). `packers` are scratch a worker keeps from job to job.
 */
export function processRecordsToWire(
  deferred: DeferredRecords,
  normalize: NormalizeRecord,
  processing: CompiledProcessing,
  variants: Variants,
  packers: { scrubbed: TextPacker; plain: TextPacker } = { scrubbed: new TextPacker(), plain: new TextPacker() },
): ProcessedWire {
  // Whatever a job that threw half way left in them is not this job's.
  packers.scrubbed.finish();
  packers.plain.finish();
  const scrubbed = variants.scrubbed ? packers.scrubbed : undefined;
  const plain = variants.plain ? packers.plain : undefined;
  const rest = processInto(deferred, normalize, processing, variants, { scrubbed, plain });
  return { ...rest, ...optional('scrubbed', scrubbed?.finish()), ...optional('plain', plain?.finish()) };
}

function processInto(
  deferred: DeferredRecords,
  normalize: NormalizeRecord,
  processing: CompiledProcessing,
  variants: Variants,
  texts: { scrubbed: TextCollector | undefined; plain: TextCollector | undefined },
): ProcessedRest {
  const out: ProcessedRest = { keys: [], auditIDs: [], stageTimestamps: [], recordIndexes: [], rejects: [], failures: [], dropped: { policy: 0, filter: 0 }, scrubbedCount: 0 };
  const { policy, filter } = processing;
  const scrubOptions = { secrets: true, paths: processing.scrubPaths };
  // Each event is processed and encoded as soon as it is normalized, so that only one parsed event
  // is alive at a time and what a job allocates dies young (with the job's parsed events kept to its
  // end, a worker's scavenges kept 2.3 MB on average; now 1.5 MB). Event by event is also what the
  // runner's batch stage does, and an event a stage throws on costs only itself.
  eachResult(deferred, normalize, (result, index) => {
    if (isReject(result)) {
      const own = {
        ...(result.ref !== undefined && result.ref !== deferred.refs[index] ? { ref: result.ref } : {}),
        ...(result.raw !== deferred.records[index] ? { raw: result.raw } : {}),
      };
      out.rejects.push({ index, reason: result.reason, ...own });
      return;
    }
    let kept = result;
    try {
      if (policy) {
        const outcome = applyPolicy(policy, kept);
        if (outcome.kind !== 'kept') {
          out.dropped.policy++;
          return;
        }
        kept = outcome.event;
      }
      if (filter && !filter(kept)) {
        out.dropped.filter++;
        return;
      }
    } catch (err) {
      out.failures.push({ stage: 'process', reason: stageError('process', err), text: safeText(kept) });
      return;
    }
    let scrubbedText: string | undefined;
    let plainText: string | undefined;
    try {
      if (variants.scrubbed) {
        const clean = scrubEvent(kept, scrubOptions);
        if (clean !== kept) out.scrubbedCount++;
        scrubbedText = goJSON(clean);
      }
      if (variants.plain) plainText = goJSON(kept);
    } catch (err) {
      const stage = variants.scrubbed ? 'scrub' : 'encode';
      out.failures.push({ stage, reason: stageError(stage, err), text: safeText(kept) });
      return;
    }
    out.keys.push(dedupeKey(kept));
    out.auditIDs.push(kept.auditID);
    out.stageTimestamps.push(kept.stageTimestamp);
    out.recordIndexes.push(index);
    if (scrubbedText !== undefined) texts.scrubbed!.push(scrubbedText);
    if (plainText !== undefined) texts.plain!.push(plainText);
  });
  return out;
}

/** Why an event was dead-lettered by a stage that threw on it; the runner's own stages say it the same way. */
export function stageError(stage: string, err: unknown): string {
  return `processing stage ${stage} failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}

/** An event that could not be encoded still reaches the dead-letter file, as far as it can be written. */
function safeText(event: AuditEvent): string {
  try {
    return goJSON(event);
  } catch {
    return JSON.stringify({ kind: event.kind, apiVersion: event.apiVersion, auditID: String(event.auditID), stage: String(event.stage) });
  }
}

/**
 * Workers' answers to consecutive jobs of one batch as its events: each an encoded event on its
 * job's bytes, parsed only for a sink that asks for the object; record indexes counted from the
 * batch's first record.
 */
export function fromWires(deferred: DeferredRecords, parts: readonly ProcessedWire[], sizes: readonly number[]): PreparedRecords {
  const keys: string[] = [];
  const stageTimestamps: string[] = [];
  const recordIndexes: number[] = [];
  const rejects: Reject[] = [];
  const failures: { stage: string; reason: string; event: AuditEvent }[] = [];
  const dropped = { policy: 0, filter: 0 };
  let scrubbedCount = 0;
  let scrubbed: EncodedEvent[] | undefined;
  let plain: EncodedEvent[] | undefined;
  let offset = 0;
  parts.forEach((part, p) => {
    for (let i = 0; i < part.keys.length; i++) {
      keys.push(part.keys[i]!);
      stageTimestamps.push(part.stageTimestamps[i]!);
      recordIndexes.push(part.recordIndexes[i]! + offset);
    }
    if (part.scrubbed) encodedEvents(part.scrubbed, part, (scrubbed ??= []));
    if (part.plain) encodedEvents(part.plain, part, (plain ??= []));
    for (const { index, reason, ref, raw } of part.rejects) {
      rejects.push({ reason, raw: raw === undefined ? deferred.records[index + offset] : raw, ref: ref ?? deferred.refs[index + offset]! });
    }
    for (const { stage, reason, text } of part.failures) failures.push({ stage, reason, event: JSON.parse(text) as AuditEvent });
    dropped.policy += part.dropped.policy;
    dropped.filter += part.dropped.filter;
    scrubbedCount += part.scrubbedCount;
    offset += sizes[p]!;
  });
  return { kind: 'processed', keys, stageTimestamps, recordIndexes, ...optional('scrubbed', scrubbed), ...optional('plain', plain), rejects, failures, dropped, scrubbedCount };
}

/** A packed variant's texts as encoded events on its bytes, appended to `out`. */
function encodedEvents(packed: PackedTexts, part: ProcessedWire, out: EncodedEvent[]): void {
  for (const event of mapRanges(packed, (buffer, start, end, i) => new EncodedEvent(buffer, start, end, part.auditIDs[i]!, part.stageTimestamps[i]!))) out.push(event);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const normalizers = new Map<string, Promise<NormalizeRecord>>();

/**
 * Loads a converter's normalize by reference. Resolved from this folder, one level below the root
 * of src/ (or dist/, where the worker thread runs it), so the same path serves both.
 */
export function loadNormalizer(ref: ConverterRef): Promise<NormalizeRecord> {
  const id = `${ref.module}#${ref.export}`;
  let found = normalizers.get(id);
  if (!found) {
    found = import(new URL(`../${ref.module}`, import.meta.url).href).then((module: Record<string, unknown>) => {
      const converter = module[ref.export] as { normalize?: unknown } | undefined;
      if (typeof converter?.normalize !== 'function') throw new Error(`${ref.module} exports no converter named ${ref.export}`);
      return (converter.normalize as NormalizeRecord).bind(converter);
    });
    normalizers.set(id, found);
  }
  return found;
}

/** Normalizes on the calling thread; the runner's stages follow. */
export class InThreadPreparer implements RecordPreparer {
  async prepare(deferred: DeferredRecords): Promise<PreparedRecords> {
    return { kind: 'normalized', ...normalizeRecords(deferred, await loadNormalizer(deferred.converter)) };
  }

  async close(): Promise<void> {}
}

/** A worker's answer as it crosses back: each variant packed. */
export type ProcessedWire = Omit<ProcessedText, 'scrubbed' | 'plain'> & { scrubbed?: PackedTexts; plain?: PackedTexts };

/** The buffers an answer hands over with it (postMessage's transfer list). */
export function wireTransfers(wire: ProcessedWire): ArrayBuffer[] {
  return [wire.scrubbed, wire.plain].flatMap((packed) => (packed ? textTransfers(packed) : []));
}

/** A job as it crosses to a worker: records and refs packed (src/pipeline/pack.ts). */
export interface PrepareJob {
  converter: ConverterRef;
  context: DeferredRecords['context'];
  records: PackedRecords;
  refs: PackedTexts;
}

/** A slice of a batch as a job, and the buffers that go with it. */
export function toJob(deferred: DeferredRecords): { job: PrepareJob; transfer: ArrayBuffer[] } {
  const records = packRecords(deferred.records);
  const refs = packTexts(deferred.refs);
  return { job: { converter: deferred.converter, context: deferred.context, records, refs }, transfer: [...recordTransfers(records), ...textTransfers(refs)] };
}

/** What a worker works on: the records as the source gave them. */
export function fromJob(job: PrepareJob): DeferredRecords {
  return { converter: job.converter, context: job.context, records: unpackRecords(job.records), refs: unpackTexts(job.refs) };
}

/**
 * Records per worker job. Small enough that what a job allocates dies in the worker's young
 * generation instead of being promoted: 250 rather than 1,000 records of about 4 KB made a worker
 * 35% faster (`npm run bench -- --only cpu-pipeline`), and spreads a page over the workers.
 */
export const RECORDS_PER_JOB = 250;
/** Text per worker job, about, for the same reason, and so that a job of large records stays small. */
export const CHARS_PER_JOB = 1024 * 1024;

/**
 * Heap limits of each worker thread. A worker works on one job at a time (RECORDS_PER_JOB records,
 * about CHARS_PER_JOB of text); left to itself its heap grows far past that before it collects (2
 * workers added some 80 MB to a drain's peak RSS). A job that needs more fails with the worker and
 * is done on the main thread.
 */
export const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 64 } as const;

/** A record's text, about: its own length if a string, else that of its string fields (a log event's message). */
function approximateChars(record: unknown): number {
  if (typeof record === 'string') return record.length;
  let n = 0;
  if (record !== null && typeof record === 'object') {
    const fields = record as Record<string, unknown>;
    for (const key in fields) {
      const value = fields[key];
      if (typeof value === 'string') n += value.length;
    }
  }
  return n;
}

/** Consecutive slices of the batch, each at most `maxRecords` records and, past its first record, `maxChars` of text. */
export function splitJobs(deferred: DeferredRecords, maxRecords: number, maxChars: number): DeferredRecords[] {
  const jobs: DeferredRecords[] = [];
  let start = 0;
  let chars = 0;
  const endJob = (end: number): void => {
    jobs.push({ ...deferred, records: deferred.records.slice(start, end), refs: deferred.refs.slice(start, end) });
    start = end;
    chars = 0;
  };
  deferred.records.forEach((record, i) => {
    const size = approximateChars(record);
    if (i > start && (i - start >= maxRecords || chars + size > maxChars)) endJob(i);
    chars += size;
  });
  if (start < deferred.records.length) endJob(deferred.records.length);
  return jobs;
}

/**
 * Hands each batch of records to the worker pool, in jobs of RECORDS_PER_JOB records and about
 * CHARS_PER_JOB of text at most, and puts the answers back together in record order. A job that fails (its worker died, or threw outside the per-event
 * isolation) is done on this thread instead, so records are never lost to a worker; the failure is
 * logged.
 */
export class PooledPreparer implements RecordPreparer {
  constructor(
    private readonly pool: WorkerPool<PrepareJob, ProcessedWire>,
    /** What the workers were given, for doing a failed job here. */
    private readonly fallback: { processing: CompiledProcessing; variants: Variants },
    private readonly logger: Logger,
    private readonly limits = { records: RECORDS_PER_JOB, chars: CHARS_PER_JOB },
  ) {}

  async prepare(deferred: DeferredRecords): Promise<PreparedRecords> {
    const jobs = splitJobs(deferred, this.limits.records, this.limits.chars);
    const answers = await Promise.all(jobs.map((job) => this.runJob(job)));
    return fromWires(deferred, answers, jobs.map((j) => j.records.length));
  }

  private async runJob(deferred: DeferredRecords): Promise<ProcessedWire> {
    try {
      const { job, transfer } = toJob(deferred);
      return await this.pool.run(job, transfer);
    } catch (err) {
      this.logger.error({ error: (err as Error).message, records: deferred.records.length }, 'a worker thread failed a job; preparing its records on the main thread');
      const { processing, variants } = this.fallback;
      return processRecordsToWire(deferred, await loadNormalizer(deferred.converter), processing, variants);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * The worker script, built: beside this module under dist/. Under the test runner this module is
 * TypeScript in src/, and worker threads cannot load that, so they run the build (`npm test`
 * builds first).
 */
export function prepareWorkerScript(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/pipeline/prepare-worker.js', here) : new URL('./prepare-worker.js', here);
}
