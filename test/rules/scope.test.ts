import { describe, expect, it } from 'vitest';
import { currentScope, perEvaluation, withEvaluation } from '../../src/rules/scope.js';

describe('evaluation scopes', () => {
  it('a per-evaluation value is computed once per event within a scope, and again in the next scope', () => {
    let calls = 0;
    const read = perEvaluation((e) => {
      calls++;
      return (e as { n: number }).n;
    });
    const event = { n: 1 };
    expect(withEvaluation(() => read(event) + read(event) + read(event))).toBe(3);
    expect(calls).toBe(1);
    // The same object, changed between evaluations, is read afresh.
    event.n = 5;
    expect(withEvaluation(() => read(event))).toBe(5);
    expect(calls).toBe(2);
    // Another event in the same scope is computed too.
    expect(withEvaluation(() => read(event) + read({ n: 2 }) + read(event))).toBe(12);
    expect(calls).toBe(5);
  });

  it('outside a scope nothing is cached; nested scopes share the outer one', () => {
    let calls = 0;
    const read = perEvaluation(() => ++calls);
    const event = {};
    read(event);
    read(event);
    expect(calls).toBe(2);
    expect(currentScope()).toBe(0);
    withEvaluation(() => {
      const outer = currentScope();
      expect(outer).toBeGreaterThan(0);
      read(event);
      withEvaluation(() => {
        expect(currentScope()).toBe(outer);
        read(event);
      });
      read(event);
    });
    expect(calls).toBe(3);
  });
});
