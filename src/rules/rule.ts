import type { MessageTemplate } from './template.js';
import type { Predicate } from './predicate.js';
import type { Priority } from './priority.js';

export type Matching = 'first' | 'all';

/** Where a rule was defined (the line and column of its entry). */
export interface RuleSource {
  file: string;
  line: number;
  column: number;
}

/** A value of an event that rules can be sorted by (Falco's rules: the target resource). */
export interface PrefilterKey {
  readonly name: string;
  read(event: unknown): string | undefined;
}

/**
 * A necessary condition a rule declares: it can only fire on events whose `key` is one of `values`.
 * The engine uses it to skip the rule on other events without evaluating it.
 */
export interface Prefilter {
  readonly key: PrefilterKey;
  readonly values: ReadonlySet<string>;
}

/** A rule ready to evaluate: its condition compiled once into a predicate, its message into a template. */
export interface CompiledRule {
  readonly name: string;
  readonly description: string | undefined;
  /** The rule language it was written in: jpath rule files, or Falco rule files. */
  readonly language: 'jpath' | 'falco';
  readonly condition: string;
  readonly predicate: Predicate;
  readonly message: MessageTemplate;
  readonly priority: Priority;
  readonly tags: readonly string[];
  readonly enabled: boolean;
  readonly source: RuleSource;
  /** When set, the rule cannot fire on an event whose key is not among the values. */
  readonly prefilter?: Prefilter;
}

/** Something wrong in a rule file: where, which rule, and what was expected. */
export interface RuleProblem {
  file: string;
  line?: number;
  column?: number;
  /** The item the problem is in: a rule (the default), or a Falco macro or list. */
  rule?: string;
  kind?: 'rule' | 'macro' | 'list';
  message: string;
}

export function formatProblem(problem: RuleProblem): string {
  const where = problem.line !== undefined ? `${problem.file}:${problem.line}:${problem.column ?? 1}` : problem.file;
  const rule = problem.rule !== undefined ? `${problem.kind ?? 'rule'} ${JSON.stringify(problem.rule)}: ` : '';
  return `${where}: ${rule}${problem.message}`;
}
