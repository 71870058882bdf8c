import { STAGES, type AuditEvent } from '../event/event.js';

/** What the dedupe window knows of a batch that claimed keys. */
export interface BatchState {
  /** pending until every sink acknowledged; aborted when shutdown gave up on it. */
  state: 'pending' | 'delivered' | 'aborted';
  /** Settles when the batch is delivered or aborted. */
  readonly settled: Promise<void>;
}

export type Admission =
  | { kind: 'new' }
  | { kind: 'delivered' }
  /** Another batch carries this key and is still in flight: wait for it instead of sending again. */
  | { kind: 'in-flight'; owner: BatchState };

const STAGE_CODE = new Map<string, number>(STAGES.map((s, i) => [s, i]));

/**
 * The persisted form of an event's identity: auditID plus a one-digit stage code. The code has a
 * fixed width at the end, so no two (auditID, stage) pairs share a key.
 */
export function dedupeKey(event: Pick<AuditEvent, 'auditID' | 'stage'>): string {
  return `${event.auditID}#${STAGE_CODE.get(event.stage) ?? 9}`;
}

/**
 * Remembers (auditID, stage) keys of one source, oldest evicted first past `maxKeys`.
 * A key is owned by the batch that first carried it; only keys of delivered batches are
 * persisted, so a crash never makes a restart drop an event that was not delivered.
 */
export class DedupeWindow {
  private readonly keys = new Map<string, BatchState | true>();
  private changed = false;

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.keys.size;
  }

  /** Whether delivered keys were added since the last snapshot. */
  get dirty(): boolean {
    return this.changed;
  }

  restore(keys: readonly string[]): void {
    for (const key of keys) this.remember(key, true);
  }

  admit(key: string, batch: BatchState): Admission {
    const owner = this.keys.get(key);
    if (owner === undefined || (owner !== true && owner.state === 'aborted')) {
      if (owner !== undefined) this.keys.delete(key);
      this.remember(key, batch);
      return { kind: 'new' };
    }
    if (owner === true || owner.state === 'delivered') return { kind: 'delivered' };
    return { kind: 'in-flight', owner };
  }

  /** Called when a batch that owns keys is delivered; marks the window for the next save. */
  markDelivered(): void {
    this.changed = true;
  }

  /** Keys of delivered batches, oldest first. Clears the dirty flag. */
  snapshot(): string[] {
    this.changed = false;
    const out: string[] = [];
    for (const [key, owner] of this.keys) {
      if (owner === true || owner.state === 'delivered') out.push(key);
    }
    return out;
  }

  private remember(key: string, owner: BatchState | true): void {
    this.keys.set(key, owner);
    if (this.keys.size > this.maxKeys) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
  }
}
