// Reads one Falco rule file (a YAML sequence of items) into typed items with their positions. It
// checks each item's shape only; what items mean together (appends, overrides, macros, fields) is
// ruleset.ts's work, across every file loaded.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { parsePriority, PRIORITY_HINT, type Priority } from '../priority.js';
import type { RuleProblem } from '../rule.js';
import type { PluginRequirement } from './versions.js';

export interface Pos {
  line: number;
  column: number;
}

/** Where an item came from: the file's name and its place in the load order. */
export interface Origin {
  file: string;
  fileIndex: number;
  itemIndex: number;
}

export interface TextAt {
  text: string;
  at: Pos;
}

export type OverrideAction = 'append' | 'replace';

export interface ExceptionSpec {
  name: string;
  /** One field (values are then items of one list) or several (values are then tuples). */
  fields?: string | string[];
  comps?: string | string[];
  values?: unknown[];
  at: Pos;
}

interface ItemBase {
  name: string;
  origin: Origin;
  at: Pos;
  /** Keys written in the item, besides its type key. */
  keys: ReadonlySet<string>;
  append: boolean;
  override?: ReadonlyMap<string, { action: OverrideAction; at: Pos }>;
}

export interface ListItem extends ItemBase {
  type: 'list';
  items?: string[];
  itemsAt?: Pos;
}

export interface MacroItem extends ItemBase {
  type: 'macro';
  condition?: TextAt;
}

export interface RuleItem extends ItemBase {
  type: 'rule';
  condition?: TextAt;
  output?: TextAt;
  desc?: TextAt;
  priority?: Priority;
  source?: string;
  tags?: string[];
  enabled?: boolean;
  exceptions?: ExceptionSpec[];
  skipIfUnknownFilter?: boolean;
}

export type DefinitionItem = ListItem | MacroItem | RuleItem;

export type FalcoItem =
  | DefinitionItem
  | { type: 'required_engine_version'; value: unknown; origin: Origin; at: Pos }
  | { type: 'required_plugin_versions'; requirements: { alternatives: PluginRequirement[]; at: Pos }[]; origin: Origin; at: Pos };

const RULE_KEYS = new Set([
  'rule',
  'desc',
  'condition',
  'output',
  'priority',
  'source',
  'tags',
  'enabled',
  'exceptions',
  'append',
  'override',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'capture',
  'capture_duration',
]);
const MACRO_KEYS = new Set(['macro', 'condition', 'append', 'override']);
const LIST_KEYS = new Set(['list', 'items', 'append', 'override']);

export interface ReadResult {
  items: FalcoItem[];
  problems: RuleProblem[];
  warnings: RuleProblem[];
}

/** The items of a parsed Falco rule file whose top level is a sequence. */
export function readFalcoFile(file: string, fileIndex: number, doc: Document, lineCounter: LineCounter): ReadResult {
  const result: ReadResult = { items: [], problems: [], warnings: [] };
  const pos = (node: unknown): Pos => {
    const range = node && typeof node === 'object' && 'range' in node ? (node as Node).range : undefined;
    const { line, col } = lineCounter.linePos(range?.[0] ?? 0);
    return { line, column: col };
  };
  const root = doc.contents;
  if (!isSeq(root)) return result;
  for (const [itemIndex, item] of root.items.entries()) {
    const at = pos(item);
    const origin: Origin = { file, fileIndex, itemIndex };
    const report = (into: RuleProblem[], where: Pos, message: string, context?: { kind: 'rule' | 'macro' | 'list'; name: string }): void => {
      into.push({ file, line: where.line, column: where.column, ...(context ? { rule: context.name, kind: context.kind } : {}), message });
    };
    if (!isMap(item)) {
      report(result.problems, at, 'Unexpected element type. Each element should be a yaml associative array.');
      continue;
    }
    if (item.has('required_engine_version')) {
      const node = item.get('required_engine_version', true);
      result.items.push({ type: 'required_engine_version', value: isScalar(node) ? node.value : undefined, origin, at: pos(node ?? item) });
      continue;
    }
    if (item.has('required_plugin_versions')) {
      const requirements = readPluginRequirements(item.get('required_plugin_versions', true), pos, (where, m) => report(result.problems, where, m));
      result.items.push({ type: 'required_plugin_versions', requirements, origin, at });
      continue;
    }
    const type = (['list', 'macro', 'rule'] as const).find((t) => item.has(t));
    if (!type) {
      const keys = item.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '?')).join(', ');
      report(result.warnings, at, `Unknown top level item (keys: ${keys}), ignored`);
      continue;
    }
    const nameNode = item.get(type, true);
    const name = (isScalar(nameNode) ? scalarText(nameNode.value) : undefined)?.trim() ?? '';
    if (!name) {
      report(result.problems, pos(nameNode ?? item), `${capitalize(type)} name is empty`);
      continue;
    }
    const context = { kind: type, name };
    const problem = (where: Pos, message: string): void => report(result.problems, where, message, context);
    const warning = (where: Pos, message: string): void => report(result.warnings, where, message, context);
    const allowed = type === 'rule' ? RULE_KEYS : type === 'macro' ? MACRO_KEYS : LIST_KEYS;
    const keys = new Set<string>();
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (key === type) continue;
      keys.add(key);
      if (!allowed.has(key)) warning(pos(pair.key), `Unexpected key '${key}', ignored`);
    }
    let ok = true;
    const bad = (node: unknown, message: string): void => {
      problem(pos(node ?? item), message);
      ok = false;
    };
    const get = (key: string): Node | null | undefined => item.get(key, true);
    const text = (key: string): TextAt | undefined => {
      const node = get(key);
      if (node === undefined) return undefined;
      const value = isScalar(node) ? scalarText(node.value) : undefined;
      if (value === undefined) {
        bad(node, `${key}: expected text`);
        return undefined;
      }
      return { text: value, at: pos(node) };
    };
    const bool = (key: string): boolean | undefined => {
      const node = get(key);
      if (node === undefined) return undefined;
      if (!isScalar(node) || typeof node.value !== 'boolean') {
        bad(node, `${key}: expected true or false`);
        return undefined;
      }
      return node.value;
    };
    const append = bool('append') ?? false;
    const override = readOverride(get('override'), pos, bad);
    const base = { name, origin, at, keys, append, ...(override ? { override } : {}) };

    if (type === 'list') {
      const node = get('items');
      let items: string[] | undefined;
      if (node !== undefined) {
        const texts = isSeq(node) ? node.items.map((i) => (isScalar(i) ? scalarText(i.value) : undefined)) : undefined;
        if (texts?.every((t) => t !== undefined)) items = texts;
        else bad(node, 'items: expected a list of values');
      }
      if (!/^[a-zA-Z]+[a-zA-Z0-9_]*$/.test(name) && ok) warning(at, 'List has an invalid name. List names should match a regular expression: [a-zA-Z]+[a-zA-Z0-9_]*');
      if (ok) result.items.push({ type: 'list', ...base, ...(items ? { items, itemsAt: pos(node) } : {}) });
      continue;
    }
    if (type === 'macro') {
      const condition = text('condition');
      if (!/^[a-zA-Z]+[a-zA-Z0-9_]*$/.test(name) && ok) warning(at, 'Macro has an invalid name. Macro names should match a regular expression: [a-zA-Z]+[a-zA-Z0-9_]*');
      if (ok) result.items.push({ type: 'macro', ...base, ...(condition ? { condition } : {}) });
      continue;
    }
    const rule: RuleItem = { type: 'rule', ...base };
    const condition = text('condition');
    const output = text('output');
    const desc = text('desc');
    if (condition) rule.condition = condition;
    // A folded or literal block ends with a newline that is not part of the output.
    if (output) rule.output = { text: output.text.trim(), at: output.at };
    if (desc) rule.desc = { text: desc.text.trim(), at: desc.at };
    const priorityNode = get('priority');
    if (priorityNode !== undefined) {
      const priority = isScalar(priorityNode) && typeof priorityNode.value === 'string' ? parsePriority(priorityNode.value) : undefined;
      if (priority) rule.priority = priority;
      else bad(priorityNode, `priority: expected ${PRIORITY_HINT}, found ${isScalar(priorityNode) ? JSON.stringify(priorityNode.value) : 'something else'}`);
    }
    const source = text('source');
    if (source) rule.source = source.text.trim();
    const tagsNode = get('tags');
    if (tagsNode !== undefined) {
      const tags = isSeq(tagsNode) ? tagsNode.items.map((t) => (isScalar(t) ? scalarText(t.value) : undefined)) : undefined;
      if (tags?.every((t) => t !== undefined)) rule.tags = tags;
      else bad(tagsNode, 'tags: expected a list of tags');
    }
    const enabled = bool('enabled');
    if (enabled !== undefined) rule.enabled = enabled;
    const skip = bool('skip-if-unknown-filter');
    if (skip !== undefined) rule.skipIfUnknownFilter = skip;
    bool('warn_evttypes');
    const exceptionsNode = get('exceptions');
    if (exceptionsNode !== undefined) {
      const exceptions = readExceptions(exceptionsNode, pos, bad);
      if (exceptions) rule.exceptions = exceptions;
    }
    if (ok) result.items.push(rule);
  }
  return result;
}

/** A YAML scalar as text (`80`, `true` as written), or undefined for null and non-scalars. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

function capitalize(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}

function readOverride(node: Node | null | undefined, pos: (n: unknown) => Pos, bad: (n: unknown, m: string) => void): Map<string, { action: OverrideAction; at: Pos }> | undefined {
  if (node === undefined) return undefined;
  if (!isMap(node)) {
    bad(node, 'override: expected a mapping of keys to append or replace');
    return undefined;
  }
  const out = new Map<string, { action: OverrideAction; at: Pos }>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (value !== 'append' && value !== 'replace') bad(pair.value ?? pair.key, `override: ${key}: expected append or replace`);
    else out.set(key, { action: value, at: pos(pair.key) });
  }
  return out;
}

function readPluginRequirements(node: unknown, pos: (n: unknown) => Pos, bad: (where: Pos, m: string) => void): { alternatives: PluginRequirement[]; at: Pos }[] {
  if (!isSeq(node)) {
    bad(pos(node), 'required_plugin_versions: expected a list of {name, version}');
    return [];
  }
  const out: { alternatives: PluginRequirement[]; at: Pos }[] = [];
  for (const entry of node.items) {
    const read = (m: unknown): PluginRequirement | undefined => {
      if (!isMap(m)) return undefined;
      const name = m.get('name');
      const version = m.get('version');
      if (typeof name !== 'string' || (typeof version !== 'string' && typeof version !== 'number')) return undefined;
      return { name, version: String(version) };
    };
    const main = read(entry);
    if (!main) {
      bad(pos(entry), 'required_plugin_versions: each entry needs name and version');
      continue;
    }
    const alternatives = [main];
    const alts = isMap(entry) ? entry.get('alternatives', true) : undefined;
    if (isSeq(alts)) {
      for (const alt of alts.items) {
        const r = read(alt);
        if (r) alternatives.push(r);
        else bad(pos(alt), 'required_plugin_versions: each alternative needs name and version');
      }
    }
    out.push({ alternatives, at: pos(entry) });
  }
  return out;
}

function readExceptions(node: Node | null, pos: (n: unknown) => Pos, bad: (n: unknown, m: string) => void): ExceptionSpec[] | undefined {
  if (!isSeq(node)) {
    bad(node, 'exceptions: expected a list of exceptions');
    return undefined;
  }
  const out: ExceptionSpec[] = [];
  for (const entry of node.items) {
    if (!isMap(entry)) {
      bad(entry, 'exceptions: each exception is a mapping with name, fields, comps and values');
      continue;
    }
    const name = entry.get('name');
    if (typeof name !== 'string' || name === '') {
      bad(entry, "exceptions: Item has no mapping for key 'name'");
      continue;
    }
    const spec: ExceptionSpec = { name, at: pos(entry) };
    const json = (key: string): unknown => {
      const v = entry.get(key, true) as Node | undefined;
      return v === undefined || v === null ? undefined : (v as { toJSON(): unknown }).toJSON();
    };
    const stringOrList = (key: 'fields' | 'comps'): void => {
      const v = json(key);
      if (v === undefined) return;
      if (typeof v === 'string') spec[key] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) spec[key] = v;
      else bad(entry.get(key, true), `exception '${name}': ${key}: expected a field or a list of fields`);
    };
    stringOrList('fields');
    stringOrList('comps');
    const values = json('values');
    if (values !== undefined) {
      if (Array.isArray(values)) spec.values = values;
      else bad(entry.get('values', true), `exception '${name}': values: expected a list`);
    }
    out.push(spec);
  }
  return out;
}
