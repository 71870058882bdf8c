import { describe, expect, it } from 'vitest';
import { DedupeWindow, dedupeKey, type BatchState } from '../../src/pipeline/dedupe.js';

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
    expect(w.snapshot()).toEqual(['a', 'c']);
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
