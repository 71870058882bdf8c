// Falco rule files loaded together, as Falco loads them: items apply in order across the files
// (a later list, macro or rule of the same name replaces the earlier one where it stood; `append:
// true` and `override:` extend or replace parts of it), then lists are expanded, macros parsed and
// every k8s_audit rule compiled with its exceptions and output. Rules of other sources are kept out,
// as Falco skips them when their source is not loaded. Pure: texts in, rules and problems out.
import type { Predicate } from '../predicate.js';
import { allOf, negate } from '../predicate.js';
import type { Priority } from '../priority.js';
import type { CompiledRule, RuleProblem } from '../rule.js';
import { LIST_OPERATORS, type BinaryOperator, type Expr, type Operand } from './ast.js';
import { CompileError, ConditionCompiler, FieldReaders, MacroError, type CompileScope } from './compile.js';
import { FalcoConditionError } from './errors.js';
import { compileOutput } from './output.js';
import { parseCondition, parseFieldRef } from './parser.js';
import { resourcePrefilter } from './prefilter.js';
import type { DefinitionItem, ExceptionSpec, FalcoItem, ListItem, MacroItem, Origin, OverrideAction, Pos, RuleItem, TextAt } from './reader.js';
import { engineVersionProblem, pluginRequirementProblem } from './versions.js';

/** The only event source the bridge has. */
export const SOURCE = 'k8s_audit';

export interface FalcoRuleset {
  /** Compiled k8s_audit rules, in order of first definition, each with that place (file, item). */
  rules: { rule: CompiledRule; order: [number, number] }[];
  problems: RuleProblem[];
  warnings: RuleProblem[];
  /** Rules of other sources, loaded and skipped. */
  skipped: number;
}

/** A condition or output grown by appends: where each piece of its text was written. */
interface Pieces {
  text: string;
  pieces: { from: number; file: string; at: Pos }[];
}

interface ListState {
  items: string[];
  origin: Origin;
  at: Pos;
}

interface MacroState {
  condition: Pieces;
  origin: Origin;
  at: Pos;
}

interface ExceptionState extends ExceptionSpec {
  file: string;
}

interface RuleState {
  name: string;
  condition: Pieces;
  output: Pieces;
  desc: string;
  priority: Priority;
  source: string;
  tags: string[];
  enabled: boolean;
  exceptions: ExceptionState[];
  skipIfUnknownFilter: boolean;
  origin: Origin;
  at: Pos;
  /** Where it was first defined: its place in the evaluation order. */
  first: Origin;
}

const RULE_APPENDABLE = new Set(['condition', 'output', 'desc', 'tags', 'exceptions']);
const RULE_REPLACEABLE = new Set(['condition', 'output', 'desc', 'priority', 'tags', 'exceptions', 'enabled', 'warn_evttypes', 'skip-if-unknown-filter']);
const OPERATORS: ReadonlySet<string> = new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'in', 'intersects', 'pmatch']);

function pieces(text: TextAt, file: string): Pieces {
  return { text: text.text, pieces: [{ from: 0, file, at: text.at }] };
}

function appended(base: Pieces, addition: TextAt, file: string): Pieces {
  return { text: `${base.text} ${addition.text}`, pieces: [...base.pieces, { from: base.text.length + 1, file, at: addition.at }] };
}

/** Compiles the items of every Falco file loaded, in load order. */
export function compileFalcoRuleset(items: readonly FalcoItem[]): FalcoRuleset {
  const problems: RuleProblem[] = [];
  const warnings: RuleProblem[] = [];
  const lists = new Map<string, ListState>();
  const macros = new Map<string, MacroState>();
  const rules = new Map<string, RuleState>();

  const report = (into: RuleProblem[], file: string, at: Pos, message: string, item?: { kind: 'rule' | 'macro' | 'list'; name: string }): void => {
    into.push({ file, line: at.line, column: at.column, ...(item ? { kind: item.kind, rule: item.name } : {}), message });
  };

  for (const item of items) {
    const file = item.origin.file;
    if (item.type === 'required_engine_version') {
      const problem = engineVersionProblem(item.value);
      if (problem) report(problems, file, item.at, problem);
      continue;
    }
    if (item.type === 'required_plugin_versions') {
      for (const requirement of item.requirements) {
        const result = pluginRequirementProblem(requirement.alternatives);
        if (result?.error) report(problems, file, requirement.at, result.error);
        if (result?.warning) report(warnings, file, requirement.at, result.warning);
      }
      continue;
    }
    const ctx = { kind: item.type, name: item.name };
    const problem = (at: Pos, message: string): void => report(problems, file, at, message, ctx);
    const warning = (at: Pos, message: string): void => report(warnings, file, at, message, ctx);
    const existing = item.type === 'list' ? lists.get(item.name) : item.type === 'macro' ? macros.get(item.name) : rules.get(item.name);
    const Kind = item.type === 'list' ? 'List' : item.type === 'macro' ? 'Macro' : 'Rule';

    if (item.append && item.override) {
      problem(item.at, "Keys 'override' and 'append: true' cannot be used together.");
      continue;
    }
    const mode = item.override ? 'override' : item.append ? 'append' : 'define';
    if (mode !== 'define' && !existing) {
      problem(item.at, `${Kind} has '${mode}' key but no ${item.type} by that name already exists`);
      continue;
    }
    if (mode === 'override' && !checkOverride(item, problem)) continue;

    if (item.type === 'list') applyList(item, mode, lists, problem);
    else if (item.type === 'macro') applyMacro(item, mode, macros, problem);
    else applyRule(item, mode, rules, problem, warning);
  }

  return compileState(lists, macros, rules, problems, warnings);
}

/** An override lists each key it changes, with append or replace, and gives only those keys. */
function checkOverride(item: DefinitionItem, problem: (at: Pos, message: string) => void): boolean {
  let ok = true;
  const appendable = item.type === 'rule' ? RULE_APPENDABLE : new Set([item.type === 'list' ? 'items' : 'condition']);
  const replaceable = item.type === 'rule' ? RULE_REPLACEABLE : appendable;
  for (const [key, { action, at }] of item.override!) {
    if (!item.keys.has(key)) {
      problem(at, `Key '${key}' is listed in override but not given in the item`);
      ok = false;
    } else if (action === 'append' && !appendable.has(key)) {
      problem(at, `Key '${key}' cannot be appended to${replaceable.has(key) ? ", use 'replace' instead" : ''}`);
      ok = false;
    } else if (action === 'replace' && !replaceable.has(key)) {
      problem(at, `Key '${key}' cannot be replaced`);
      ok = false;
    }
  }
  for (const key of item.keys) {
    if (key === 'override' || key === 'append' || item.override!.has(key)) continue;
    problem(item.at, `Key '${key}' is given but not listed in override (with append or replace)`);
    ok = false;
  }
  return ok;
}

function action(item: DefinitionItem, key: string): OverrideAction | undefined {
  return item.override?.get(key)?.action;
}

function applyList(item: ListItem, mode: string, lists: Map<string, ListState>, problem: (at: Pos, m: string) => void): void {
  const existing = lists.get(item.name);
  if (mode === 'define') {
    if (!item.items) return problem(item.at, "Item has no mapping for key 'items'");
    lists.set(item.name, { items: [...item.items], origin: item.origin, at: item.at });
    return;
  }
  const items = item.items ?? [];
  if (mode === 'append' || action(item, 'items') === 'append') existing!.items = [...existing!.items, ...items];
  else existing!.items = [...items];
}

function applyMacro(item: MacroItem, mode: string, macros: Map<string, MacroState>, problem: (at: Pos, m: string) => void): void {
  const existing = macros.get(item.name);
  const file = item.origin.file;
  if (mode === 'define') {
    if (!item.condition) return problem(item.at, "Item has no mapping for key 'condition'");
    macros.set(item.name, { condition: pieces(item.condition, file), origin: item.origin, at: item.at });
    return;
  }
  if (!item.condition) return;
  // Falco appends a condition as text, with a space: the appended part usually starts with "and" or "or".
  if (mode === 'append' || action(item, 'condition') === 'append') existing!.condition = appended(existing!.condition, item.condition, file);
  else existing!.condition = pieces(item.condition, file);
}

function applyRule(item: RuleItem, mode: string, rules: Map<string, RuleState>, problem: (at: Pos, m: string) => void, warning: (at: Pos, m: string) => void): void {
  const existing = rules.get(item.name);
  const file = item.origin.file;
  const exceptionsOf = (specs: readonly ExceptionSpec[] | undefined): ExceptionState[] => (specs ?? []).map((s) => ({ ...s, file }));

  // `- rule: X` with only `enabled`: turns an existing rule on or off (Falco's older form).
  if (mode === 'define' && item.keys.size === 1 && item.keys.has('enabled')) {
    if (!existing) return problem(item.at, "Rule has 'enabled' key but no rule by that name already exists");
    existing.enabled = item.enabled!;
    return;
  }
  if (mode === 'define') {
    const missing = (['condition', 'output', 'desc', 'priority'] as const).filter((k) => item[k] === undefined);
    for (const key of missing) problem(item.at, `Item has no mapping for key '${key}'`);
    if (missing.length > 0) return;
    const state: RuleState = {
      name: item.name,
      condition: pieces(item.condition!, file),
      output: pieces(item.output!, file),
      desc: item.desc!.text,
      priority: item.priority!,
      source: item.source ?? 'syscall',
      tags: item.tags ?? [],
      enabled: item.enabled ?? true,
      exceptions: exceptionsOf(item.exceptions),
      skipIfUnknownFilter: item.skipIfUnknownFilter ?? false,
      origin: item.origin,
      at: item.at,
      first: existing?.first ?? item.origin,
    };
    rules.set(item.name, state);
    return;
  }
  const rule = existing!;
  if (mode === 'append') {
    for (const key of item.keys) {
      if (key !== 'append' && key !== 'condition' && key !== 'exceptions' && key !== 'source') warning(item.at, `Key '${key}' is ignored when appending to a rule (append adds to condition and exceptions)`);
    }
    if (item.condition) rule.condition = appended(rule.condition, item.condition, file);
    if (item.exceptions) mergeExceptions(rule, exceptionsOf(item.exceptions), problem);
    return;
  }
  // override: each key appended or replaced as listed.
  for (const [key, { action: how }] of item.override!) {
    const append = how === 'append';
    switch (key) {
      case 'condition':
        rule.condition = append ? appended(rule.condition, item.condition!, file) : pieces(item.condition!, file);
        break;
      case 'output':
        rule.output = append ? appended(rule.output, item.output!, file) : pieces(item.output!, file);
        break;
      case 'desc':
        rule.desc = append ? `${rule.desc} ${item.desc!.text}` : item.desc!.text;
        break;
      case 'tags':
        rule.tags = append ? [...new Set([...rule.tags, ...item.tags!])] : [...item.tags!];
        break;
      case 'exceptions':
        if (append) mergeExceptions(rule, exceptionsOf(item.exceptions), problem);
        else rule.exceptions = exceptionsOf(item.exceptions);
        break;
      case 'priority':
        rule.priority = item.priority!;
        break;
      case 'enabled':
        rule.enabled = item.enabled!;
        break;
      case 'skip-if-unknown-filter':
        rule.skipIfUnknownFilter = item.skipIfUnknownFilter!;
        break;
      default:
        break;
    }
  }
}

/** Appended exceptions: values join an exception of the same name; a new name adds an exception. */
function mergeExceptions(rule: RuleState, added: readonly ExceptionState[], problem: (at: Pos, m: string) => void): void {
  for (const ex of added) {
    const same = rule.exceptions.find((e) => e.name === ex.name);
    if (!same) {
      rule.exceptions.push(ex);
      continue;
    }
    if (ex.fields !== undefined || ex.comps !== undefined) {
      problem(ex.at, `exception '${ex.name}': can not append fields or comps to an existing exception, only values`);
      continue;
    }
    same.values = [...(same.values ?? []), ...(ex.values ?? [])];
  }
}

/** A list item written in quotes stands for the text inside them. */
function unquote(item: string): string {
  if (item.length >= 2 && (item[0] === '"' || item[0] === "'") && item.at(-1) === item[0]) return item.slice(1, -1);
  return item;
}

class BrokenMacro extends Error {
  constructor(readonly macro: string) {
    super(`macro '${macro}' has errors`);
  }
}

function compileState(lists: Map<string, ListState>, macros: Map<string, MacroState>, rules: Map<string, RuleState>, problems: RuleProblem[], warnings: RuleProblem[]): FalcoRuleset {
  const usedLists = new Set<string>();
  const usedMacros = new Set<string>();
  const at = (file: string, p: Pos, message: string, item?: { kind: 'rule' | 'macro' | 'list'; name: string }, into = problems): void => {
    into.push({ file, line: p.line, column: p.column, ...(item ? { kind: item.kind, rule: item.name } : {}), message });
  };
  /** Reports an error at an offset of a grown text: the piece it falls in, line and column inside that piece. */
  const inText = (what: string, text: Pieces, offset: number, reason: string, item: { kind: 'rule' | 'macro' | 'list'; name: string }, into = problems): void => {
    let piece = text.pieces[0]!;
    for (const p of text.pieces) if (p.from <= offset) piece = p;
    const local = FalcoConditionError.at(text.text.slice(piece.from), offset - piece.from, reason);
    at(piece.file, piece.at, `${what}, line ${local.line}, column ${local.column}: ${reason}`, item, into);
  };

  // Lists: an item naming a list defined before this one is replaced by that list's items.
  const expanded = new Map<string, string[]>();
  for (const [name, list] of lists) {
    const items: string[] = [];
    for (const item of list.items) {
      const earlier = expanded.get(item);
      if (earlier) {
        usedLists.add(item);
        items.push(...earlier);
      } else items.push(unquote(item));
    }
    expanded.set(name, items);
  }

  // Macros: every one is parsed (a syntax error is reported even in a macro no rule uses).
  const parsed = new Map<string, Expr | null>();
  for (const [name, macro] of macros) {
    try {
      parsed.set(name, parseCondition(macro.condition.text));
    } catch (err) {
      if (!(err instanceof FalcoConditionError)) throw err;
      parsed.set(name, null);
      inText('condition', macro.condition, err.offset, err.reason, { kind: 'macro', name });
    }
  }

  const scope: CompileScope = {
    macro(name) {
      const m = parsed.get(name);
      if (m === null) throw new BrokenMacro(name);
      return m;
    },
    list: (name) => expanded.get(name),
    used(kind, name) {
      (kind === 'macro' ? usedMacros : usedLists).add(name);
    },
  };
  const fields = new FieldReaders();
  const compiler = new ConditionCompiler(scope, fields);
  const reportedMacros = new Set<string>();
  const out: FalcoRuleset['rules'] = [];
  const skippedBySource = new Map<string, { count: number; file: string; at: Pos; source: string }>();
  let skipped = 0;

  for (const rule of rules.values()) {
    const item = { kind: 'rule' as const, name: rule.name };
    if (rule.source !== SOURCE) {
      skipped++;
      const key = `${rule.origin.file}\u0000${rule.source}`;
      const seen = skippedBySource.get(key);
      if (seen) seen.count++;
      else skippedBySource.set(key, { count: 1, file: rule.origin.file, at: rule.at, source: rule.source });
      markUsage(rule.condition.text, parsed, expanded, usedMacros, usedLists);
      continue;
    }
    let expr: Expr;
    try {
      expr = parseCondition(rule.condition.text);
    } catch (err) {
      if (!(err instanceof FalcoConditionError)) throw err;
      inText('condition', rule.condition, err.offset, err.reason, item);
      continue;
    }
    let predicate: Predicate;
    try {
      predicate = compiler.compile(expr);
      const exceptions = compileExceptions(rule, compiler, (ex, reason) => at(ex.file, ex.at, `exception '${ex.name}': ${reason}`, item));
      if (exceptions === undefined) continue;
      if (exceptions.length > 0) predicate = allOf([predicate, ...exceptions.map(negate)]);
    } catch (err) {
      if (err instanceof CompileError) {
        if (rule.skipIfUnknownFilter && err.reason.startsWith('filter_check called with nonexistent field')) {
          inText('condition', rule.condition, err.offset, `${err.reason}; skipped (skip-if-unknown-filter)`, item, warnings);
        } else inText('condition', rule.condition, err.offset, err.reason, item);
        continue;
      }
      if (err instanceof MacroError || err instanceof BrokenMacro) {
        const name = err.macro;
        if (err instanceof MacroError && !reportedMacros.has(name)) {
          reportedMacros.add(name);
          inText('condition', macros.get(name)!.condition, err.cause.offset, err.cause.reason, { kind: 'macro', name });
        }
        at(rule.origin.file, rule.at, `condition: uses macro '${name}', which has errors`, item);
        continue;
      }
      throw err;
    }
    let message;
    try {
      message = compileOutput(rule.output.text, fields);
    } catch (err) {
      if (!(err instanceof FalcoConditionError)) throw err;
      inText('output', rule.output, err.offset, err.reason, item);
      continue;
    }
    // Exceptions only narrow a rule further, so the condition alone says which resources it can fire on.
    const prefilter = resourcePrefilter(expr, (name) => parsed.get(name), (name) => expanded.get(name));
    out.push({
      rule: {
        ...(prefilter ? { prefilter } : {}),
        name: rule.name,
        description: rule.desc,
        language: 'falco',
        condition: rule.condition.text,
        predicate,
        message,
        priority: rule.priority,
        tags: rule.tags,
        enabled: rule.enabled,
        source: { file: rule.origin.file, line: rule.at.line, column: rule.at.column },
      },
      order: [rule.first.fileIndex, rule.first.itemIndex],
    });
  }

  for (const { count, file, at: where, source } of skippedBySource.values()) {
    at(file, where, `Unknown source ${source}, skipping: ${count} rule${count === 1 ? '' : 's'} of this source in this file (the bridge evaluates ${SOURCE} rules)`, undefined, warnings);
  }
  for (const [name, macro] of macros) {
    if (!usedMacros.has(name)) at(macro.origin.file, macro.at, 'Macro not referred to by any other rule/macro', { kind: 'macro', name }, warnings);
  }
  for (const [name, list] of lists) {
    if (!usedLists.has(name)) at(list.origin.file, list.at, 'List not referred to by any other rule/macro', { kind: 'list', name }, warnings);
  }
  out.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
  return { rules: out, problems, warnings, skipped };
}

/**
 * Each exception as a predicate that holds when the event is excepted: a rule fires only when none
 * does. Undefined when one cannot be compiled (reported).
 */
function compileExceptions(rule: RuleState, compiler: ConditionCompiler, problem: (ex: ExceptionState, reason: string) => void): Predicate[] | undefined {
  const out: Predicate[] = [];
  let ok = true;
  for (const ex of rule.exceptions) {
    try {
      const expr = exceptionExpr(ex);
      if (expr) out.push(compiler.compile(expr));
    } catch (err) {
      if (err instanceof CompileError || err instanceof FalcoConditionError) {
        problem(ex, err instanceof CompileError ? err.reason : err.reason);
        ok = false;
      } else throw err;
    }
  }
  return ok ? out : undefined;
}

/** An exception as a condition: (f1 c1 v1 and f2 c2 v2) or (…) for tuples; `f c (v1, v2)` for a single field. */
function exceptionExpr(ex: ExceptionState): Expr | undefined {
  if (ex.fields === undefined) throw new CompileError("Item has no mapping for key 'fields'", 0);
  const single = typeof ex.fields === 'string';
  const fields = typeof ex.fields === 'string' ? [ex.fields] : ex.fields;
  const comps = ex.comps === undefined ? fields.map(() => (single ? 'in' : '=')) : typeof ex.comps === 'string' ? [ex.comps] : ex.comps;
  if (comps.length !== fields.length) throw new CompileError('fields and comps lists must have equal length', 0);
  for (const c of comps) if (!OPERATORS.has(c)) throw new CompileError(`comparison operator '${c}' is not a supported comparison operator`, 0);
  const ops = comps.map((c) => (c === '==' ? '=' : c) as BinaryOperator);
  const refs = fields.map((f) => parseFieldRef(f));
  const values = ex.values ?? [];
  if (values.length === 0) return undefined;
  const text = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new CompileError(`value ${JSON.stringify(v)} is not text`, 0);
  };
  const operand = (op: BinaryOperator, v: unknown): Operand => {
    if (LIST_OPERATORS.has(op)) {
      const items = Array.isArray(v) ? v.map(text) : [text(v)];
      return { kind: 'list', items: items.map((t) => ({ text: t, offset: 0 })), offset: 0, bare: !Array.isArray(v) };
    }
    if (Array.isArray(v)) throw new CompileError(`a list of values needs in, intersects or pmatch, not ${op}`, 0);
    return { kind: 'value', value: { text: text(v), offset: 0 } };
  };
  if (single) {
    if (!LIST_OPERATORS.has(ops[0]!)) throw new CompileError(`a single field takes a list operator (in, intersects, pmatch), not ${ops[0]}`, 0);
    return { kind: 'compare', field: refs[0]!, op: ops[0]!, operand: operand(ops[0]!, values.flat()), offset: 0, opOffset: 0 };
  }
  const rows: Expr[] = values.map((row) => {
    if (!Array.isArray(row) || row.length !== fields.length) throw new CompileError('fields and values lists must have equal length', 0);
    const checks: Expr[] = row.map((v, i) => ({ kind: 'compare', field: refs[i]!, op: ops[i]!, operand: operand(ops[i]!, v), offset: 0, opOffset: 0 }));
    return checks.length === 1 ? checks[0]! : { kind: 'and', children: checks, offset: 0 };
  });
  return rows.length === 1 ? rows[0]! : { kind: 'or', children: rows, offset: 0 };
}

/** Marks the macros and lists a rule that is not compiled refers to, so they are not reported as unused. */
function markUsage(text: string, parsed: Map<string, Expr | null>, lists: Map<string, string[]>, usedMacros: Set<string>, usedLists: Set<string>): void {
  let expr: Expr;
  try {
    expr = parseCondition(text);
  } catch {
    return;
  }
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case 'and':
      case 'or':
        e.children.forEach(walk);
        break;
      case 'not':
        walk(e.child);
        break;
      case 'identifier': {
        if (usedMacros.has(e.name)) break;
        const body = parsed.get(e.name);
        if (body !== undefined) usedMacros.add(e.name);
        if (body) walk(body);
        break;
      }
      case 'compare':
        if (e.operand.kind === 'list') for (const item of e.operand.items) if (lists.has(item.text)) usedLists.add(item.text);
        break;
      default:
        break;
    }
  };
  walk(expr);
}
