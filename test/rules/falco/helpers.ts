import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../../helpers/events.js';
import { RuleEngine } from '../../../src/rules/engine.js';
import { takeInAuditEvents } from '../../../src/rules/falco/intake.js';
import { loadRuleFiles, loadRuleTexts, type LoadedRules } from '../../../src/rules/load.js';
import type { Matching } from '../../../src/rules/rule.js';

export const FALCO = join(FIXTURES, 'falco');
export const K8S_AUDIT_RULES = join(FALCO, 'k8s_audit_rules.yaml');

export const override = (name: string): string => join(FALCO, 'test-overrides', `${name}.yaml`);
export const eventFile = (name: string): string => join(FALCO, 'events', name);

/** The events of a trace file as Falco's k8saudit plugin reads it: one JSON value per line. */
export function readTrace(file: string): { events: Record<string, unknown>[]; refused: string[] } {
  const events: Record<string, unknown>[] = [];
  const refused: string[] = [];
  for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    if (line.trim() === '') continue;
    const taken = takeInAuditEvents(JSON.parse(line), `line ${i + 1}`);
    events.push(...taken.events.map((e) => e.event));
    refused.push(...taken.refused.map((r) => r.reason));
  }
  return { events, refused };
}

/** The first event of a trace file. */
export function traceEvent(name: string): Record<string, unknown> {
  return readTrace(eventFile(name)).events[0]!;
}

/** Loads Falco rule texts given inline (file names a.yaml, b.yaml…), with the shipped file first when asked. */
export function loadFalco(texts: string[], options: { withShippedRules?: boolean } = {}): LoadedRules {
  const files = texts.map((text, i) => ({ file: `${String.fromCharCode(97 + i)}.yaml`, text }));
  if (options.withShippedRules) files.unshift({ file: 'k8s_audit_rules.yaml', text: readFileSync(K8S_AUDIT_RULES, 'utf8') });
  return loadRuleTexts(files);
}

/** The rule names that fire on each event, in order. */
export function fired(loaded: LoadedRules, events: readonly unknown[], matching: Matching = 'first'): string[] {
  const engine = new RuleEngine(loaded.rules, matching);
  return events.flatMap((e) => engine.match(e).map((r) => r.name));
}

export { loadRuleFiles };
