import type { CheckpointStore, Cursor } from '../checkpoint/store.js';
import type { DeadLetter } from './dead-letter.js';
import type { AuditEvent } from '../event/event.js';
import { DedupeWindow, dedupeKey, type BatchState } from './dedupe.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { isAbortError, type Clock } from '../util/clock.js';
import { Semaphore } from '../util/semaphore.js';
import { CommitTracker } from './commit-tracker.js';
import { LogThrottle } from '../telemetry/log-throttle.js';
import type { ProcessStage } from '../process/stages.js';
import { deliver, persist, sinkTarget, type DeliveryContext, type DeliveryTarget } from './deliver.js';
import type { Health } from './health.js';
import type { CursorReporter } from './status.js';
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
  private readonly targets: readonly { binding: SinkBinding; target: DeliveryTarget<AuditEvent> }[];
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
    this.targets = deps.sinks.map((binding) => ({ binding, target: sinkTarget(binding.sink, deps, this.log) }));
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
    try {
      for (;;) {
        // Backpressure: the source is not asked for more until a slot is free.
        await this.slots.acquire(pollSignal);
        let next: IteratorResult<SourceBatch>;
        try {
          next = await iterator.next();
        } catch (err) {
          this.slots.release();
          throw err;
        }
        if (next.done) {
          this.slots.release();
          return true;
        }
        this.take(next.value);
      }
    } finally {
      await iterator.return?.().catch(() => undefined);
    }
  }

  private take(batch: SourceBatch): void {
    const { metrics } = this.deps;
    const seq = this.tracker.register();
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
    const work = this.deliver(seq, batch).finally(() => {
      this.inFlight.delete(work);
      metrics.inFlightBatches.set({ source: this.name }, this.tracker.outstanding);
    });
    this.inFlight.add(work);
  }

  private async deliver(seq: number, batch: SourceBatch): Promise<void> {
    const { metrics, logger, deliverySignal } = this.deps;
    let markSettled!: () => void;
    const settled = new Promise<void>((resolve) => (markSettled = resolve));
    const state: InFlight = { seq, state: 'pending', settled, markSettled };

    const fresh: AuditEvent[] = [];
    const freshKeys: string[] = [];
    const waitFor = new Set<BatchState>();
    let duplicates = 0;
    for (const event of batch.events) {
      const key = dedupeKey(event);
      const admission = this.dedupe.admit(key, state);
      if (admission.kind === 'new') {
        fresh.push(event);
        freshKeys.push(key);
      } else {
        duplicates++;
        if (admission.kind === 'in-flight' && admission.owner !== state) waitFor.add(admission.owner);
      }
    }
    if (duplicates > 0) metrics.eventsDeduplicated.inc({ source: this.name }, duplicates);

    const waiting = new Set<string>(['process']);
    this.pending.set(seq, { takenAt: this.deps.clock.now(), waitingFor: waiting });
    try {
      const events = await this.isolated('process', fresh, (some) => this.deps.process(some, this.name));
      waiting.delete('process');
      const work: Promise<unknown>[] = this.targets.map(async ({ binding, target }) => {
        waiting.add(target.name);
        const prepared = binding.prepare ? await this.isolated(target.name, events, binding.prepare) : events;
        await deliver(target, prepared, deliverySignal, this.delivery);
        waiting.delete(target.name);
      });
      if (batch.rejects.length > 0) {
        waiting.add('dead-letter');
        work.push(this.deadLetterRejects(batch).then(() => waiting.delete('dead-letter')));
      }
      await Promise.all(work);
      // Events this batch skipped as duplicates of an in-flight batch are delivered only when that one is.
      for (const other of waitFor) {
        await other.settled;
        if (other.state !== 'delivered') throw new Error('a batch carrying the same events was not delivered');
      }
      state.state = 'delivered';
      if (freshKeys.length > 0) {
        this.dedupe.markDelivered();
        await this.journal(freshKeys);
      }
      this.noteDelivered(events);
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
      const reason = `processing stage ${stage} failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
      await persist(() => this.deps.deadLetter.refused(stage, events, reason), this.deps.deliverySignal, this.delivery);
      this.deps.metrics.deadLettered.inc({ kind: 'refused', component: stage }, events.length);
      this.log.error(`stage:${stage}`, { source: this.name, stage, auditID: events[0]?.auditID, error: reason }, 'processing failed for an event; kept in the dead-letter file');
      return [];
    }
  }

  private async deadLetterRejects(batch: SourceBatch): Promise<void> {
    const { deadLetter, metrics, deliverySignal } = this.deps;
    await persist(() => deadLetter.rejects(this.name, batch.rejects), deliverySignal, this.delivery);
    for (const reject of batch.rejects) {
      metrics.eventsRejected.inc({ source: this.name, reason: reasonLabel(reject.reason) });
      metrics.deadLettered.inc({ kind: 'reject', component: this.name });
    }
    // One line per batch (never the payload): a flood of bad records must not become a flood of logs.
    const first = batch.rejects[0]!;
    this.log.warn(
      `reject:${this.name}`,
      { source: this.name, rejected: batch.rejects.length, reason: first.reason, refs: batch.rejects.slice(0, 5).map((r) => r.ref ?? null) },
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

  private noteDelivered(events: readonly AuditEvent[]): void {
    let newest = this.newestDeliveredMs ?? -Infinity;
    for (const e of events) {
      const t = Date.parse(e.stageTimestamp);
      if (t > newest) newest = t;
    }
    if (newest > -Infinity) this.newestDeliveredMs = newest;
  }
}

/** Reasons become metric labels: keep the leading words so the label set stays small. */
export function reasonLabel(reason: string): string {
  return reason.split(/[:(]/, 1)[0]!.trim().slice(0, 60) || 'unknown';
}
