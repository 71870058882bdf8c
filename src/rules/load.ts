// Rule files (src/rules/README.md), loaded in order. A file whose top level is a mapping with a `rules:` list
// is a jpath file: an entry with a condition defines a rule, replacing an earlier rule of the same
// name where it stood; an entry without one changes fields of an earlier rule (`enabled: true` on a
// library rule, say). A file whose top level is a sequence is a Falco rule file (falco/): its
// lists, macros and rules combine with those of the other Falco files, as in Falco. Rules of both
// languages are evaluated in the order they were first defined, file by file. Every problem is
// collected with its file, line, column and rule, so one run reports them all.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import { readFalcoFile, type FalcoItem } from './falco/reader.js';
import { compileFalcoRuleset } from './falco/ruleset.js';
import { compileJpath } from './jpath/compile.js';
import { JpathError } from './jpath/errors.js';
import { parsePriority, PRIORITY_HINT, type Priority } from './priority.js';
import type { CompiledRule, RuleProblem, RuleSource } from './rule.js';
import { compileTemplate, TemplateError } from './template.js';

export interface RuleFileText {
  file: string;
  text: string;
}

export interface LoadedRules {
  /** Every rule in evaluation order, enabled or not. */
  rules: CompiledRule[];
  files: string[];
  /** Errors: with any, the rules must not be used. */
  problems: RuleProblem[];
  /** What Falco warns about (unused macros and lists, rules of other sources skipped, unknown keys). */
  warnings: RuleProblem[];
  /** Falco rules of sources other than k8s_audit, loaded and not evaluated. */
  skipped: number;
}

const RULE_KEYS = ['name', 'condition', 'message', 'output', 'priority', 'tags', 'enabled', 'description', 'desc', 'language'] as const;
const CHANGEABLE = 'enabled, priority, tags, message or description';

/** Expands globs in order (each glob's matches sorted); a glob matching nothing is a problem. */
export function expandRuleFiles(patterns: readonly string[], cwd = process.cwd()): { files: string[]; problems: RuleProblem[] } {
  const files: string[] = [];
  const seen = new Set<string>();
  const problems: RuleProblem[] = [];
  for (const pattern of patterns) {
    let matches: string[];
    if (isDynamicPattern(pattern)) {
      matches = globSync(pattern, { cwd, onlyFiles: true, absolute: isAbsolute(pattern) }).sort();
      if (matches.length === 0) problems.push({ file: pattern, message: 'no rule file matches this pattern' });
    } else matches = [pattern];
    for (const file of matches) {
      const key = resolve(cwd, file);
      if (!seen.has(key)) files.push(file);
      seen.add(key);
    }
  }
  return { files, problems };
}

/** Reads and compiles rule files (paths or globs, relative to `cwd`). Never throws on bad input. */
export function loadRuleFiles(patterns: readonly string[], options: { cwd?: string } = {}): LoadedRules {
  const cwd = options.cwd ?? process.cwd();
  const { files, problems } = expandRuleFiles(patterns, cwd);
  const texts: RuleFileText[] = [];
  for (const file of files) {
    try {
      texts.push({ file, text: readFileSync(resolve(cwd, file), 'utf8') });
    } catch (err) {
      problems.push({ file, message: `cannot read the file: ${(err as Error).message}` });
    }
  }
  const loaded = loadRuleTexts(texts);
  return { ...loaded, files, problems: [...problems, ...loaded.problems] };
}

interface Entry {
  name: string;
  source: RuleSource;
  condition?: { text: string; at: Position };
  message?: { text: string; at: Position };
  priority?: Priority;
  tags?: string[];
  enabled?: boolean;
  description?: string;
  /** Some field had a problem: the entry is only checked further, never used. */
  invalid?: boolean;
}

interface Position {
  line: number;
  column: number;
}

/** Compiles rule file texts in order and merges them by name. */
export function loadRuleTexts(texts: readonly RuleFileText[]): LoadedRules {
  const problems: RuleProblem[] = [];
  const warnings: RuleProblem[] = [];
  const order: string[] = [];
  /** Where each jpath rule was first defined: [file index, line]. */
  const firstAt = new Map<string, [number, number]>();
  const rules = new Map<string, CompiledRule>();
  const failed = new Set<string>();
  const falcoItems: FalcoItem[] = [];

  for (const [fileIndex, { file, text }] of texts.entries()) {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const [line, column] = error.linePos?.[0] ? [error.linePos[0].line, error.linePos[0].col] : [1, 1];
        problems.push({ file, line, column, message: `not valid YAML: ${error.message.split('\n')[0]}` });
      }
      continue;
    }
    if (isSeq(doc.contents)) {
      const read = readFalcoFile(file, fileIndex, doc, lineCounter);
      falcoItems.push(...read.items);
      problems.push(...read.problems);
      warnings.push(...read.warnings);
      continue;
    }
    const definedHere = new Map<string, number>();
    for (const entry of parseRuleFile(file, doc, lineCounter, problems)) {
      const at = (p: Position, message: string): RuleProblem => ({ file, line: p.line, column: p.column, rule: entry.name, message });
      if (entry.invalid) {
        // Still read its condition and message, so that one run reports every problem.
        if (entry.condition && entry.message) compileEntry(entry, entry.condition, entry.message, (p, m) => problems.push(at(p, m)));
        else if (entry.condition) checkCondition(entry.condition, (p, m) => problems.push(at(p, m)));
        failed.add(entry.name);
        continue;
      }
      if (entry.condition) {
        const first = definedHere.get(entry.name);
        if (first !== undefined) {
          problems.push(at(entry.source, `defined twice in this file (first at line ${first}); a later file may override it`));
          continue;
        }
        definedHere.set(entry.name, entry.source.line);
        const missing = [entry.message ? undefined : 'message', entry.priority ? undefined : 'priority'].filter((k) => k !== undefined);
        if (missing.length > 0) {
          problems.push(at(entry.source, `expected ${missing.join(' and ')} (a rule needs name, condition, message and priority)`));
          failed.add(entry.name);
          continue;
        }
        const compiled = compileEntry(entry, entry.condition, entry.message!, (p, m) => problems.push(at(p, m)));
        if (!compiled) {
          failed.add(entry.name);
          continue;
        }
        if (!rules.has(entry.name)) {
          order.push(entry.name);
          firstAt.set(entry.name, [fileIndex, entry.source.line]);
        }
        failed.delete(entry.name);
        rules.set(entry.name, compiled);
        continue;
      }
      const earlier = rules.get(entry.name);
      if (!earlier) {
        // A change to a rule whose definition failed was already reported there.
        if (!failed.has(entry.name)) {
          problems.push(at(entry.source, `expected condition (a new rule needs name, condition, message and priority; an entry without a condition changes the ${CHANGEABLE} of a rule loaded before it, and no rule of this name was)`));
        }
        continue;
      }
      let message = earlier.message;
      if (entry.message) {
        try {
          message = compileTemplate(entry.message.text);
        } catch (err) {
          if (!(err instanceof TemplateError)) throw err;
          problems.push(at(entry.message.at, `message, ${err.message}`));
          continue;
        }
      }
      rules.set(entry.name, {
        ...earlier,
        message,
        priority: entry.priority ?? earlier.priority,
        tags: entry.tags ?? earlier.tags,
        enabled: entry.enabled ?? earlier.enabled,
        description: entry.description ?? earlier.description,
      });
    }
  }

  const ordered: { rule: CompiledRule; order: [number, number] }[] = order.map((name) => ({ rule: rules.get(name)!, order: firstAt.get(name)! }));
  let skipped = 0;
  if (falcoItems.length > 0) {
    const falco = compileFalcoRuleset(falcoItems);
    problems.push(...falco.problems);
    warnings.push(...falco.warnings);
    skipped = falco.skipped;
    for (const entry of falco.rules) {
      const jpath = rules.get(entry.rule.name);
      if (jpath) {
        const { file, line, column } = entry.rule.source;
        problems.push({ file, line, column, rule: entry.rule.name, message: `a jpath rule of this name is loaded too (${jpath.source.file}:${jpath.source.line}); rule names must be unique across rule languages` });
        continue;
      }
      ordered.push(entry);
    }
  }
  // Rules of both languages run in the order they were first defined: file by file, then within the file.
  ordered.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
  const fileIndex = new Map(texts.map((t, i) => [t.file, i]));
  const byPlace = (a: RuleProblem, b: RuleProblem): number =>
    (fileIndex.get(a.file) ?? -1) - (fileIndex.get(b.file) ?? -1) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
  return {
    rules: ordered.map((o) => o.rule),
    files: texts.map((t) => t.file),
    problems: problems.sort(byPlace),
    warnings: warnings.sort(byPlace),
    skipped,
  };
}

function checkCondition(condition: { text: string; at: Position }, report: (at: Position, message: string) => void): void {
  try {
    compileJpath(condition.text);
  } catch (err) {
    if (!(err instanceof JpathError)) throw err;
    report(condition.at, `condition, ${err.message}`);
  }
}

function compileEntry(
  entry: Entry,
  condition: { text: string; at: Position },
  message: { text: string; at: Position },
  report: (at: Position, message: string) => void,
): CompiledRule | undefined {
  let predicate;
  let template;
  try {
    predicate = compileJpath(condition.text);
  } catch (err) {
    if (!(err instanceof JpathError)) throw err;
    report(condition.at, `condition, ${err.message}`);
  }
  try {
    template = compileTemplate(message.text);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    report(message.at, `message, ${err.message}`);
  }
  if (!predicate || !template) return undefined;
  return {
    name: entry.name,
    description: entry.description,
    language: 'jpath',
    condition: condition.text,
    predicate,
    message: template,
    priority: entry.priority!,
    tags: entry.tags ?? [],
    enabled: entry.enabled ?? true,
    source: entry.source,
  };
}

/** The entries of one jpath file, in order; problems are appended, and entries with problems marked invalid. */
function parseRuleFile(file: string, doc: Document, lineCounter: LineCounter, problems: RuleProblem[]): Entry[] {
  const pos = (node: Node | Pair | null | undefined): Position => {
    const offset = node && 'range' in node && node.range ? node.range[0] : isPairWithKey(node) ? (node.key as Node).range?.[0] ?? 0 : 0;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problem = (at: Position, message: string, rule?: string): void => {
    problems.push({ file, line: at.line, column: at.column, ...(rule !== undefined ? { rule } : {}), message });
  };

  const root = doc.contents;
  if (!isMap(root)) {
    problem({ line: 1, column: 1 }, root === null ? 'expected a mapping with a rules: list (or, for a Falco rule file, a list of rule, macro and list items), found an empty file' : 'expected a mapping with a rules: list');
    return [];
  }
  let rulesNode: unknown;
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (key === 'rules') rulesNode = pair.value;
    else problem(pos(pair.key as Node), `unknown key ${JSON.stringify(String(key))}; expected rules`);
  }
  if (rulesNode === undefined) {
    problem(pos(root), 'expected a rules: list');
    return [];
  }
  if (rulesNode === null || (isScalar(rulesNode) && rulesNode.value === null)) return [];
  if (!isSeq(rulesNode)) {
    problem(pos(rulesNode as Node), 'rules: expected a list of rules');
    return [];
  }

  const entries: Entry[] = [];
  for (const item of rulesNode.items) {
    const itemAt = pos(item as Node);
    if (!isMap(item)) {
      problem(itemAt, 'expected a rule: a mapping with name, condition, message and priority');
      continue;
    }
    const nameNode = item.get('name', true);
    const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value.trim() : undefined;
    if (!name) {
      problem(nameNode ? pos(nameNode) : itemAt, 'expected name: a non-empty string');
      continue;
    }
    const entry: Entry = { name, source: { file, ...itemAt } };
    let ok = true;
    let otherLanguage = false;
    const bad = (node: Node | null | undefined, message: string): void => {
      problem(pos(node), message, name);
      ok = false;
    };
    for (const pair of item.items) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      const value = pair.value as Node | null;
      const at = pos(value ?? keyNode);
      const text = isScalar(value) && typeof value.value === 'string' ? value.value : undefined;
      switch (key) {
        case 'name':
          break;
        case 'condition':
          if (text === undefined || text.trim() === '') bad(value ?? keyNode, `condition: expected a jpath condition as a string, found ${found(value)}`);
          else entry.condition = { text, at };
          break;
        case 'message':
        case 'output':
          if (entry.message) bad(keyNode, 'expected message or output, not both');
          else if (text === undefined) bad(value ?? keyNode, `${key}: expected a message as a string, found ${found(value)}`);
          else entry.message = { text: text.replace(/\n$/, ''), at };
          break;
        case 'priority': {
          const priority = text === undefined ? undefined : parsePriority(text);
          if (!priority) bad(value ?? keyNode, `priority: expected ${PRIORITY_HINT}, found ${found(value)}`);
          else entry.priority = priority;
          break;
        }
        case 'tags':
          if (!isSeq(value) || !value.items.every((t) => isScalar(t) && typeof t.value === 'string' && t.value.trim() !== '')) {
            bad(value ?? keyNode, `tags: expected a list of non-empty strings, such as [k8s, rbac], found ${found(value)}`);
          } else entry.tags = value.items.map((t) => String((t as { value: string }).value));
          break;
        case 'enabled':
          if (!isScalar(value) || typeof value.value !== 'boolean') bad(value ?? keyNode, `enabled: expected true or false, found ${found(value)}`);
          else entry.enabled = value.value;
          break;
        case 'description':
        case 'desc':
          if (text === undefined) bad(value ?? keyNode, `${key}: expected a string, found ${found(value)}`);
          else entry.description = text.trim();
          break;
        case 'language':
          otherLanguage = text !== 'jpath';
          if (text === 'falco') bad(value, 'language: falco rules are written in Falco rule files (a top-level list of - rule:, - macro: and - list: items), not in a rules: list; expected jpath');
          else if (text !== 'jpath') bad(value ?? keyNode, `language: expected jpath, found ${found(value)}`);
          break;
        default:
          bad(keyNode, `unknown key ${JSON.stringify(String(key))}; expected one of ${RULE_KEYS.join(', ')}`);
      }
    }
    // A condition in another language is not read as jpath.
    if (otherLanguage) delete entry.condition;
    if (!ok) entry.invalid = true;
    entries.push(entry);
  }
  return entries;
}

function isPairWithKey(node: unknown): node is Pair {
  return typeof node === 'object' && node !== null && 'key' in node;
}

function found(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return 'something else';
  }
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  return 'something else';
}
