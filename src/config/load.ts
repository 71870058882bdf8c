import { readFile } from 'node:fs/promises';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { substituteEnv, typedAs } from './env.js';
import { ConfigError, formatIssues, formatPath, type ConfigProblem } from './errors.js';
import { knownKeysAt, scalarTypeAt } from './keys.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  config: Config;
  file: string;
}

/** Reads, substitutes and validates a config file; throws ConfigError listing every problem. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return { config: parseConfig(text, file, env), file };
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.slice(0, 10).map((e) => {
        const pos = e.linePos?.[0];
        let message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        // The YAML parser recurses per level: a document nested this deep is not a configuration.
        if (/call stack/i.test(message)) message = 'the document nests too deeply to be a configuration';
        return `${pos ? `line ${pos.line}, column ${pos.col}` : 'YAML'}: ${message}`;
      }),
    );
  }
  let raw: unknown;
  try {
    // maxAliasCount bounds what aliases may expand to (a "billion laughs" document stops here).
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(file, [`YAML: ${err instanceof ReferenceError ? 'aliases expand to too much data; write the values out instead of nesting aliases' : (err as Error).message}`]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, ['(top level): expected a mapping with at least "sources" and "sinks"']);
  }

  const envProblems: ConfigProblem[] = [];
  const substituted = substituteEnv(raw, env, envProblems);
  const input = substituted.value;
  for (const path of substituted.wholeReferences) setAt(input, path, (text) => typedAs(text, scalarTypeAt(configSchema, input, path)));
  const lines = envProblems.map((p) => `${formatPath(p.path)}: ${p.message}`);
  lines.push(...duplicateNames(input));

  const result = configSchema.safeParse(input);
  if (!result.success) {
    lines.push(...formatIssues(result.error.issues, input, (path) => knownKeysAt(configSchema, input, path)));
  }
  if (lines.length > 0) throw new ConfigError(file, withLines(lines, doc.contents, lineCounter));
  return result.data!;
}

function setAt(root: unknown, path: readonly (string | number)[], change: (text: string) => unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  node[last] = change(node[last] as string);
}

// Checked on the raw input so the report is complete even when other fields are wrong too
// (zod skips object-level refinements once a field has failed).
function duplicateNames(input: unknown): string[] {
  const lines: string[] = [];
  for (const list of ['sources', 'sinks'] as const) {
    const items = (input as Record<string, unknown>)[list];
    if (!Array.isArray(items)) continue;
    const seen = new Map<string, number>();
    items.forEach((item: unknown, index) => {
      const name = (item as { name?: unknown } | null)?.name;
      if (typeof name !== 'string') return;
      const first = seen.get(name);
      if (first === undefined) seen.set(name, index);
      else lines.push(`${list}[${index}].name: got "${name}"; expected a name not used by another entry (${list}[${first}] has it)`);
    });
  }
  return lines;
}

/** Appends the YAML line of each problem's key, so the user can find it in a long file. */
function withLines(lines: string[], root: unknown, counter: LineCounter): string[] {
  return lines.map((line) => {
    const pathText = line.slice(0, line.indexOf(':'));
    const node = nodeAt(root as Node | null, parsePathText(pathText));
    if (!node?.range) return line;
    const pos = counter.linePos(node.range[0]);
    return `${line} (line ${pos.line})`;
  });
}

function parsePathText(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(`"${m[3]}"`) as string);
  }
  return out;
}

function nodeAt(node: Node | null, path: (string | number)[]): Node | null {
  let current: Node | null = node;
  let last: Node | null = node;
  for (const segment of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => (p.key as { value?: unknown } | null)?.value === segment);
      if (!pair) return last === node ? null : last;
      current = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(current) && typeof segment === 'number') {
      current = (current.items[segment] as Node | undefined) ?? null;
    } else return last === node ? null : last;
    if (current) last = current;
  }
  return current;
}
