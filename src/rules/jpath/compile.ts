import { allOf, anyOf, negate, noValue, someValue, type Predicate } from '../predicate.js';
import { containsTest, equalsTest, inTest, orderTest, startsWithTest } from '../values.js';
import { parseCondition, type Condition } from './parser.js';

/** Parses and compiles a jpath condition; throws JpathError with line, column and what was expected. */
export function compileJpath(text: string): Predicate {
  return toPredicate(parseCondition(text));
}

export function toPredicate(condition: Condition): Predicate {
  switch (condition.kind) {
    case 'and':
      return allOf(chain(condition, 'and').map(toPredicate));
    case 'or':
      return anyOf(chain(condition, 'or').map(toPredicate));
    case 'not':
      return negate(toPredicate(condition.operand));
    case 'in':
      return someValue(condition.path.field, inTest(condition.literals));
    case 'compare': {
      const { field } = condition.path;
      const { literal } = condition;
      switch (condition.op) {
        case '=':
          return someValue(field, equalsTest(literal));
        case '!=':
          // "no element equals", so a missing path is != anything.
          return noValue(field, equalsTest(literal));
        case 'contains':
          return someValue(field, containsTest(literal));
        case 'startswith':
          return someValue(field, startsWithTest(literal));
        default:
          return someValue(field, orderTest(condition.op, literal));
      }
    }
  }
}

/** a and b and c parses as ((a and b) and c); one flat list evaluates with fewer calls. */
function chain(condition: Condition, kind: 'and' | 'or', out: Condition[] = []): Condition[] {
  if (condition.kind === kind) {
    chain(condition.left, kind, out);
    chain(condition.right, kind, out);
  } else out.push(condition);
  return out;
}
