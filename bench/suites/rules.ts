import { hostname } from 'node:os';
import { alertToJSON, buildAlert } from '../../src/rules/alert.js';
import { enableRules, RuleEngine } from '../../src/rules/engine.js';
import { loadRuleFiles } from '../../src/rules/load.js';
import { ROOT, sampleEvents } from '../workload.js';
import { jsonCeiling, rate, withBaseline, type Suite } from '../harness.js';

export const rulesSuite: Suite = {
  name: 'rules',
  description: 'the whole rule library, every rule enabled, matching: all',
  async run(ctx) {
    const loaded = loadRuleFiles([`${ROOT}config/rules/library.yaml`]);
    if (loaded.problems.length > 0) throw new Error(`library: ${loaded.problems.map((p) => p.message).join('; ')}`);
    const engine = new RuleEngine(enableRules(loaded.rules, ['all']).rules, 'all');
    const sample = sampleEvents();
    const texts = sample.map((e) => JSON.stringify(e));
    const minMs = ctx.quick ? 300 : 2000;
    const context = { hostname: hostname(), nowMs: Date.now() };
    const alertsPerPass = sample.reduce((n, e) => n + engine.match(e).length, 0);
    ctx.log(`${sample.length} events, ${engine.rules.length} rules, ${alertsPerPass} alerts per pass`);

    const ceiling = await jsonCeiling(texts, minMs);
    const evaluate = await rate(() => {
      let n = 0;
      for (const event of sample) n += engine.match(event).length;
      return n;
    }, sample.length, { minMs });
    const endToEnd = await rate(() => {
      let bytes = 0;
      for (const text of texts) {
        const event: unknown = JSON.parse(text);
        for (const rule of engine.match(event)) bytes += alertToJSON(buildAlert(rule, event, context)).length;
      }
      return bytes;
    }, sample.length, { minMs });

    const baseline = 'JSON.parse+stringify';
    return [
      withBaseline(
        { key: 'rules.library.evaluate.events_per_s', label: `rules: evaluate ${engine.rules.length} rules (parsed events)`, value: evaluate.opsPerSecond, unit: 'events/s' },
        baseline,
        ceiling.itemsPerSecond,
      ),
      withBaseline(
        { key: 'rules.library.parse_evaluate_alert.events_per_s', label: 'rules: parse + evaluate + alert JSON', value: endToEnd.opsPerSecond, unit: 'events/s' },
        baseline,
        ceiling.itemsPerSecond,
      ),
    ];
  },
};
