// Drop and keep filters: lists of jpath conditions (the rule engine's language). An event goes on
// when it matches some `keep` condition (or `keep` is empty) and no `drop` condition.
import type { AuditEvent } from '../event/event.js';
import { compileJpath } from '../rules/jpath/compile.js';
import { JpathError } from '../rules/jpath/errors.js';
import { anyOf, type Predicate } from '../rules/predicate.js';

export interface FilterConfig {
  drop: readonly string[];
  keep: readonly string[];
}

export interface EventFilter {
  /** True when the event goes on. */
  (event: AuditEvent): boolean;
}

/** Compiles both lists; every condition that cannot be read is a problem naming its entry (`drop[1]: line 1, column 9: …`). */
export function compileFilter(config: FilterConfig): { filter: EventFilter | undefined; problems: string[] } {
  const problems: string[] = [];
  const compile = (list: readonly string[], name: string): Predicate[] =>
    list.flatMap((text, i) => {
      try {
        return [compileJpath(text)];
      } catch (err) {
        if (!(err instanceof JpathError)) throw err;
        problems.push(`${name}[${i}]: ${err.message}`);
        return [];
      }
    });
  const drop = compile(config.drop, 'drop');
  const keep = compile(config.keep, 'keep');
  if (problems.length > 0) return { filter: undefined, problems };
  if (drop.length === 0 && keep.length === 0) return { filter: undefined, problems };
  const dropAny = anyOf(drop);
  if (keep.length === 0) return { filter: (event) => !dropAny(event), problems };
  const keepAny = anyOf(keep);
  return { filter: (event) => keepAny(event) && !dropAny(event), problems };
}
