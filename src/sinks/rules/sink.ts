// The `rules` sink: evaluates the rule engine on each batch and hands the alerts to the alert
// outputs through the pipeline's delivery path (src/pipeline/deliver.ts): an output's transient
// failure is retried with its backoff, an alert it refuses for good goes to the dead-letter file
// alone. A write resolves only when every output has the alerts of its events or refused them, so
// a batch's checkpoint commits only after its alerts are delivered.
import { hostname as osHostname } from 'node:os';
import type { RulesSinkConfig } from './config.js';
import type { SinkContext } from '../../component/sink.js';
import type { AuditEvent } from '../../event/event.js';
import { deliver, type DeliveryContext, type DeliveryTarget } from '../../pipeline/deliver.js';
import type { Sink } from '../../pipeline/types.js';
import { buildAlert, type Alert } from '../../rules/alert.js';
import { enableRules, RuleEngine } from '../../rules/engine.js';
import { loadRuleFiles } from '../../rules/load.js';
import { atLeast } from '../../rules/priority.js';
import { formatProblem } from '../../rules/rule.js';
import { LogThrottle } from '../../telemetry/log-throttle.js';
import { Semaphore } from '../../util/semaphore.js';
import { createAlertOutputs, type AlertOutput } from './outputs.js';

/** What every sink gets (src/component/sink.ts), and what only this one takes. */
export interface RulesSinkContext extends SinkContext {
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
export function loadSinkRules(
  config: Pick<RulesSinkConfig, 'rules' | 'enable' | 'matching'>,
  cwd?: string,
): { engine?: RuleEngine; problems: string[]; warnings: string[] } {
  const loaded = loadRuleFiles(config.rules, { cwd });
  const problems = loaded.problems.map(formatProblem);
  // Falco's warnings (an unused macro, rules of another source skipped) are said, never refused.
  const warnings = loaded.warnings.map(formatProblem);
  const enabled = enableRules(loaded.rules, config.enable);
  problems.push(...enabled.problems);
  if (problems.length > 0) return { problems, warnings };
  return { engine: new RuleEngine(enabled.rules, config.matching), problems, warnings };
}

export function createRulesSink(config: RulesSinkConfig, ctx: RulesSinkContext): RulesSink {
  const { engine, problems } = ctx.engine ? { engine: ctx.engine, problems: [] } : loadSinkRules(config, ctx.cwd);
  if (!engine) throw new RulesLoadError(problems);
  const outputs = createAlertOutputs(config.alerts, { clock: ctx.clock, logger: ctx.logger, stdout: ctx.stdout });
  ctx.logger.info({ rules: engine.rules.length, matching: engine.matching, outputs: outputs.map((o) => o.name) }, 'rules loaded');
  if (engine.rules.length === 0) ctx.logger.warn('no rule is enabled: this sink raises no alerts (enable library rules with enable: [all], a name or tag:TAG)');
  return new RulesSink(config.name, engine, outputs, { ...ctx, hostname: ctx.hostname ?? osHostname() });
}

/** Alerts POSTed one per request (what Falcosidekick and Slack expect) are sent this many at a time per output. */
const ALERTS_IN_FLIGHT = 4;

export class RulesSink implements Sink {
  private readonly delivery: DeliveryContext;
  private readonly targets: Map<AlertOutput, DeliveryTarget<Alert>>;
  private readonly slots = new Map<AlertOutput, Semaphore>();

  constructor(
    readonly name: string,
    readonly engine: RuleEngine,
    private readonly outputs: readonly AlertOutput[],
    private readonly ctx: Omit<RulesSinkContext, 'hostname'> & { hostname: string },
  ) {
    const log = new LogThrottle(ctx.logger, () => ctx.clock.now());
    this.delivery = { clock: ctx.clock, backoff: { initialMs: 1000, maxMs: 60_000 }, log };
    this.targets = new Map(outputs.map((output) => [output, this.target(output, log)]));
    for (const output of outputs) if (output.perAlert) this.slots.set(output, new Semaphore(ALERTS_IN_FLIGHT));
  }

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
    this.ctx.status?.alertsRaised(this.name, alerts);
    await Promise.all(
      this.outputs.map(async (output) => {
        const selected = output.minPriority === undefined ? alerts : alerts.filter((a) => atLeast(priorityOf(a), output.minPriority!));
        if (selected.length === 0) return;
        const target = this.targets.get(output)!;
        const slots = this.slots.get(output);
        // One alert per request: each is delivered (and retried, or dead-lettered) on its own, so a
        // retry never sends again an alert its output already has.
        if (slots) await Promise.all(selected.map((alert) => slots.run(() => deliver(target, [alert], signal, this.delivery), signal)));
        else await deliver(target, selected, signal, this.delivery);
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.outputs.map((o) => o.close()));
  }

  private target(output: AlertOutput, log: LogThrottle): DeliveryTarget<Alert> {
    const { metrics, health, deadLetter } = this.ctx;
    const labels = { sink: this.name, output: output.name };
    return {
      name: `${this.name}/${output.name}`,
      backoff: output.backoff,
      write: (alerts, signal) => output.send(alerts, signal),
      deadLetter: (alerts, reason, detail) => deadLetter.alerts(this.name, output.name, alerts, reason, detail),
      report: {
        delivered: (count) => {
          health.sinkRecovered(this.name);
          metrics.alertsDelivered.inc(labels, count);
        },
        retrying: (attempt, delayMs, reason) => {
          health.sinkFailed(this.name, `alert output ${output.name}: ${reason}`);
          metrics.alertRetries.inc(labels);
          log.warn(`alert-retry:${output.name}`, { ...labels, attempt, retryInMs: delayMs, error: reason }, 'alert output failed; retrying');
        },
        refused: (count, reason) => {
          metrics.alertsRefused.inc(labels, count);
          log.error(`alert-refused:${output.name}`, { ...labels, alerts: count, reason }, 'alert output refused alerts permanently; written to the dead-letter file');
        },
      },
    };
  }
}

function priorityOf(alert: Alert): Parameters<typeof atLeast>[0] {
  return alert.priority.toLowerCase() as Parameters<typeof atLeast>[0];
}
