// The `rules` sink: evaluates the rule engine on each batch and hands the alerts to the alert
// outputs. A write resolves only when every output has the alerts of its events, so a batch's
// checkpoint commits only after its alerts are delivered (DESIGN §3, §7).
import { hostname as osHostname } from 'node:os';
import type { Writable } from 'node:stream';
import type { RulesSinkConfig } from './config.js';
import type { AuditEvent } from '../../event/event.js';
import { PermanentDeliveryError, type Sink } from '../../pipeline/types.js';
import { buildAlert, type Alert } from '../../rules/alert.js';
import { enableRules, RuleEngine } from '../../rules/engine.js';
import { loadRuleFiles } from '../../rules/load.js';
import { atLeast } from '../../rules/priority.js';
import { formatProblem } from '../../rules/rule.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { abortReason, type Clock } from '../../util/clock.js';
import { createAlertOutputs, type AlertOutput } from './outputs.js';

export interface RulesSinkContext {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  stdout?: Writable | undefined;
  /** Alerts' hostname; default the machine's (the pod name under Kubernetes). */
  hostname?: string | undefined;
  /** Relative rule paths resolve here; default the working directory. */
  cwd?: string | undefined;
  /** The engine the config check already compiled from these rule files. */
  engine?: RuleEngine | undefined;
}

/** Rule files that cannot be loaded, or an `enable` that names nothing: every problem, one per line. */
export class RulesLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`rule files have ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'RulesLoadError';
  }
}

/** Loads, compiles and selects the rules of a rules sink config; returns the problems instead of throwing. */
export function loadSinkRules(config: Pick<RulesSinkConfig, 'rules' | 'enable' | 'matching'>, cwd?: string): { engine?: RuleEngine; problems: string[] } {
  const loaded = loadRuleFiles(config.rules, { cwd });
  const problems = loaded.problems.map(formatProblem);
  const enabled = enableRules(loaded.rules, config.enable);
  problems.push(...enabled.problems);
  if (problems.length > 0) return { problems };
  return { engine: new RuleEngine(enabled.rules, config.matching), problems };
}

export function createRulesSink(config: RulesSinkConfig, ctx: RulesSinkContext): RulesSink {
  const { engine, problems } = ctx.engine ? { engine: ctx.engine, problems: [] } : loadSinkRules(config, ctx.cwd);
  if (!engine) throw new RulesLoadError(problems);
  const outputs = createAlertOutputs(config.alerts, {
    clock: ctx.clock,
    logger: ctx.logger,
    stdout: ctx.stdout,
    onRetry: (output) => ctx.metrics.alertRetries.inc({ sink: config.name, output }),
  });
  ctx.logger.info({ rules: engine.rules.length, matching: engine.matching, outputs: outputs.map((o) => o.name) }, 'rules loaded');
  if (engine.rules.length === 0) ctx.logger.warn('no rule is enabled: this sink raises no alerts (enable library rules with enable: [all], a name or tag:TAG)');
  return new RulesSink(config.name, engine, outputs, { ...ctx, hostname: ctx.hostname ?? osHostname() });
}

export class RulesSink implements Sink {
  constructor(
    readonly name: string,
    readonly engine: RuleEngine,
    private readonly outputs: readonly AlertOutput[],
    private readonly ctx: { metrics: Metrics; clock: Clock; logger: Logger; hostname: string },
  ) {}

  /** Evaluates the events; pure apart from the clock read for events without a time. */
  evaluate(events: readonly AuditEvent[]): Alert[] {
    const alerts: Alert[] = [];
    const context = { hostname: this.ctx.hostname, nowMs: this.ctx.clock.now() };
    for (const event of events) {
      for (const rule of this.engine.match(event)) alerts.push(buildAlert(rule, event, context));
    }
    return alerts;
  }

  async write(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    const alerts = this.evaluate(events);
    if (alerts.length === 0) return;
    for (const alert of alerts) this.ctx.metrics.alertsRaised.inc({ sink: this.name, rule: alert.rule, priority: alert.priority });
    const results = await Promise.allSettled(
      this.outputs.map(async (output) => {
        const selected = output.minPriority === undefined ? alerts : alerts.filter((a) => atLeast(priorityOf(a), output.minPriority!));
        if (selected.length === 0) return;
        await output.send(selected, signal);
        this.ctx.metrics.alertsDelivered.inc({ sink: this.name, output: output.name }, selected.length);
      }),
    );
    if (signal.aborted) throw abortReason(signal);
    const refused: PermanentDeliveryError[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      if (result.reason instanceof PermanentDeliveryError) refused.push(result.reason);
      else throw result.reason;
    }
    if (refused.length > 0) {
      for (const err of refused) this.ctx.metrics.alertsRefused.inc({ sink: this.name, output: String(err.detail.output) });
      // The pipeline dead-letters the batch with these details: which alerts were refused, and why.
      throw new PermanentDeliveryError(refused.map((e) => e.message).join('; '), { refused: refused.map((e) => e.detail) });
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.outputs.map((o) => o.close()));
  }
}

function priorityOf(alert: Alert): Parameters<typeof atLeast>[0] {
  return alert.priority.toLowerCase() as Parameters<typeof atLeast>[0];
}
