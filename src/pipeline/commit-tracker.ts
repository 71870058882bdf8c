import type { Cursor } from '../checkpoint/store.js';

/**
 * Turns out-of-order batch completions into in-order commits: a cursor may be committed only
 * when its batch and every earlier batch of the source are delivered.
 */
export class CommitTracker {
  private nextSeq = 0;
  private head = 0;
  private readonly completed = new Map<number, Cursor | undefined>();

  /** Registers a new batch and returns its sequence number. */
  register(): number {
    return this.nextSeq++;
  }

  /** Batches below this sequence number are delivered along with every earlier one. */
  get committedThrough(): number {
    return this.head;
  }

  /** Batches registered and not yet committed (in flight, or done but waiting for an earlier one). */
  get outstanding(): number {
    return this.nextSeq - this.head;
  }

  /**
   * Marks a batch delivered. Returns the cursor to commit when the contiguous delivered prefix
   * grew and carries one (the newest cursor of that prefix), else undefined.
   */
  complete(seq: number, cursor: Cursor | undefined): Cursor | undefined {
    this.completed.set(seq, cursor);
    let commit: Cursor | undefined;
    while (this.completed.has(this.head)) {
      const c = this.completed.get(this.head);
      if (c !== undefined) commit = c;
      this.completed.delete(this.head);
      this.head++;
    }
    return commit;
  }
}
