// Which resources a rule can fire on, read from its condition: most of Falco's k8s_audit rules say
// `ka.target.resource=pods` (or configmaps, or roles…) somewhere in a chain of `and`s, directly or
// through macros. The engine then tries, per event, only the rules that can fire on its resource,
// as Falco indexes its rules by event type. The reading is conservative: anything it cannot see
// through (a `not`, an `or` with an unconstrained side) counts as "any resource".
import type { Prefilter, PrefilterKey } from '../rule.js';
import type { Expr } from './ast.js';
import { FIELDS } from './fields.js';

const RESOURCE_FIELD = 'ka.target.resource';
const readResource = FIELDS.get(RESOURCE_FIELD)!.extractor(undefined) as (event: unknown) => string | undefined;

/** One key for every Falco rule set, so that rules of several loads share one index. */
export const RESOURCE_KEY: PrefilterKey = { name: RESOURCE_FIELD, read: readResource };

type Resources = ReadonlySet<string> | 'any';

/**
 * The resources a condition can hold for (a necessary condition on ka.target.resource), or
 * undefined when it can hold for any. `macro` gives a macro's parsed condition; `list` a list's items.
 */
export function resourcePrefilter(expr: Expr, macro: (name: string) => Expr | null | undefined, list: (name: string) => readonly string[] | undefined): Prefilter | undefined {
  const seen = new Set<string>();
  const walk = (e: Expr): Resources => {
    switch (e.kind) {
      case 'and': {
        let out: Resources = 'any';
        for (const child of e.children) {
          const r = walk(child);
          if (r === 'any') continue;
          if (out === 'any') out = r;
          else {
            const both = new Set<string>();
            for (const v of out) if (r.has(v)) both.add(v);
            out = both;
          }
        }
        return out;
      }
      case 'or': {
        const union = new Set<string>();
        for (const child of e.children) {
          const r = walk(child);
          if (r === 'any') return 'any';
          for (const v of r) union.add(v);
        }
        return union;
      }
      case 'identifier': {
        const body = macro(e.name);
        if (!body || seen.has(e.name)) return 'any';
        seen.add(e.name);
        const r = walk(body);
        seen.delete(e.name);
        return r;
      }
      case 'compare': {
        if (e.field.name !== RESOURCE_FIELD || e.field.arg !== undefined) return 'any';
        if (e.op === '=' && e.operand.kind === 'value') return new Set([e.operand.value.text]);
        if ((e.op === 'in' || e.op === 'intersects') && e.operand.kind === 'list') {
          const values = new Set<string>();
          for (const item of e.operand.items) for (const v of list(item.text) ?? [item.text]) values.add(v);
          return values;
        }
        return 'any';
      }
      default:
        return 'any';
    }
  };
  const resources = walk(expr);
  return resources === 'any' ? undefined : { key: RESOURCE_KEY, values: resources };
}
