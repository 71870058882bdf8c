// Where each partition is, and when a position may be committed. Two homes for positions:
// - the bridge's checkpoint file: every batch carries the positions of everything taken up to and
//   including it (a cumulative cursor); the pipeline commits cursors in batch order once every
//   sink acknowledged (src/pipeline/source-runner.ts), so a committed cursor never runs ahead of
//   delivery;
// - a Blob checkpoint store shared by replicas: the SDK keeps one checkpoint per partition there,
//   written here only for the newest batch of a partition whose every earlier batch is delivered.
import { earliestEventPosition, type EventPosition } from '@azure/event-hubs';
import type { Cursor } from '../../pipeline/types.js';

export interface Position {
  sequenceNumber: number;
  /** The hub's offset of the event (decimal text today, opaque by contract). */
  offset?: string;
}

/** sequenceNumber −1: the partition was empty when the source pinned it, so it starts at the beginning. */
export const FROM_START: Position = { sequenceNumber: -1 };

export interface PositionsCursor extends Cursor {
  v: 1;
  eventHub: string;
  consumerGroup: string;
  partitions: Record<string, Position>;
}

export function cursorOf(eventHub: string, consumerGroup: string, positions: ReadonlyMap<string, Position>): PositionsCursor {
  const partitions: Record<string, Position> = {};
  for (const [id, p] of positions) partitions[id] = p.offset === undefined ? { sequenceNumber: p.sequenceNumber } : { sequenceNumber: p.sequenceNumber, offset: p.offset };
  return { v: 1, eventHub, consumerGroup, partitions };
}

export type ParsedCursor = { ok: true; positions: Map<string, Position> } | { ok: false; problem: string };

/** The positions of a committed cursor, if it belongs to this hub and consumer group. */
export function parseCursor(cursor: Cursor | undefined, eventHub: string, consumerGroup: string): ParsedCursor {
  if (cursor === undefined) return { ok: true, positions: new Map() };
  if (cursor.v !== 1 || typeof cursor.partitions !== 'object' || cursor.partitions === null) {
    return { ok: false, problem: 'the checkpoint of this source is not an Event Hubs position (was the source another type before?)' };
  }
  if (cursor.eventHub !== eventHub || cursor.consumerGroup !== consumerGroup) {
    return {
      ok: false,
      problem: `the checkpoint holds positions of hub ${JSON.stringify(cursor.eventHub)}, consumer group ${JSON.stringify(cursor.consumerGroup)}, not of this source's ${JSON.stringify(eventHub)}, ${JSON.stringify(consumerGroup)}`,
    };
  }
  const positions = new Map<string, Position>();
  for (const [id, value] of Object.entries(cursor.partitions as Record<string, unknown>)) {
    const p = value as Partial<Position> | null;
    if (typeof p?.sequenceNumber !== 'number' || !Number.isSafeInteger(p.sequenceNumber)) continue;
    positions.set(id, typeof p.offset === 'string' ? { sequenceNumber: p.sequenceNumber, offset: p.offset } : { sequenceNumber: p.sequenceNumber });
  }
  return { ok: true, positions };
}

/** Where a receiver resumes: right after the position (the hub's own checkpoints resume by offset too). */
export function eventPositionAfter(position: Position): EventPosition {
  if (position.sequenceNumber < 0) return earliestEventPosition;
  return position.offset !== undefined ? { offset: position.offset, isInclusive: false } : { sequenceNumber: position.sequenceNumber, isInclusive: false };
}

export interface CheckpointEntry {
  readonly position: Position;
  state: 'pending' | 'delivered' | 'failed';
}

export interface CheckpointerOptions {
  /** Writes the checkpoint (the SDK's PartitionContext.updateCheckpoint). */
  write(position: Position): Promise<void>;
  /** A write failed; a later batch (or the retry) writes a newer position. */
  onError(err: unknown, position: Position): void;
  /** Delay before a failed write is tried again. */
  retryMs?: number;
}

/**
 * The checkpoints of one partition's generation (one ownership of it, from the SDK's
 * processInitialize to its processClose), for a Blob checkpoint store. Batches are added in the
 * order they were taken, which is the partition's order; a checkpoint is written for the newest
 * batch whose every earlier batch was delivered. A batch the pipeline gave up on (shutdown) stops
 * the generation: nothing after it may be written, and the next owner reads it again.
 */
export class PartitionCheckpointer {
  private readonly entries: CheckpointEntry[] = [];
  private blocked = false;
  private closed = false;
  private wanted: Position | undefined;
  private written: Position | undefined;
  private writing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: CheckpointerOptions) {}

  /** The newest position written. */
  get checkpoint(): Position | undefined {
    return this.written;
  }

  /** Batches taken and not settled. */
  get pending(): number {
    return this.entries.length;
  }

  add(position: Position): CheckpointEntry {
    const entry: CheckpointEntry = { position, state: 'pending' };
    this.entries.push(entry);
    return entry;
  }

  settle(entry: CheckpointEntry, delivered: boolean): void {
    if (entry.state !== 'pending') return;
    entry.state = delivered ? 'delivered' : 'failed';
    let newest: Position | undefined;
    while (this.entries.length > 0 && this.entries[0]!.state !== 'pending') {
      const head = this.entries.shift()!;
      if (head.state === 'failed') this.blocked = true;
      else if (!this.blocked) newest = head.position;
    }
    if (newest !== undefined && !this.closed && (this.wanted === undefined || newest.sequenceNumber > this.wanted.sequenceNumber)) {
      this.wanted = newest;
      this.flush();
    }
    this.notifyIdle();
  }

  /**
   * The partition left this replica (another owner, or an error this replica gave it up for):
   * writing now could move the new owner's checkpoint back, so nothing more is written.
   */
  close(): void {
    this.closed = true;
    this.wanted = this.written;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.notifyIdle();
  }

  /** Resolves once every batch taken has settled and its checkpoint is written (or given up). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    const caughtUp = this.closed || this.wanted === undefined || this.wanted === this.written;
    return this.entries.length === 0 && this.writing === undefined && caughtUp;
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private flush(): void {
    if (this.writing || this.closed || this.retry) return;
    const target = this.wanted;
    if (target === undefined || target === this.written) return;
    this.writing = this.options
      .write(target)
      .then(
        () => {
          if (this.written === undefined || target.sequenceNumber > this.written.sequenceNumber) this.written = target;
        },
        (err: unknown) => {
          this.options.onError(err, target);
          if (!this.closed) {
            this.retry = setTimeout(() => {
              this.retry = undefined;
              this.flush();
            }, this.options.retryMs ?? 1000);
            this.retry.unref();
          }
        },
      )
      .finally(() => {
        this.writing = undefined;
        if (this.wanted !== this.written) this.flush();
        this.notifyIdle();
      });
  }
}
