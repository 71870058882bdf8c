import { hostname } from 'node:os';
import { describe, isPlainObject } from '../event/event.js';
import { alertToJSON, buildAlert } from '../rules/alert.js';
import { enableRules, RuleEngine } from '../rules/engine.js';
import { takeInAuditEvents } from '../rules/falco/intake.js';
import { loadRuleFiles } from '../rules/load.js';
import { formatProblem, type Matching } from '../rules/rule.js';
import { parseJsonOrLines } from '../util/json-input.js';
import { readInput } from './input.js';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * rules check FILE…: every problem on stderr with file, rule and position; exit 0 clean, 1 otherwise.
 * Falco's warnings (unused macros, rules of other sources skipped) are printed and do not fail.
 */
export async function rulesCheckCommand(patterns: string[]): Promise<number> {
  const loaded = loadRuleFiles(patterns);
  for (const warning of loaded.warnings) process.stderr.write(`warning: ${formatProblem(warning)}\n`);
  if (loaded.problems.length > 0) {
    for (const problem of loaded.problems) process.stderr.write(`${formatProblem(problem)}\n`);
    const files = new Set(loaded.problems.map((p) => p.file)).size;
    process.stderr.write(`${plural(loaded.problems.length, 'problem')} in ${plural(files, 'file')}\n`);
    return 1;
  }
  const enabled = loaded.rules.filter((r) => r.enabled).length;
  const skipped = loaded.skipped > 0 ? `, ${loaded.skipped} of other sources skipped` : '';
  process.stdout.write(`${plural(loaded.rules.length, 'rule')} (${enabled} enabled${skipped}) in ${plural(loaded.files.length, 'file')}: ok\n`);
  return 0;
}

export interface RulesTestOptions {
  rules: string[];
  enable: string[];
  matching: Matching;
}

/**
 * rules test: evaluates rules on events (JSON array, JSON lines or an EventList) and prints the
 * alerts as JSON lines. Rule files load in the order given. With Falco rule files among them, events
 * are taken in as Falco's k8saudit plugin takes them (kind Event or EventList, a readable
 * stageTimestamp) and anything else is skipped with the plugin's message. Exit 0 once evaluated; 1
 * when the rules cannot be loaded; 2 when the events cannot be read.
 */
export async function rulesTestCommand(eventsArg: string | undefined, options: RulesTestOptions): Promise<number> {
  const ruleFiles = [...options.rules];
  let eventsFile = eventsArg;
  // `--rules a.yaml b.yaml events.json` reads as three rule files; rule files are YAML, so a
  // trailing non-YAML name (or -) is the events file.
  if (eventsFile === undefined && ruleFiles.length > 1 && !/\.ya?ml$/i.test(ruleFiles.at(-1)!)) eventsFile = ruleFiles.pop();
  eventsFile ??= '-';

  const loaded = loadRuleFiles(ruleFiles);
  for (const warning of loaded.warnings) process.stderr.write(`warning: ${formatProblem(warning)}\n`);
  const enabled = enableRules(loaded.rules, options.enable);
  const problems = [...loaded.problems.map(formatProblem), ...enabled.problems];
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    return 1;
  }
  const engine = new RuleEngine(enabled.rules, options.matching);
  if (engine.rules.length === 0) process.stderr.write('rules test: no rule is enabled (rules shipped disabled need --enable all, a name or tag:TAG)\n');

  let text: string;
  try {
    text = await readInput(eventsFile);
  } catch (err) {
    process.stderr.write(`rules test: cannot read ${eventsFile === '-' ? 'stdin' : eventsFile}: ${(err as Error).message}\n`);
    return 2;
  }
  const { values, unreadable } = parseJsonOrLines(text);
  if (values.length === 0 && unreadable.length > 0) {
    process.stderr.write('rules test: unreadable input: neither JSON nor JSON lines\n');
    return 2;
  }
  for (const line of unreadable) process.stderr.write(`${line.ref}: skipped: ${line.reason}\n`);

  const context = { hostname: hostname(), nowMs: Date.now() };
  const falco = loaded.rules.some((r) => r.language === 'falco');
  let events = 0;
  let alerts = 0;
  const out: string[] = [];
  for (const { value, ref } of values) {
    for (const { event, at } of falco ? falcoEventsOf(value, ref) : eventsOf(value, ref)) {
      if (!isPlainObject(event)) {
        process.stderr.write(`${at}: skipped: expected an audit event (a JSON object), got ${describe(event)}\n`);
        continue;
      }
      events++;
      for (const rule of engine.match(event)) {
        out.push(`${alertToJSON(buildAlert(rule, event, context))}\n`);
        alerts++;
      }
      if (out.length >= 1000) process.stdout.write(out.splice(0).join(''));
    }
  }
  process.stdout.write(out.join(''));
  process.stderr.write(`${events} event${events === 1 ? '' : 's'}, ${alerts} alert${alerts === 1 ? '' : 's'}\n`);
  return 0;
}

/** The events in one JSON value as Falco takes them in; what it refuses is reported on stderr. */
function* falcoEventsOf(value: unknown, ref: string): Generator<{ event: unknown; at: string }> {
  const { events, refused } = takeInAuditEvents(value, ref);
  for (const { at, reason } of refused) process.stderr.write(`${at}: skipped: ${reason}\n`);
  yield* events;
}

/** The events in one JSON value: itself, the items of an EventList, or the elements of an array. */
export function* eventsOf(value: unknown, ref: string): Generator<{ event: unknown; at: string }> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* eventsOf(item, `${ref}[${i}]`);
  } else if (isPlainObject(value) && (value.kind === 'EventList' || (value.kind === undefined && Array.isArray(value.items)))) {
    const items = Array.isArray(value.items) ? (value.items as unknown[]) : [];
    for (const [i, item] of items.entries()) yield { event: item, at: `${ref}.items[${i}]` };
  } else yield { event: value, at: ref };
}
