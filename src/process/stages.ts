// Builds the processing stages from the config, in this order: dedupe (in the source runner)
// → policy → filters → scrub (per sink, as sinks may turn it off) → sinks.
import type { ProcessConfig } from './config.js';
import type { AuditEvent } from '../event/event.js';
import type { Metrics } from '../telemetry/metrics.js';
import { compileFilter, type EventFilter } from './filter.js';
import { applyPolicyToAll, loadPolicyFile, type CompiledPolicy } from './policy.js';
import { compileScrubPaths, scrubAll, scrubEvent, type ScrubOptions, type ScrubRule } from './scrub.js';

export interface CompiledProcessing {
  policy: CompiledPolicy | undefined;
  filter: EventFilter | undefined;
  scrubPaths: readonly ScrubRule[];
  /** process.scrubSecrets: the default for sinks that do not say. */
  scrubByDefault: boolean;
}

export interface ProcessingLoad {
  processing: CompiledProcessing | undefined;
  /** Each names the config key (`process.policy: FILE: rules[2].level: …`). */
  problems: string[];
  /** Unknown fields in the policy file, ignored. */
  warnings: string[];
}

/** Loads the policy file and compiles filters and scrub paths; reports every problem at once. */
export function compileProcessing(config: ProcessConfig): ProcessingLoad {
  const problems: string[] = [];
  const warnings: string[] = [];
  let policy: CompiledPolicy | undefined;
  if (config.policy !== undefined) {
    const loaded = loadPolicyFile(config.policy);
    problems.push(...loaded.problems.map((p) => `process.policy: ${config.policy}: ${p}`));
    warnings.push(...loaded.warnings.map((w) => `process.policy: ${config.policy}: ${w}`));
    policy = loaded.policy;
  }
  const filter = compileFilter(config);
  problems.push(...filter.problems.map((p) => `process.${p}`));
  const scrub = compileScrubPaths(config.scrubPaths);
  problems.push(...scrub.problems.map((p) => `process.scrubPaths${p}`));
  if (problems.length > 0) return { processing: undefined, problems, warnings };
  return { processing: { policy, filter: filter.filter, scrubPaths: scrub.rules, scrubByDefault: config.scrubSecrets }, problems, warnings };
}

/** What `validate` and `run` report about the process section (the policy file, filters, scrub paths). */
export function processProblems(config: { process: ProcessConfig }): string[] {
  return compileProcessing(config.process).problems;
}

/** The process stages between dedupe and the sinks (policy, filters), as the pipeline runs them per batch. */
export type ProcessStage = (events: AuditEvent[], source: string) => AuditEvent[];

/** The stage between dedupe and the sinks: the policy, then the filters. Counts what each drops, per source. */
export function processStage(processing: CompiledProcessing, metrics: Metrics): ProcessStage {
  const { policy, filter } = processing;
  if (!policy && !filter) return (events) => events;
  return (events, source) => {
    let out: AuditEvent[] = events;
    if (policy) {
      const { events: kept, dropped } = applyPolicyToAll(policy, out);
      if (dropped > 0) metrics.eventsDropped.inc({ source, stage: 'policy' }, dropped);
      out = kept;
    }
    if (filter) {
      const kept = out.filter(filter);
      if (kept.length < out.length) metrics.eventsDropped.inc({ source, stage: 'filter' }, out.length - kept.length);
      out = kept;
    }
    return out;
  };
}

/**
 * One scrubber for all the sinks that scrub: a batch is scrubbed once, whichever sink asks first,
 * and the others reuse the result (they are handed the same array). Returns the per-sink stage, or
 * undefined for a sink that turned scrubbing off.
 */
export function scrubberFactory(
  processing: CompiledProcessing,
  metrics: Metrics,
): (sink: { name: string; scrubSecrets?: boolean | undefined }) => ((events: AuditEvent[]) => AuditEvent[]) | undefined {
  const options: ScrubOptions = { secrets: true, paths: processing.scrubPaths };
  const done = new WeakMap<readonly AuditEvent[], { events: AuditEvent[]; scrubbed: number }>();
  return (sink) => {
    if (!(sink.scrubSecrets ?? processing.scrubByDefault)) return undefined;
    return (events) => {
      let result = done.get(events);
      if (!result) {
        result = scrubAll(events, options);
        done.set(events, result);
      }
      if (result.scrubbed > 0) metrics.eventsScrubbed.inc({ sink: sink.name }, result.scrubbed);
      return result.events;
    };
  };
}

/** What the dead-letter file does to events: the sinks' scrubbing, unless deadLetter.scrubSecrets (or the process default) is off. */
export function deadLetterScrubber(scrubSecrets: boolean | undefined, processing: CompiledProcessing): ((event: AuditEvent) => AuditEvent) | undefined {
  if (!(scrubSecrets ?? processing.scrubByDefault)) return undefined;
  const options: ScrubOptions = { secrets: true, paths: processing.scrubPaths };
  return (event) => scrubEvent(event, options);
}
