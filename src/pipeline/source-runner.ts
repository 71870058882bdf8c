import type { CheckpointStore, Cursor } from '../checkpoint/store.js';
import type { DeadLetter } from './dead-letter.js';
import type { AuditEvent, Reject } from '../event/event.js';
import { DedupeWindow, dedupeKey, type BatchState } from './dedupe.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { isAbortError, type Clock } from '../util/clock.js';
import { Semaphore } from '../util/semaphore.js';
import { CommitTracker } from './commit-tracker.js';
import { LogThrottle } from '../telemetry/log-throttle.js';
import type { ProcessStage } from '../process/stages.js';
import { deliver, encodedSinkTarget, persist, sinkTarget, type DeliveryContext, type DeliveryTarget } from './deliver.js';
import type { EncodedEvent } from '../event/encoded.js';
import type { Health } from './health.js';
import type { CursorReporter } from './status.js';
import { stageError, type PreparedRecords, type RecordPreparer } from './prepare.js';
import type { Sink, Source, SourceBatch } from './types.js';

/** A sink as the pipeline drives it: with the per-sink stage (scrubbing) applied before writing. */
export interface SinkBinding {
  sink: Sink;
  prepare?: (events: AuditEvent[]) => AuditEvent[];
}

export type { ProcessStage };

/** What every source runner shares, as handed to the Pipeline. */
export interface PipelineServices {
  sinks: readonly SinkBinding[];
  checkpoints: CheckpointStore;
  deadLetter: DeadLetter;
  metrics: Metrics;
  health: Health;
  logger: Logger;
  clock: Clock;
  dedupeMaxKeys: number;
  sinkBackoff: BackoffPolicy;
  /** Told each committed cursor, for the status page (src/pipeline/status.ts). */
  status?: CursorReporter | undefined;
  /** Makes events of the records a source deferred (src/pipeline/prepare.ts); needed only by sources that defer. */
  preparer?: RecordPreparer | undefined;
}

export interface SourceRunnerDeps extends PipelineServices {
  process: ProcessStage;
  maxInFlightBatches: number;
  /** Aborted to stop taking batches (shutdown begins). */
  pollSignal: AbortSignal;
  /** Aborted to give up on in-flight deliveries (shutdown deadline passed). */
  deliverySignal: AbortSignal;
}

/**
 * Thrown by a source that cannot go on (run --once met an error retrying will not fix): the runner
 * stops it without a restart, and `line` (the source, what failed, the likely fix) is what /readyz
 * shows and `run` prints before it exits non-zero.
 */
export class SourceStoppedError extends Error {
  constructor(readonly line: string) {
    super(line);
    this.name = 'SourceStoppedError';
  }
}

/** A sink as the runner drives it: its delivery target, and the text one when it takes text. */
interface SinkEntry {
  binding: SinkBinding;
  target: DeliveryTarget<AuditEvent>;
  encoded: DeliveryTarget<EncodedEvent> | undefined;
}

/** A batch after dedupe admission: what is new, in one of the two forms events arrive in. */
interface Admitted {
  fresh:
    | { kind: 'events'; events: AuditEvent[] }
    | { kind: 'processed'; prepared: Extract<PreparedRecords, { kind: 'processed' }>; pick: <T>(list: readonly T[]) => T[] };
  freshKeys: string[];
  /** Of the events delivered, for the source's lag. */
  stageTimestamps: string[];
  rejects: Reject[];
  waitFor: Set<BatchState>;
}

interface InFlight extends BatchState {
  seq: number;
  markSettled(): void;
}

/**
 * Drives one source: pulls a batch only while fewer than maxInFlightBatches are undelivered,
 * dedupes, fans out to every sink, and commits cursors in order once all sinks acknowledged.
 */
export class SourceRunner {
  readonly dedupe: DedupeWindow;
  private readonly tracker = new CommitTracker();
  private readonly slots: Semaphore;
  private readonly inFlight = new Set<Promise<void>>();
  /** Frees the slot of each batch taken whose slot is still held, by sequence number. */
  private readonly releasers = new Map<number, () => void>();
  private committed: Cursor | undefined;
  private newestDeliveredMs: number | undefined;
  private lastCommitAt: number | undefined;
  private readonly delivery: DeliveryContext;
  private readonly log: LogThrottle;
  private readonly targets: readonly SinkEntry[];
  /**
   * Settles when the newest batch taken has been admitted to the dedupe window and its sink writes
   * started. Batches are prepared in parallel (in worker threads) but admitted and written in the
   * order they were taken, so which batch delivers an event seen twice, and the order events reach
   * a sink in, do not depend on which worker finished first.
   */
  private admissions: Promise<void> = Promise.resolve();
  /**
   * Numbers the times no further event could reach the sinks before some they hold are acknowledged
   * (the runner waits for a free slot, or the source ended or stopped): sinks that hold events back to
   * fill a batch are then told so (Sink.flush), unless the number moved on meanwhile (a slot came free,
   * or a later request stands).
   */
  private flushRequests = 0;
  /** When each undelivered batch was taken, and which sinks it still waits for: what /readyz reports of a stall. */
  private readonly pending = new Map<number, { takenAt: number; waitingFor: Set<string> }>();

  constructor(
    readonly source: Source,
    private readonly deps: SourceRunnerDeps,
  ) {
    this.dedupe = new DedupeWindow(deps.dedupeMaxKeys);
    this.slots = new Semaphore(deps.maxInFlightBatches);
    this.log = new LogThrottle(deps.logger, () => deps.clock.now());
    this.delivery = { clock: deps.clock, backoff: deps.sinkBackoff, log: this.log };
    this.targets = deps.sinks.map((binding) => ({
      binding,
      target: sinkTarget(binding.sink, deps, this.log),
      encoded: encodedSinkTarget(binding.sink, deps, this.log),
    }));
  }

  /** The oldest batch not yet delivered: how long ago it was taken and what it waits for. */
  oldestPending(now: number): { ageMs: number; waitingFor: string[] } | undefined {
    const first = this.pending.values().next();
    if (first.done) return undefined;
    return { ageMs: now - first.value.takenAt, waitingFor: [...first.value.waitingFor] };
  }

  get name(): string {
    return this.source.name;
  }

  /** Seconds since the last commit and since the newest delivered event, for the metrics. */
  ages(now: number): { checkpoint?: number; lag?: number } {
    return {
      ...(this.lastCommitAt !== undefined ? { checkpoint: (now - this.lastCommitAt) / 1000 } : {}),
      ...(this.newestDeliveredMs !== undefined ? { lag: (now - this.newestDeliveredMs) / 1000 } : {}),
    };
  }

  async run(): Promise<void> {
    const { checkpoints, pollSignal, logger } = this.deps;
    this.committed = await checkpoints.load(this.name);
    this.deps.status?.cursor(this.name, this.committed);
    this.dedupe.restore(await checkpoints.loadDedupe(this.name));
    logger.info({ source: this.name, resumed: this.committed !== undefined, dedupeKeys: this.dedupe.size }, 'source starting');

    for (let failures = 0; !pollSignal.aborted; ) {
      try {
        const finished = await this.pump(this.committed);
        if (finished) break;
      } catch (err) {
        if (pollSignal.aborted && isAbortError(err)) break;
        if (err instanceof SourceStoppedError) {
          this.deps.health.sourceStopped(this.name, err.line);
          logger.error({ source: this.name, error: err.line }, 'source stopped: retrying cannot fix this');
          break;
        }
        failures++;
        const message = err instanceof Error ? err.message : String(err);
        this.deps.health.sourceFailed(this.name, message);
        // Let what is in flight settle so the restart resumes from the newest committed cursor.
        this.flushOnceWritten();
        await this.drain();
        const delay = backoffDelay(failures, { initialMs: 1000, maxMs: 60_000 });
        logger.error({ source: this.name, error: message, retryInMs: delay }, 'source failed; restarting from the last checkpoint');
        try {
          await this.deps.clock.sleep(delay, pollSignal);
        } catch {
          break;
        }
      }
    }
    this.flushOnceWritten();
    await this.drain();
  }

  /** Waits until every batch taken has settled (delivered, or aborted by the delivery signal). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Returns true when the source ended by itself (once mode, or it stopped on the poll signal). */
  private async pump(from: Cursor | undefined): Promise<boolean> {
    const { pollSignal } = this.deps;
    const iterator = this.source.batches(from, pollSignal)[Symbol.asyncIterator]();
    let caughtUp = false;
    try {
      for (;;) {
        // Backpressure: the source is not asked for more until a slot is free.
        if (this.slots.available === 0) this.flushOnceWritten();
        try {
          await this.slots.acquire(pollSignal);
        } finally {
          // More events can come now: a flush requested while waiting is void.
          this.flushRequests++;
        }
        // The source said it has nothing more for now: none will come to fill what the sinks hold
        // (a poll's last page otherwise waited out the webhook sink's batchMaxWait). Void if the
        // source hands over another batch before the flush is due.
        if (caughtUp) this.flushOnceWritten();
        let next: IteratorResult<SourceBatch>;
        try {
          next = await iterator.next();
        } catch (err) {
          this.slots.release();
          throw err;
        }
        if (next.done) {
          this.slots.release();
          this.flushOnceWritten();
          return true;
        }
        caughtUp = next.value.caughtUp === true;
        // A batch taken voids a flush requested before it (the caught-up one above): more came after all.
        this.flushRequests++;
        try {
          this.take(next.value);
        } catch (err) {
          // A batch the runner cannot take (a source that breaks its contract) must not keep its slot.
          this.slots.release();
          throw err;
        }
      }
    } finally {
      await iterator.return?.().catch(() => undefined);
    }
  }

  private take(batch: SourceBatch): void {
    const { metrics } = this.deps;
    let preparing: Promise<PreparedRecords> | undefined;
    if (batch.deferred) {
      const { preparer } = this.deps;
      if (!preparer) throw new Error(`source ${this.name} deferred its records but the pipeline has no record preparer`);
      if (batch.events.length > 0) throw new Error(`source ${this.name} sent events beside deferred records; a deferring source defers them all`);
      preparing = preparer.prepare(batch.deferred);
      // Awaited in deliver; this keeps a failure seen before then from counting as unhandled.
      preparing.catch(() => undefined);
    }
    const seq = this.tracker.register();
    // Deferred records are counted once normalized (in admit), as a source counts what it normalized.
    metrics.eventsReceived.inc({ source: this.name }, batch.events.length);
    metrics.inFlightBatches.set({ source: this.name }, this.tracker.outstanding);
    let released = false;
    // The slot frees once this batch and every earlier one are delivered (its checkpoint write need
    // not hold it). Freeing it at its own delivery would let a source run on behind an earlier batch
    // in backoff, and a crash would then repeat every batch since, not at most maxInFlightBatches.
    const release = (): void => {
      if (released) return;
      released = true;
      this.releasers.delete(seq);
      this.slots.release();
    };
    this.releasers.set(seq, release);
    const previous = this.admissions;
    let admitted!: () => void;
    this.admissions = new Promise<void>((resolve) => (admitted = resolve));
    const work = this.deliver(seq, batch, { previous, preparing, admitted }).finally(() => {
      this.inFlight.delete(work);
      metrics.inFlightBatches.set({ source: this.name }, this.tracker.outstanding);
    });
    this.inFlight.add(work);
  }

  private async deliver(
    seq: number,
    batch: SourceBatch,
    turn: { previous: Promise<void>; preparing: Promise<PreparedRecords> | undefined; admitted: () => void },
  ): Promise<void> {
    const { logger, deliverySignal } = this.deps;
    let markSettled!: () => void;
    const settled = new Promise<void>((resolve) => (markSettled = resolve));
    const state: InFlight = { seq, state: 'pending', settled, markSettled };
    const waiting = new Set<string>(['process']);
    this.pending.set(seq, { takenAt: this.deps.clock.now(), waitingFor: waiting });

    try {
      let admitted: Admitted;
      const work: Promise<unknown>[] = [];
      // The turn is held until this batch's writes are under way, so that sinks get batches in the
      // order they were taken even when a later one was prepared first.
      try {
        await turn.previous;
        const prepared = turn.preparing === undefined ? undefined : await turn.preparing;
        if (prepared) this.observeIngestionLag(prepared, batch.deferred?.ingestedMs);
        // The records are events now (rejects keep their own): let them go while the batch is delivered.
        delete batch.deferred;
        admitted = this.admit(batch, prepared, state);
        const send = await this.processed(admitted);
        waiting.delete('process');
        for (const entry of this.targets) {
          waiting.add(entry.target.name);
          work.push(send(entry).then(() => waiting.delete(entry.target.name)));
        }
      } finally {
        turn.admitted();
      }
      if (admitted.rejects.length > 0) {
        waiting.add('dead-letter');
        work.push(this.deadLetterRejects(admitted.rejects).then(() => waiting.delete('dead-letter')));
      }
      await Promise.all(work);
      // Events this batch skipped as duplicates of an in-flight batch are delivered only when that one is.
      for (const other of admitted.waitFor) {
        await other.settled;
        if (other.state !== 'delivered') throw new Error('a batch carrying the same events was not delivered');
      }
      state.state = 'delivered';
      if (admitted.freshKeys.length > 0) {
        this.dedupe.markDelivered();
        await this.journal(admitted.freshKeys);
      }
      this.noteDelivered(admitted.stageTimestamps);
      batch.settle?.({ delivered: true });
      state.markSettled();
      await this.commit(seq, batch);
    } catch (err) {
      state.state = 'aborted';
      // Given up on (shutdown): it will never be committed, so it cannot hold its slot until then.
      this.releasers.get(seq)?.();
      const reason = err instanceof Error ? err.message : String(err);
      batch.settle?.({ delivered: false, reason });
      if (!deliverySignal.aborted) logger.error({ source: this.name, error: reason }, 'batch not delivered');
    } finally {
      this.pending.delete(seq);
      state.markSettled();
    }
  }

  /**
   * No more events can come until the sinks acknowledge some: once every batch taken has reached
   * them, tells them so (Sink.flush), unless the runner has taken a batch since. A batch's writes
   * start when it is admitted, after the microtasks of its per-sink stages: a turn of the event
   * loop after the newest admission, all of them have.
   */
  private flushOnceWritten(): void {
    const request = ++this.flushRequests;
    void this.admissions.then(() =>
      setImmediate(() => {
        if (request !== this.flushRequests) return;
        for (const { binding } of this.targets) binding.sink.flush?.();
      }),
    );
  }

  /** For deferred records whose ingestion times the source gave: how long each event took to reach the provider's log. */
  private observeIngestionLag(prepared: PreparedRecords, ingestedMs: readonly number[] | undefined): void {
    if (!ingestedMs) return;
    const histogram = this.deps.metrics.ingestionLag;
    const stamps = prepared.kind === 'processed' ? prepared.stageTimestamps : prepared.events.map((e) => e.stageTimestamp);
    prepared.recordIndexes.forEach((record, i) => {
      const lagMs = ingestedMs[record]! - Date.parse(stamps[i]!);
      if (Number.isFinite(lagMs)) histogram.observe({ source: this.name }, Math.max(0, lagMs) / 1000);
    });
  }

  /** Claims the batch's events in the dedupe window; what is new goes on. */
  private admit(batch: SourceBatch, prepared: PreparedRecords | undefined, state: InFlight): Admitted {
    let events = batch.events;
    let rejects = batch.rejects;
    let processed: Extract<PreparedRecords, { kind: 'processed' }> | undefined;
    if (prepared?.kind === 'normalized') {
      events = prepared.events;
      rejects = rejects.concat(prepared.rejects);
      this.deps.metrics.eventsReceived.inc({ source: this.name }, events.length);
    } else if (prepared?.kind === 'processed') {
      processed = prepared;
      rejects = rejects.concat(prepared.rejects);
      const normalized = prepared.keys.length + prepared.dropped.policy + prepared.dropped.filter + prepared.failures.length;
      this.deps.metrics.eventsReceived.inc({ source: this.name }, normalized);
    }
    const keys = processed ? processed.keys : events.map((e) => dedupeKey(e));
    const fresh: number[] = [];
    const freshKeys: string[] = [];
    const waitFor = new Set<BatchState>();
    let duplicates = 0;
    keys.forEach((key, i) => {
      const admission = this.dedupe.admit(key, state);
      if (admission.kind === 'new') {
        fresh.push(i);
        freshKeys.push(key);
      } else {
        duplicates++;
        if (admission.kind === 'in-flight' && admission.owner !== state) waitFor.add(admission.owner);
      }
    });
    if (duplicates > 0) this.deps.metrics.eventsDeduplicated.inc({ source: this.name }, duplicates);
    const pick = <T>(list: readonly T[]): T[] => (fresh.length === list.length ? [...list] : fresh.map((i) => list[i]!));
    return {
      fresh: processed ? { kind: 'processed', prepared: processed, pick } : { kind: 'events', events: pick(events) },
      freshKeys,
      stageTimestamps: processed ? pick(processed.stageTimestamps) : [],
      rejects,
      waitFor,
    };
  }

  /**
   * Runs the process stages on what was admitted and returns how each sink is written. Events a
   * worker prepared have been through the stages already: each sink takes the variant it needs, as
   * text when it can (Sink.writeEncoded), else parsed.
   */
  private async processed(admitted: Admitted): Promise<(entry: SinkEntry) => Promise<void>> {
    const { fresh } = admitted;
    const { deliverySignal } = this.deps;
    if (fresh.kind === 'events') {
      const events = await this.isolated('process', fresh.events, (some) => this.deps.process(some, this.name));
      admitted.stageTimestamps = events.map((e) => e.stageTimestamp);
      return async ({ binding, target }) => {
        const prepared = binding.prepare ? await this.isolated(target.name, events, binding.prepare) : events;
        await deliver(target, prepared, deliverySignal, this.delivery);
      };
    }
    const { prepared, pick } = fresh;
    const { metrics } = this.deps;
    if (prepared.dropped.policy > 0) metrics.eventsDropped.inc({ source: this.name, stage: 'policy' }, prepared.dropped.policy);
    if (prepared.dropped.filter > 0) metrics.eventsDropped.inc({ source: this.name, stage: 'filter' }, prepared.dropped.filter);
    for (const failure of prepared.failures) await this.stageFailed(failure.stage, [failure.event], failure.reason);
    const scrubbed = prepared.scrubbed ? pick(prepared.scrubbed) : undefined;
    const plain = prepared.plain ? pick(prepared.plain) : undefined;
    return async ({ binding, target, encoded }) => {
      const items: EncodedEvent[] | undefined = binding.prepare ? scrubbed : plain;
      // The bridge asks workers for every variant its sinks use (src/bridge.ts); a missing one is a wiring bug.
      if (!items) throw new Error(`sink ${target.name}: the worker did not prepare the ${binding.prepare ? 'scrubbed' : 'plain'} events`);
      if (binding.prepare && prepared.scrubbedCount > 0) metrics.eventsScrubbed.inc({ sink: target.name }, prepared.scrubbedCount);
      if (encoded) await deliver(encoded, items, deliverySignal, this.delivery);
      else await deliver(target, items.map((i) => i.event), deliverySignal, this.delivery);
    };
  }

  /**
   * Journals a delivered batch's keys before its source acknowledges or commits it: a process killed
   * after that (SIGKILL, OOM) then drops the batch's redelivery as a duplicate instead of sending it
   * again. A failed write costs only that protection, so it is logged and the batch goes on.
   */
  private async journal(keys: readonly string[]): Promise<void> {
    try {
      await this.deps.checkpoints.journalDedupe(this.name, keys);
    } catch (err) {
      this.log.error('dedupe-journal', { source: this.name, error: (err as Error).message }, 'journaling delivered keys failed; a crash before the next save may repeat them');
    }
  }

  /**
   * Runs a processing stage on a batch. A stage that throws (a bug, or an event it cannot handle)
   * is run again event by event, so that only the events it fails on are dead-lettered, with the
   * error, and the rest go on.
   */
  private async isolated(stage: string, events: AuditEvent[], run: (events: AuditEvent[]) => AuditEvent[]): Promise<AuditEvent[]> {
    try {
      return run(events);
    } catch (err) {
      if (events.length > 1) {
        const out: AuditEvent[] = [];
        for (const event of events) out.push(...(await this.isolated(stage, [event], run)));
        return out;
      }
      await this.stageFailed(stage, events, stageError(stage, err));
      return [];
    }
  }

  /** An event a stage threw on goes to the dead-letter file, with the error. */
  private async stageFailed(stage: string, events: AuditEvent[], reason: string): Promise<void> {
    await persist(() => this.deps.deadLetter.refused(stage, events, reason), this.deps.deliverySignal, this.delivery);
    this.deps.metrics.deadLettered.inc({ kind: 'refused', component: stage }, events.length);
    this.log.error(`stage:${stage}`, { source: this.name, stage, auditID: events[0]?.auditID, error: reason }, 'processing failed for an event; kept in the dead-letter file');
  }

  private async deadLetterRejects(rejects: readonly Reject[]): Promise<void> {
    const { deadLetter, metrics, deliverySignal } = this.deps;
    await persist(() => deadLetter.rejects(this.name, rejects), deliverySignal, this.delivery);
    for (const reject of rejects) {
      metrics.eventsRejected.inc({ source: this.name, reason: reasonLabel(reject.reason) });
      metrics.deadLettered.inc({ kind: 'reject', component: this.name });
    }
    // One line per batch (never the payload): a flood of bad records must not become a flood of logs.
    const first = rejects[0]!;
    this.log.warn(
      `reject:${this.name}`,
      { source: this.name, rejected: rejects.length, reason: first.reason, refs: rejects.slice(0, 5).map((r) => r.ref ?? null) },
      'records rejected; kept in the dead-letter file',
    );
  }

  private async commit(seq: number, batch: SourceBatch): Promise<void> {
    const cursor = this.tracker.complete(seq, batch.cursor);
    const through = this.tracker.committedThrough;
    for (const [s, release] of this.releasers) if (s < through) release();
    if (cursor === undefined) return;
    try {
      await this.deps.checkpoints.save(this.name, cursor);
      this.committed = cursor;
      this.deps.status?.cursor(this.name, cursor);
      this.lastCommitAt = this.deps.clock.now();
      this.deps.metrics.checkpointCommits.inc({ source: this.name });
    } catch (err) {
      // Delivery already happened; a later commit covers this one. A restart before that re-reads
      // (at least once), and the dedupe window drops what it has seen.
      this.deps.logger.error({ source: this.name, error: (err as Error).message }, 'checkpoint save failed');
    }
  }

  private noteDelivered(stageTimestamps: readonly string[]): void {
    let newest = this.newestDeliveredMs ?? -Infinity;
    for (const stamp of stageTimestamps) {
      const t = Date.parse(stamp);
      if (t > newest) newest = t;
    }
    if (newest > -Infinity) this.newestDeliveredMs = newest;
  }
}

/** Reasons become metric labels: keep the leading words so the label set stays small. */
export function reasonLabel(reason: string): string {
  return reason.split(/[:(]/, 1)[0]!.trim().slice(0, 60) || 'unknown';
}
