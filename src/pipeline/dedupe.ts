import { dedupeKeyText, hashDedupeKey, readDedupeKey, unpackDedupeKeys } from '../checkpoint/dedupe-keys.js';
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
const HASH_MARK = '#'.charCodeAt(0);
const DIGIT_0 = '0'.charCodeAt(0);
const scratch = new Uint32Array(2);

/**
 * An event's identity as the window keeps it: the 64-bit hash of `${auditID}#${code}` (code: the
 * stage's one-digit code, 9 for an unknown stage) as 16 hex digits. The collision bound, and what a
 * collision costs, are in src/checkpoint/dedupe-keys.ts.
 */
export function dedupeKey(event: Pick<AuditEvent, 'auditID' | 'stage'>): string {
  hashDedupeKey(event.auditID, scratch, 0, HASH_MARK, DIGIT_0 + (STAGE_CODE.get(event.stage) ?? 9));
  return dedupeKeyText(scratch[0]!, scratch[1]!);
}

/** Keys a batch took in a row (seq first .. end - 1); keys outside every run are delivered. */
interface Run {
  first: number;
  end: number;
  owner: BatchState;
}

/** Largest share of the index in use: linear probing stays short below it. */
const MAX_LOAD = 0.7;
const MIN_RING = 1024;

/**
 * Remembers (auditID, stage) keys of one source, oldest evicted first past `maxKeys`.
 * A key is owned by the batch that first carried it; only keys of delivered batches are
 * persisted, so a crash never makes a restart drop an event that was not delivered.
 *
 * Each key is its 64-bit hash (src/checkpoint/dedupe-keys.ts), kept in two typed arrays: a ring of
 * hashes in arrival order (8 bytes a key) and an open-addressing index of ring slots, linear
 * probing at most 70% full (4 bytes a slot, about 5.7 bytes a key). Both grow with the window
 * up to maxKeys, so 500,000 keys cost about 14 bytes each (bench: `npm run bench -- --only
 * dedupe`). Owners are not stored per key: the keys a batch admits come in a row, so the window
 * keeps one run (first, end, owner) per batch still pending or aborted, and a key outside every run
 * is delivered.
 *
 * A key taken again after its batch was aborted moves to the newest end, as a Map delete and set
 * would: its old slot is marked forgotten (hash 0, 0) and skipped, and the ring grows past
 * maxKeys slots if such slots ever fill it, so eviction stays exactly oldest live key first.
 */
export class DedupeWindow {
  /** Hashes by slot: [2s] high, [2s + 1] low 32 bits; (0, 0) marks a forgotten key. */
  private ring: Uint32Array;
  /** Entries (live and forgotten) in the ring, from the slot of the oldest. */
  private count = 0;
  private headSlot = 0;
  /** Sequence number of the oldest entry; entry seq lives at slot (headSlot + seq - headSeq) mod capacity. */
  private headSeq = 0;
  private live = 0;
  /** Ring slot of each key, -1 where empty. */
  private index: Int32Array;
  /** index.length / 2^32, so that a hash's high word picks its home slot by multiplication. */
  private scale: number;
  /** Runs in sequence order, not overlapping. */
  private runs: Run[] = [];
  private changed = false;

  constructor(private readonly maxKeys: number) {
    this.ring = new Uint32Array(2 * Math.min(maxKeys, MIN_RING));
    this.index = new Int32Array(indexSize(Math.min(maxKeys, MIN_RING))).fill(-1);
    this.scale = this.index.length / 4294967296;
  }

  get size(): number {
    return this.live;
  }

  /** Whether delivered keys were added since the last snapshot. */
  get dirty(): boolean {
    return this.changed;
  }

  /** Adds keys of delivered batches, oldest first, as snapshot gave them (or a previous version's `auditID#code` keys). */
  restore(keys: readonly string[]): void {
    for (const key of keys) {
      readDedupeKey(key, scratch, 0);
      const at = this.find(scratch[0]!, scratch[1]!);
      // A key already here keeps its place and counts as delivered from now on.
      if (at >= 0) this.disown(this.seqOf(this.index[at]!));
      else this.append(scratch[0]!, scratch[1]!, undefined);
    }
  }

  admit(key: string, batch: BatchState): Admission {
    readDedupeKey(key, scratch, 0);
    const hi = scratch[0]!;
    const lo = scratch[1]!;
    const at = this.find(hi, lo);
    if (at >= 0) {
      const slot = this.index[at]!;
      const owner = this.ownerOf(this.seqOf(slot));
      if (owner === undefined || owner.state === 'delivered') return { kind: 'delivered' };
      if (owner.state === 'pending') return { kind: 'in-flight', owner };
      // Its batch was aborted: forget it here and take it anew at the newest end.
      this.unindex(at);
      this.ring[2 * slot] = 0;
      this.ring[2 * slot + 1] = 0;
      this.live--;
    }
    this.append(hi, lo, batch);
    return { kind: 'new' };
  }

  /** Called when a batch that owns keys is delivered; marks the window for the next save. */
  markDelivered(): void {
    this.changed = true;
    this.pruneRuns();
  }

  /** Marks the window for the next save again, after a save of its snapshot failed. */
  markUnsaved(): void {
    this.changed = true;
  }

  /** Keys of delivered batches, oldest first, as text. Clears the dirty flag. */
  snapshot(): string[] {
    return unpackDedupeKeys(this.packedSnapshot());
  }

  /**
   * Keys of delivered batches, oldest first, packed as src/checkpoint/dedupe-keys.ts packs them (high,
   * low words; 8 bytes a key, where 500,000 keys as strings would be some 20 MB of heap at every save).
   * Clears the dirty flag.
   */
  packedSnapshot(): Uint32Array {
    this.changed = false;
    this.pruneRuns();
    const out = new Uint32Array(2 * this.live);
    let n = 0;
    const { ring, runs } = this;
    const capacity = ring.length / 2;
    let r = 0;
    for (let k = 0, slot = this.headSlot; k < this.count; k++, slot = slot + 1 === capacity ? 0 : slot + 1) {
      const hi = ring[2 * slot]!;
      const lo = ring[2 * slot + 1]!;
      if (hi === 0 && lo === 0) continue;
      const seq = this.headSeq + k;
      while (r < runs.length && runs[r]!.end <= seq) r++;
      if (r < runs.length && runs[r]!.first <= seq && runs[r]!.owner.state !== 'delivered') continue;
      out[n++] = hi;
      out[n++] = lo;
    }
    return out.subarray(0, n);
  }

  private seqOf(slot: number): number {
    const capacity = this.ring.length / 2;
    return this.headSeq + (slot >= this.headSlot ? slot - this.headSlot : slot + capacity - this.headSlot);
  }

  /** The batch that owns entry `seq` while it is pending or aborted; undefined once delivered. */
  private ownerOf(seq: number): BatchState | undefined {
    const runs = this.runs;
    let low = 0;
    let high = runs.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const run = runs[mid]!;
      if (seq < run.first) high = mid - 1;
      else if (seq >= run.end) low = mid + 1;
      else return run.owner;
    }
    return undefined;
  }

  /** Takes entry `seq` out of its run, if any: it is delivered. */
  private disown(seq: number): void {
    const i = this.runs.findIndex((r) => r.first <= seq && seq < r.end);
    if (i < 0) return;
    const run = this.runs[i]!;
    const parts: Run[] = [];
    if (run.first < seq) parts.push({ first: run.first, end: seq, owner: run.owner });
    if (seq + 1 < run.end) parts.push({ first: seq + 1, end: run.end, owner: run.owner });
    this.runs.splice(i, 1, ...parts);
  }

  /** Runs of delivered batches say nothing a key outside every run does not: drop them. */
  private pruneRuns(): void {
    if (this.runs.some((r) => r.owner.state === 'delivered')) this.runs = this.runs.filter((r) => r.owner.state !== 'delivered');
  }

  private append(hi: number, lo: number, owner: BatchState | undefined): void {
    if (this.live >= this.maxKeys) this.evictOldest();
    if (this.count === this.ring.length / 2) this.makeRoom();
    const capacity = this.ring.length / 2;
    const slot = (this.headSlot + this.count) % capacity;
    const seq = this.headSeq + this.count;
    this.ring[2 * slot] = hi;
    this.ring[2 * slot + 1] = lo;
    this.count++;
    this.live++;
    this.insert(hi, slot);
    if (owner !== undefined) {
      const last = this.runs.at(-1);
      if (last !== undefined && last.owner === owner && last.end === seq) last.end++;
      else this.runs.push({ first: seq, end: seq + 1, owner });
    }
  }

  private evictOldest(): void {
    const capacity = this.ring.length / 2;
    while (this.count > 0) {
      const slot = this.headSlot;
      const hi = this.ring[2 * slot]!;
      const lo = this.ring[2 * slot + 1]!;
      this.headSlot = slot + 1 === capacity ? 0 : slot + 1;
      this.headSeq++;
      this.count--;
      if (hi !== 0 || lo !== 0) {
        const at = this.find(hi, lo);
        if (at >= 0) this.unindex(at);
        this.live--;
        break;
      }
    }
    let drop = 0;
    while (drop < this.runs.length && this.runs[drop]!.end <= this.headSeq) drop++;
    if (drop > 0) this.runs.splice(0, drop);
  }

  /** The ring is full: skip forgotten entries at its head, else grow it (up to maxKeys, past it only for forgotten entries). */
  private makeRoom(): void {
    const capacity = this.ring.length / 2;
    while (this.count > 0 && this.ring[2 * this.headSlot] === 0 && this.ring[2 * this.headSlot + 1] === 0) {
      this.headSlot = this.headSlot + 1 === capacity ? 0 : this.headSlot + 1;
      this.headSeq++;
      this.count--;
    }
    if (this.count < capacity) return;
    const grown = capacity < this.maxKeys ? Math.min(this.maxKeys, capacity * 2) : capacity + Math.max(16, capacity >>> 3);
    const ring = new Uint32Array(2 * grown);
    for (let k = 0, slot = this.headSlot; k < this.count; k++, slot = slot + 1 === capacity ? 0 : slot + 1) {
      ring[2 * k] = this.ring[2 * slot]!;
      ring[2 * k + 1] = this.ring[2 * slot + 1]!;
    }
    this.ring = ring;
    this.headSlot = 0;
    this.index = new Int32Array(indexSize(Math.min(grown, this.maxKeys))).fill(-1);
    this.scale = this.index.length / 4294967296;
    for (let k = 0; k < this.count; k++) {
      if (ring[2 * k] !== 0 || ring[2 * k + 1] !== 0) this.insert(ring[2 * k]!, k);
    }
  }

  /** Position in the index of the key, or -1. */
  private find(hi: number, lo: number): number {
    const { index, ring } = this;
    const size = index.length;
    let at = (hi * this.scale) | 0;
    for (;;) {
      const slot = index[at]!;
      if (slot < 0) return -1;
      if (ring[2 * slot] === hi && ring[2 * slot + 1] === lo) return at;
      at = at + 1 === size ? 0 : at + 1;
    }
  }

  private insert(hi: number, slot: number): void {
    const index = this.index;
    const size = index.length;
    let at = (hi * this.scale) | 0;
    while (index[at]! >= 0) at = at + 1 === size ? 0 : at + 1;
    index[at] = slot;
  }

  /** Removes index position `at`, shifting later keys of its probe run back (no tombstones). */
  private unindex(at: number): void {
    const { index, ring } = this;
    const size = index.length;
    let hole = at;
    let next = at;
    for (;;) {
      next = next + 1 === size ? 0 : next + 1;
      const slot = index[next]!;
      if (slot < 0) break;
      const home = (ring[2 * slot]! * this.scale) | 0;
      // The key at `next` stays if its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      index[hole] = slot;
      hole = next;
    }
    index[hole] = -1;
  }
}

/** Index slots for `keys` keys at most MAX_LOAD full. */
function indexSize(keys: number): number {
  return Math.max(16, Math.ceil(keys / MAX_LOAD) + 1);
}
