import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDedupeKey, hashDedupeKey, readDedupeKey } from '../../src/checkpoint/dedupe-keys.js';
import { DedupeWindow, dedupeKey, type Admission, type BatchState } from '../../src/pipeline/dedupe.js';

function batch(state: BatchState['state'] = 'pending'): BatchState {
  return { state, settled: Promise.resolve() };
}

describe('dedupeKey', () => {
  it('tells stages of one request apart and never collides across auditIDs', () => {
    const keys = new Set([
      dedupeKey({ auditID: 'a', stage: 'ResponseStarted' }),
      dedupeKey({ auditID: 'a', stage: 'ResponseComplete' }),
      dedupeKey({ auditID: 'a#1', stage: 'RequestReceived' }),
      dedupeKey({ auditID: 'a', stage: 'RequestReceived' }),
    ]);
    expect(keys.size).toBe(4);
  });
});

describe('DedupeWindow', () => {
  it('admits a key once, then reports it in flight, then delivered', () => {
    const w = new DedupeWindow(10);
    const owner = batch();
    expect(w.admit('k', owner)).toEqual({ kind: 'new' });
    expect(w.admit('k', batch())).toEqual({ kind: 'in-flight', owner });
    owner.state = 'delivered';
    expect(w.admit('k', batch())).toEqual({ kind: 'delivered' });
  });

  it('forgets keys of an aborted batch so a resend is delivered', () => {
    const w = new DedupeWindow(10);
    const owner = batch();
    w.admit('k', owner);
    owner.state = 'aborted';
    expect(w.admit('k', batch())).toEqual({ kind: 'new' });
  });

  it('persists only keys of delivered batches, oldest first', () => {
    const w = new DedupeWindow(10);
    const done = batch();
    const pending = batch();
    w.admit('a', done);
    w.admit('b', pending);
    w.admit('c', done);
    done.state = 'delivered';
    w.markDelivered();
    expect(w.dirty).toBe(true);
    expect(w.snapshot()).toEqual(['a', 'c'].map(canonicalDedupeKey));
    expect(w.dirty).toBe(false);
  });

  it('evicts the oldest key past maxKeys', () => {
    const w = new DedupeWindow(3);
    w.restore(['a', 'b', 'c', 'd']);
    expect(w.size).toBe(3);
    expect(w.admit('a', batch())).toEqual({ kind: 'new' });
    expect(w.admit('d', batch())).toEqual({ kind: 'delivered' });
  });
});

/** The window as the previous version kept it (a Map of string keys): what the hashed one must do. */
class MapWindow {
  private readonly keys = new Map<string, BatchState | true>();
  constructor(private readonly maxKeys: number) {}
  get size(): number {
    return this.keys.size;
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
  snapshot(): string[] {
    return [...this.keys].filter(([, o]) => o === true || o.state === 'delivered').map(([k]) => k);
  }
  private remember(key: string, owner: BatchState | true): void {
    this.keys.set(key, owner);
    if (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
  }
}

describe('DedupeWindow against the previous Map of strings', () => {
  type Op =
    | { op: 'admit'; key: number; batch: number }
    | { op: 'settle'; batch: number; state: 'delivered' | 'aborted' }
    | { op: 'snapshot' }
    | { op: 'restore'; keys: number[] };

  it.each([
    ['small windows', 1, 24, 40, 300, 300],
    // Past the ring's first 1,024 slots, so that it grows while keys are forgotten and taken anew.
    ['windows that grow', 1025, 2500, 4000, 4000, 20],
  ])('admits, evicts and snapshots exactly as it did (aborted keys taken anew, batches in any order): %s', (_name, minKeys, maxKeysBound, keySpace, maxOps, numRuns) => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ op: fc.constant('admit' as const), key: fc.nat(keySpace), batch: fc.nat(5) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('settle' as const), batch: fc.nat(5), state: fc.constantFrom('delivered' as const, 'aborted' as const) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('snapshot' as const) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('restore' as const), keys: fc.array(fc.nat(keySpace), { maxLength: 5 }) }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: minKeys, max: maxKeysBound }), fc.array(op, { maxLength: maxOps }), (maxKeys, ops) => {
        const hashed = new DedupeWindow(maxKeys);
        const model = new MapWindow(maxKeys);
        // Batches are replaced once settled, as the source runner makes a new state per batch.
        const batches = Array.from({ length: 6 }, () => batch());
        const key = (k: number): string => dedupeKey({ auditID: `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`, stage: 'ResponseComplete' });
        for (const o of ops) {
          if (o.op === 'admit') {
            const b = batches[o.batch]!;
            expect(hashed.admit(key(o.key), b)).toEqual(model.admit(key(o.key), b));
          } else if (o.op === 'settle') {
            batches[o.batch]!.state = o.state;
            if (o.state === 'delivered') hashed.markDelivered();
            batches[o.batch] = batch();
          } else if (o.op === 'snapshot') {
            expect(hashed.snapshot()).toEqual(model.snapshot());
          } else {
            hashed.restore(o.keys.map(key));
            model.restore(o.keys.map(key));
          }
          expect(hashed.size).toBe(model.size);
        }
        expect(hashed.snapshot()).toEqual(model.snapshot());
      }),
      { numRuns },
    );
  });

  it('stays exact when forgotten keys of aborted batches fill the ring past maxKeys', () => {
    const hashed = new DedupeWindow(8);
    const model = new MapWindow(8);
    for (let round = 0; round < 50; round++) {
      const b = batch();
      for (let k = 0; k < 8; k++) expect(hashed.admit(`k${(round * 3 + k) % 11}`, b)).toEqual(model.admit(`k${(round * 3 + k) % 11}`, b));
      b.state = round % 4 === 0 ? 'delivered' : 'aborted';
      hashed.markDelivered();
      expect(hashed.snapshot()).toEqual(model.snapshot().map(canonicalDedupeKey));
      expect(hashed.size).toBe(model.size);
    }
    // The case is real: the ring did hold more entries than maxKeys.
    expect((hashed as unknown as { ring: Uint32Array }).ring.length / 2).toBeGreaterThan(8);
  });

  it('keeps 500,000 keys, evicting the oldest first, at the default size', () => {
    const w = new DedupeWindow(500_000);
    const keys = Array.from({ length: 600_000 }, (_, i) => dedupeKey({ auditID: `id-${i}`, stage: 'ResponseComplete' }));
    w.restore(keys);
    expect(w.size).toBe(500_000);
    const snapshot = w.snapshot();
    expect(snapshot).toHaveLength(500_000);
    expect(snapshot[0]).toBe(keys[100_000]);
    expect(snapshot.at(-1)).toBe(keys.at(-1));
    expect(w.admit(keys[99_999]!, batch())).toEqual({ kind: 'new' });
    expect(w.admit(keys[100_001]!, batch())).toEqual({ kind: 'delivered' });
  });
});

describe('dedupe keys', () => {
  it('are the 64-bit hash of `auditID#code`, as 16 hex digits, so a previous version’s saved keys load as the same keys', () => {
    const event = { auditID: '8f2d4a1e-0b7c-4c3e-9a51-2d6f0e4b7c19', stage: 'ResponseComplete' as const };
    expect(dedupeKey(event)).toMatch(/^[0-9a-f]{16}$/);
    // ResponseComplete is the third stage: code 2, the form the previous version saved.
    expect(canonicalDedupeKey(`${event.auditID}#2`)).toBe(dedupeKey(event));
    expect(canonicalDedupeKey(dedupeKey(event))).toBe(dedupeKey(event));
    expect(dedupeKey({ auditID: event.auditID, stage: 'ResponseStarted' })).not.toBe(dedupeKey(event));
    const w = new DedupeWindow(10);
    w.restore([`${event.auditID}#2`]);
    expect(w.admit(dedupeKey(event), batch())).toEqual({ kind: 'delivered' });
    expect(w.admit(dedupeKey({ ...event, stage: 'ResponseStarted' }), batch())).toEqual({ kind: 'new' });
  });

  it('never hash to (0, 0), the mark of a forgotten slot', () => {
    const out = new Uint32Array(2);
    for (let i = 0; i < 10_000; i++) {
      hashDedupeKey(`k${i}`, out, 0);
      expect(out[0] !== 0 || out[1] !== 0).toBe(true);
    }
  });

  // The bound in src/checkpoint/dedupe-keys.ts assumes the hash behaves like a random one on these
  // inputs. Its 64 bits cannot be checked for collisions at test sizes, so each 32-bit half is:
  // n keys give about n²/2^33 collisions in a random 32-bit hash.
  it.each([
    ['sequential auditIDs (the bench’s)', (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`],
    ['random UUIDs', () => randomUUID()],
    ['short numeric IDs', (i: number) => String(i)],
  ])('behave as a random 64-bit hash on %s: no collision, and each half collides as often as a random 32-bit one', (_name, id) => {
    const n = 400_000;
    const out = new Uint32Array(2);
    const full = new Set<bigint>();
    const hiSeen = new Set<number>();
    const loSeen = new Set<number>();
    let hiCollisions = 0;
    let loCollisions = 0;
    for (let i = 0; i < n; i++) {
      for (const stage of ['ResponseStarted', 'ResponseComplete'] as const) {
        readDedupeKey(dedupeKey({ auditID: id(i), stage }), out, 0);
        full.add((BigInt(out[0]!) << 32n) | BigInt(out[1]!));
        if (hiSeen.has(out[0]!)) hiCollisions++;
        else hiSeen.add(out[0]!);
        if (loSeen.has(out[1]!)) loCollisions++;
        else loSeen.add(out[1]!);
      }
    }
    expect(full.size).toBe(2 * n);
    // Expected (2n)²/2^33 ≈ 74.5; a Poisson count that far off would be a structured hash.
    const expected = (2 * n) ** 2 / 2 ** 33;
    for (const c of [hiCollisions, loCollisions]) {
      expect(c).toBeGreaterThan(expected / 2);
      expect(c).toBeLessThan(expected * 2);
    }
  });
});
