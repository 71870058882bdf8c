// The Falco condition parser and evaluator on random input: a condition is either compiled or
// refused with a position, and a compiled condition gives a boolean on any event, never an exception.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompileError, ConditionCompiler, MacroError } from '../../../src/rules/falco/compile.js';
import { FalcoConditionError } from '../../../src/rules/falco/errors.js';
import { parseCondition } from '../../../src/rules/falco/parser.js';
import { loadRuleTexts } from '../../../src/rules/load.js';
import type { Predicate } from '../../../src/rules/predicate.js';
import { withEvaluation } from '../../../src/rules/scope.js';

// Pieces of valid and broken conditions: soups of them reach deep into the parser far more often
// than uniformly random text does.
const FRAGMENTS = [
  'ka.verb', 'ka.user.name', 'ka.user.groups', 'ka.req.pod.containers.image', 'ka.req.pod.containers.image[0]', 'ka.uri.param[command]', 'ka.uri.param',
  'jevt.value[/stage]', 'jevt.value[/a~1b/0]', 'jevt.rawtime', 'evt.rawtime', 'ka.nope', 'kevt', 'pod', 'loop', 'undefined_macro',
  '=', '==', '!=', '<', '<=', '>', '>=', 'contains', 'icontains', 'bcontains', 'startswith', 'endswith', 'glob', 'iglob', 'regex', 'pmatch', 'in', 'intersects', 'exists',
  'and', 'or', 'not', 'not(', '(', ')', '[', ']', ',', '"', "'", '"a b"', "'x'", 'create', 'pods', '0', '0x1F', '-1', '1.5e+3', '"(["', '*', '/etc', 'users',
  ' ', '\n', '\t', '\\', 'tolower(', 'val(', '𝒳', '\u0000',
];

const MACROS: Record<string, string> = {
  kevt: 'jevt.value[/stage] in (stages)',
  pod: 'ka.target.resource=pods and not ka.target.subresource exists',
  loop: 'kevt and loop',
  broken: 'ka.verb in (',
};
const LISTS: Record<string, string[]> = { stages: ['ResponseComplete'], users: ['alice', 'bob'] };

const EVENT = {
  kind: 'Event',
  auditID: 'a',
  stage: 'ResponseComplete',
  verb: 'create',
  requestURI: '/api?command=ls',
  user: { username: 'alice', groups: ['devs'] },
  objectRef: { resource: 'pods' },
  stageTimestamp: '2025-02-10T09:15:57.508657Z',
  requestObject: { spec: { containers: [{ image: 'nginx' }, { image: 'x:1' }] } },
  'a/b': [1],
};

function compile(text: string): Predicate | undefined {
  const compiler = new ConditionCompiler({
    macro: (n) => (MACROS[n] === undefined ? undefined : parseCondition(MACROS[n])),
    list: (n) => LISTS[n],
  });
  try {
    return compiler.compile(parseCondition(text));
  } catch (err) {
    if (err instanceof FalcoConditionError) {
      // A syntax error: the reason and a position inside the text.
      expect(err.line).toBeGreaterThanOrEqual(1);
      expect(err.column).toBeGreaterThanOrEqual(1);
      expect(err.offset).toBeGreaterThanOrEqual(0);
      expect(err.offset).toBeLessThanOrEqual(text.length);
      expect(err.reason.length).toBeGreaterThan(0);
      return undefined;
    }
    if (err instanceof CompileError) {
      // A meaning error (a field, an operator, a macro): its offset is inside the text.
      expect(err.offset).toBeGreaterThanOrEqual(0);
      expect(err.offset).toBeLessThanOrEqual(text.length);
      return undefined;
    }
    if (err instanceof MacroError) return undefined;
    throw err;
  }
}

const jsonEvent = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({
    kind: fc.constant('Event'),
    auditID: fc.oneof(fc.string(), fc.constant(null)),
    stage: fc.constantFrom('ResponseComplete', 'ResponseStarted', 7),
    verb: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    user: fc.oneof(fc.record({ username: fc.string(), groups: fc.oneof(fc.array(fc.string()), fc.string()) }), fc.constant(null)),
    requestURI: fc.string(),
    stageTimestamp: fc.oneof(fc.constant('2025-02-10T09:15:57.508657Z'), fc.string()),
    requestObject: fc.jsonValue({ maxDepth: 4 }),
  }),
);

function evaluates(predicate: Predicate, event: unknown): void {
  expect(typeof predicate(event)).toBe('boolean');
  expect(typeof withEvaluation(() => predicate(event))).toBe('boolean');
}

describe('the Falco condition parser and evaluator on random input', () => {
  it('random strings are compiled or refused with a position; never another exception', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
        const p = compile(text);
        if (p) evaluates(p, EVENT);
      }),
      { numRuns: 3000 },
    );
  });

  it('soups of condition fragments are compiled or refused, and what compiles evaluates on random events', () => {
    const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 });
    fc.assert(
      fc.property(fc.oneof(soup.map((p) => p.join(' ')), soup.map((p) => p.join(''))), fc.array(jsonEvent, { maxLength: 3 }), (text, events) => {
        const p = compile(text);
        if (p) for (const e of [EVENT, ...events]) evaluates(p, e);
      }),
      { numRuns: 5000 },
    );
  });

  it('well-formed random conditions compile and evaluate on any event', () => {
    const field = fc.constantFrom('ka.verb', 'ka.user.name', 'ka.uri.param[command]', 'jevt.value[/stage]', 'jevt.value[/requestObject/spec/containers/0/image]', 'ka.target.subresource', 'ka.response.code');
    const listField = fc.constantFrom('ka.user.groups', 'ka.req.pod.containers.image', 'ka.req.pod.containers.image.repository[1]', 'ka.req.pod.volumes.hostpath');
    const value = fc.oneof(fc.constantFrom('create', 'alice', '"a b"', "'q'", '/etc', 'x*'), fc.stringMatching(/^[a-z][a-z0-9_:/.-]{0,8}$/));
    const list = fc.array(fc.oneof(value, fc.constantFrom('users', 'stages')), { maxLength: 4 }).map((vs) => `(${vs.join(', ')})`);
    const check = fc.oneof(
      fc.tuple(field, fc.constantFrom('=', '!=', 'contains', 'icontains', 'startswith', 'endswith', 'glob', 'iglob'), value).map((p) => p.join(' ')),
      fc.tuple(field, fc.constantFrom('<', '<=', '>', '>='), fc.integer({ min: 0, max: 999 })).map((p) => p.join(' ')),
      fc.tuple(field, fc.constantFrom('in', 'intersects', 'pmatch'), list).map((p) => p.join(' ')),
      fc.tuple(listField, fc.constantFrom('in', 'intersects'), list).map((p) => p.join(' ')),
      fc.tuple(fc.oneof(field, listField), fc.constant('exists')).map((p) => p.join(' ')),
      fc.constantFrom('kevt', 'pod'),
    );
    const { condition } = fc.letrec((tie) => ({
      condition: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        check,
        tie('condition').map((c) => `not ${String(c)}`),
        tie('condition').map((c) => `(${String(c)})`),
        fc.tuple(tie('condition'), fc.constantFrom('and', 'or'), tie('condition')).map((p) => p.join(' ')),
      ),
    }));
    fc.assert(
      fc.property(condition, jsonEvent, (text, event) => {
        const p = compile(text);
        expect(p, text).toBeDefined();
        evaluates(p!, EVENT);
        evaluates(p!, event);
      }),
      { numRuns: 2000 },
    );
  });

  it('in a rule file, every problem with a random condition names the file, line, column and rule', () => {
    const soup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 20 }).map((p) => p.join(' '));
    fc.assert(
      fc.property(soup, (condition) => {
        const text = `- macro: kevt\n  condition: jevt.value[/stage] = ResponseComplete\n- rule: R\n  desc: d\n  condition: ${JSON.stringify(condition)}\n  output: o\n  priority: INFO\n  source: k8s_audit\n`;
        const loaded = loadRuleTexts([{ file: 'r.yaml', text }]);
        for (const p of loaded.problems) {
          expect(p).toMatchObject({ file: 'r.yaml', line: expect.any(Number) as unknown, column: expect.any(Number) as unknown });
          if (p.rule === 'R' && p.message.startsWith('condition')) expect(p.message).toMatch(/^condition, line \d+, column \d+: ./);
        }
        if (loaded.problems.length === 0) for (const r of loaded.rules) evaluates(r.predicate, EVENT);
      }),
      { numRuns: 1000 },
    );
  });
});
