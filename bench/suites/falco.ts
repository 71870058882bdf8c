import { hostname } from 'node:os';
import { alertToJSON, buildAlert } from '../../src/rules/alert.js';
import { RuleEngine } from '../../src/rules/engine.js';
import { loadRuleFiles } from '../../src/rules/load.js';
import type { Matching } from '../../src/rules/rule.js';
import { ROOT, sampleEvents } from '../workload.js';
import { jsonCeiling, rate, withBaseline, type Suite } from '../harness.js';

/**
 * Falco's own k8s_audit_rules.yaml, loaded unmodified with every rule enabled as shipped, on the same
 * events as the rules suite. matching: all evaluates every rule on every event (the whole cost);
 * first, Falco's default, stops at the first rule that fires.
 */
export const falcoSuite: Suite = {
  name: 'falco',
  description: "Falco's k8s_audit_rules.yaml as shipped, on the sample events",
  async run(ctx) {
    const loaded = loadRuleFiles([`${ROOT}samples/falco-rules/k8s_audit_rules.yaml`]);
    if (loaded.problems.length > 0) throw new Error(`k8s_audit_rules.yaml: ${loaded.problems.map((p) => p.message).join('; ')}`);
    const engines: Record<Matching, RuleEngine> = { all: new RuleEngine(loaded.rules, 'all'), first: new RuleEngine(loaded.rules, 'first') };
    const sample = sampleEvents();
    const texts = sample.map((e) => JSON.stringify(e));
    const minMs = ctx.quick ? 300 : 2000;
    const context = { hostname: hostname(), nowMs: Date.now() };
    const alertsPerPass = (m: Matching): number => sample.reduce((n, e) => n + engines[m].match(e).length, 0);
    ctx.log(`${sample.length} events, ${engines.all.rules.length} rules enabled, ${alertsPerPass('all')} alerts per pass with matching: all, ${alertsPerPass('first')} with first`);

    const ceiling = await jsonCeiling(texts, minMs);
    const evaluate = (m: Matching) =>
      rate(() => {
        let n = 0;
        for (const event of sample) n += engines[m].match(event).length;
        return n;
      }, sample.length, { minMs });
    const evaluateAll = await evaluate('all');
    const evaluateFirst = await evaluate('first');
    const endToEnd = await rate(() => {
      let bytes = 0;
      for (const text of texts) {
        const event: unknown = JSON.parse(text);
        for (const rule of engines.all.match(event)) bytes += alertToJSON(buildAlert(rule, event, context)).length;
      }
      return bytes;
    }, sample.length, { minMs });

    const baseline = 'JSON.parse+stringify';
    const n = engines.all.rules.length;
    return [
      withBaseline({ key: 'falco.k8s_audit.evaluate.events_per_s', label: `falco: evaluate ${n} rules, matching all (parsed events)`, value: evaluateAll.opsPerSecond, unit: 'events/s' }, baseline, ceiling.itemsPerSecond),
      withBaseline({ key: 'falco.k8s_audit.evaluate_first.events_per_s', label: `falco: evaluate ${n} rules, matching first (parsed events)`, value: evaluateFirst.opsPerSecond, unit: 'events/s' }, baseline, ceiling.itemsPerSecond),
      withBaseline({ key: 'falco.k8s_audit.parse_evaluate_alert.events_per_s', label: 'falco: parse + evaluate (all) + alert JSON', value: endToEnd.opsPerSecond, unit: 'events/s' }, baseline, ceiling.itemsPerSecond),
    ];
  },
};
