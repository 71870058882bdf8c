import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileJpath } from '../../src/rules/jpath/compile.js';
import { JpathError } from '../../src/rules/jpath/errors.js';

// Pieces of valid and broken conditions: soup made of them reaches deep into the parser far more
// often than uniformly random text does.
const FRAGMENTS = [
  'jpath', '(', ')', '"', '"verb"', '"a.b.0"', '"a\\.b"', '"\\\\"', '"x', '=', '!=', '<', '>', '<=', '>=', '==', '=>', '!',
  'contains', 'startswith', 'in', 'and', 'or', 'not', ',', '1', '-2', '1.5', '007', '99999999999999999999', ' ', '\n', '//c\n',
  '\\', "'", '&&', '|', '@', 'AND', 'proc.name', '""', '"."', '".a"', '"a."', '"a..b"', '\t', '\u2028', '𝒳',
];

const EVENT = { verb: 'create', a: { b: [{ x: 1 }, 'y'] }, n: 5, '0': [null, true] };

function checkParse(text: string): void {
  let predicate: ((e: unknown) => boolean) | undefined;
  try {
    predicate = compileJpath(text);
  } catch (err) {
    // The only exception allowed is a parse error, with a position inside the text.
    expect(err).toBeInstanceOf(JpathError);
    const e = err as JpathError;
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.column).toBeGreaterThanOrEqual(1);
    expect(e.offset).toBeLessThanOrEqual(text.length);
    expect(e.reason).toMatch(/^expected /);
    return;
  }
  // A rule: evaluating it on any event gives a boolean.
  expect(typeof predicate(EVENT)).toBe('boolean');
  expect(typeof predicate(null)).toBe('boolean');
}

describe('the jpath parser on random text', () => {
  it('random strings yield a parse error or a rule, never another exception', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), checkParse), { numRuns: 3000 });
  });

  it('random soups of condition fragments yield a parse error or a rule', () => {
    const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 }).map((parts) => parts.join(' '));
    const tight = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 }).map((parts) => parts.join(''));
    fc.assert(fc.property(fc.oneof(soup, tight), checkParse), { numRuns: 5000 });
  });

  it('well-formed random conditions compile', () => {
    const path = fc.array(fc.constantFrom('verb', 'a', 'b', '0', 'x', 'n', 'k\\.y'), { minLength: 1, maxLength: 4 }).map((keys) => `jpath("${keys.join('.')}")`);
    const literal = fc.oneof(fc.integer().map(String), fc.constantFrom('"create"', '""', '"y"', '"\\"q\\""'));
    const comparison = fc.oneof(
      fc.tuple(path, fc.constantFrom('=', '!=', '<', '>', '<=', '>=', 'contains', 'startswith'), literal).map((p) => p.join(' ')),
      fc.tuple(path, fc.array(literal, { minLength: 1, maxLength: 3 })).map(([p, ls]) => `${p} in (${ls.join(', ')})`),
    );
    const { condition } = fc.letrec((tie) => ({
      condition: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        comparison,
        tie('condition').map((c) => `not ${String(c)}`),
        tie('condition').map((c) => `(${String(c)})`),
        fc.tuple(tie('condition'), fc.constantFrom('and', 'or'), tie('condition')).map((p) => p.join(' ')),
      ),
    }));
    fc.assert(
      fc.property(condition, (text) => {
        expect(typeof compileJpath(text)(EVENT)).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });
});
