// Evaluates an ordered rule list on events. Rules are tried in order; with `first` (Prisma's and
// Falco's default) the first matching enabled rule is the only one that fires for an event.
import type { CompiledRule, Matching, PrefilterKey } from './rule.js';
import { withEvaluation } from './scope.js';

const NONE: readonly CompiledRule[] = Object.freeze([]);

export class RuleEngine {
  readonly rules: readonly CompiledRule[];
  private readonly index: RuleIndex | undefined;

  /** `rules` in evaluation order; only the enabled ones are kept. */
  constructor(
    rules: readonly CompiledRule[],
    readonly matching: Matching = 'first',
  ) {
    this.rules = rules.filter((r) => r.enabled);
    this.index = RuleIndex.of(this.rules);
  }

  /** The rules that fire for one event, in rule order (empty, shared, when none does). */
  match(event: unknown): readonly CompiledRule[] {
    // One scope per event: fields and texts several rules read are computed once (scope.ts).
    return withEvaluation(() => this.evaluate(event));
  }

  private evaluate(event: unknown): readonly CompiledRule[] {
    const rules = this.index ? this.index.candidates(event) : this.rules;
    let fired: CompiledRule[] | undefined;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!rule.predicate(event)) continue;
      if (this.matching === 'first') return [rule];
      (fired ??= []).push(rule);
    }
    return fired ?? NONE;
  }
}

/**
 * The rules worth trying on an event, by the one prefilter key the rules share (prefilter in
 * rule.ts): for each key value, the rules that declare it or declare nothing, in rule order. A rule
 * is skipped only where its own declaration says it cannot fire, so the result is the same as
 * trying every rule, in the same order.
 */
class RuleIndex {
  private constructor(
    private readonly key: PrefilterKey,
    private readonly byValue: ReadonlyMap<string, readonly CompiledRule[]>,
    private readonly unfiltered: readonly CompiledRule[],
  ) {}

  static of(rules: readonly CompiledRule[]): RuleIndex | undefined {
    const keys = new Set(rules.flatMap((r) => (r.prefilter ? [r.prefilter.key] : [])));
    // Indexing pays when rules share one key; with none (or mixed keys, which no front end makes) every rule is tried.
    if (keys.size !== 1) return undefined;
    const key = keys.values().next().value!;
    const values = new Set(rules.flatMap((r) => (r.prefilter ? [...r.prefilter.values] : [])));
    const byValue = new Map<string, CompiledRule[]>();
    for (const value of values) byValue.set(value, rules.filter((r) => !r.prefilter || r.prefilter.values.has(value)));
    return new RuleIndex(key, byValue, rules.filter((r) => !r.prefilter));
  }

  candidates(event: unknown): readonly CompiledRule[] {
    const value = this.key.read(event);
    return (value === undefined ? undefined : this.byValue.get(value)) ?? this.unfiltered;
  }
}

/**
 * Turns on rules shipped disabled: "all", a rule name, or "tag:TAG". A selector that names no
 * rule is a problem (a typo would otherwise leave a detection silently off).
 */
export function enableRules(rules: readonly CompiledRule[], selectors: readonly string[]): { rules: CompiledRule[]; problems: string[] } {
  const problems: string[] = [];
  const chosen = new Set<CompiledRule>();
  for (const selector of selectors) {
    let matched: CompiledRule[];
    if (selector === 'all') matched = [...rules];
    else if (selector.startsWith('tag:')) {
      const tag = selector.slice(4);
      matched = rules.filter((r) => r.tags.includes(tag));
      if (matched.length === 0) problems.push(`enable ${JSON.stringify(selector)}: no rule has the tag ${JSON.stringify(tag)}`);
    } else {
      matched = rules.filter((r) => r.name === selector);
      if (matched.length === 0) problems.push(`enable ${JSON.stringify(selector)}: no rule has this name (expected all, a rule name or tag:TAG)`);
    }
    for (const rule of matched) chosen.add(rule);
  }
  return { rules: rules.map((r) => (chosen.has(r) && !r.enabled ? { ...r, enabled: true } : r)), problems };
}
