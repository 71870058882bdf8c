// Turns schema issues into messages that name the key path, the value found and what is expected.
import type { z } from 'zod';
import { describe } from '../event/event.js';

export interface ConfigProblem {
  path: (string | number)[];
  /** What is expected (or a complete sentence when `complete` is set). */
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out || '(top level)';
}

// Keys whose values are credentials: a problem with one says what is wrong but never shows the value.
const SECRET_KEY = /^(password|secret|token|clientSecret|connectionString|sharedAccessKey|apiKey|secretAccessKey|sessionToken)$/i;

/** True for a path whose value may be a credential: a secret-named key, or any static header (Authorization, X-Api-Key). */
export function isSecretPath(path: readonly PropertyKey[]): boolean {
  const last = path[path.length - 1];
  return (typeof last === 'string' && SECRET_KEY.test(last)) || path.includes('headers');
}

/** "got VALUE" for a message; a credential's value is described by its type and length only. */
function gotAt(input: unknown, path: readonly PropertyKey[]): string {
  const value = valueAt(input, path);
  if (!isSecretPath(path) || value === undefined || value === null) return `got ${describe(value)}`;
  return typeof value === 'string' ? `got a string of ${value.length} characters (not shown)` : `got ${typeof value === 'object' ? describe(value) : `a ${typeof value}`} (not shown)`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/**
 * One line per issue: `path: got VALUE; expected WHAT`. Unknown keys get a "did you mean"
 * when a known key is close. `knownKeys` tells, for a path, which keys the schema accepts there.
 */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  knownKeys: (path: readonly PropertyKey[]) => readonly string[],
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = issue.path;
    const got = gotAt(input, path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const suggestion = closest(key, knownKeys(path));
          const hint = suggestion ? `did you mean "${suggestion}"?` : `known keys here: ${knownKeys(path).join(', ')}`;
          lines.push(`${formatPath([...path, key])}: unknown key; ${hint}`);
        }
        break;
      case 'invalid_union': {
        const options = (issue as { options?: unknown[] }).options;
        const custom = !issue.message.startsWith('Invalid input') ? issue.message : undefined;
        const expected = options ? `one of ${options.map((o) => JSON.stringify(o)).join(', ')}` : (custom ?? 'one of the documented forms');
        lines.push(`${formatPath(path)}: ${got}; expected ${expected}`);
        break;
      }
      case 'invalid_type': {
        const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
        // A custom message on the schema says more than the type name.
        const custom = !issue.message.startsWith('Invalid input') ? issue.message : expected;
        lines.push(`${formatPath(path)}: ${got}; expected ${custom}`);
        break;
      }
      case 'invalid_value':
        lines.push(`${formatPath(path)}: ${got}; expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`);
        break;
      case 'too_small':
      case 'too_big': {
        const custom = !/^Too (small|big)/.test(issue.message);
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const rel = issue.code === 'too_small' ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
        const expected = custom
          ? issue.message
          : issue.origin === 'array'
            ? `a list with ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} item${Number(bound) === 1 ? '' : 's'}`
            : issue.origin === 'string'
              ? `a string of ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} characters`
              : `a number ${rel} ${String(bound)}`;
        lines.push(`${formatPath(path)}: ${got}; expected ${expected}`);
        break;
      }
      case 'custom':
        lines.push(
          (issue.params as { complete?: boolean } | undefined)?.complete
            ? `${formatPath(path)}: ${issue.message}`
            : `${formatPath(path)}: ${got}; expected ${issue.message}`,
        );
        break;
      default:
        lines.push(`${formatPath(path)}: ${got}; expected ${issue.message}`);
    }
  }
  return lines;
}

/** The known key nearest to `key` by edit distance, when it is close enough to be a typo. */
export function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
