import type { SinkComponent } from '../../component/sink.js';
import type { RuleEngine } from '../../rules/engine.js';
import { rulesSinkSchema, type RulesSinkConfig } from './config.js';
import { createRulesSink, loadSinkRules } from './sink.js';

export const rulesSink: SinkComponent<RulesSinkConfig, RuleEngine> = {
  type: 'rules',
  summary: "the rule engine (jpath and Falco's k8s_audit rules): alerts in Falco's JSON shape to stdout, a webhook or Slack",
  schema: rulesSinkSchema,
  check(config, ctx) {
    const loaded = loadSinkRules(config, ctx.cwd);
    return { problems: loaded.problems.map((p) => `.rules: ${p}`), warnings: loaded.warnings.map((w) => `.rules: ${w}`), prepared: loaded.engine };
  },
  create: (config, ctx, engine) => createRulesSink(config, { ...ctx, engine }),
  demo: async (ctx) => (await import('./demo.js')).rulesPart(ctx),
};
