import { hostname } from 'node:os';
import { deserialize, serialize } from 'node:v8';
import { BODY_FORMATS, buildBody, encodeEvent, envelopeBytes } from '../../src/sinks/webhook/format.js';
import { normalizeEksRecord } from '../../src/sources/eks/normalize.js';
import { isReject, type AuditEvent } from '../../src/event/event.js';
import { applyPolicy, loadPolicyFile } from '../../src/process/policy.js';
import { scrubEvent } from '../../src/process/scrub.js';
import { DedupeWindow, dedupeKey, type BatchState } from '../../src/pipeline/dedupe.js';
import { alertToJSON, buildAlert } from '../../src/rules/alert.js';
import { enableRules, RuleEngine } from '../../src/rules/engine.js';
import { loadRuleFiles } from '../../src/rules/load.js';
import { withBaseline, type Figure, type Suite } from '../harness.js';
import { percentile } from '../receiver.js';
import { CEILING_LABEL, eventText, measureSet, ROOT, workload } from '../workload.js';
import { pooledRateInChild, type PooledRun } from '../pool-rate.js';

/** One stage of the CPU pipeline over a chunk of events; returns the events that flow on. */
type Stage = (events: AuditEvent[]) => AuditEvent[];

/**
 * (c): every CPU stage an event goes through between the provider's record and the webhook body,
 * on one core, over the workload set.
 */
export const cpuPipelineSuite: Suite = {
  name: 'cpu-pipeline',
  description: 'EKS normalize + dedupe + policy + scrub + rules (whole library) + EventList body, one core, vs the ceiling',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const loaded = loadRuleFiles([`${ROOT}config/rules/library.yaml`]);
    const engine = new RuleEngine(enableRules(loaded.rules, ['all']).rules, 'all');
    const context = { hostname: hostname(), nowMs: Date.now() };
    const dedupe = new DedupeWindow(500_000);
    const eksContext = { cluster: 'bench', region: 'us-east-1', accountId: '123456789012' };
    const batch: BatchState = { state: 'pending', settled: Promise.resolve() };
    // The policy the project ships (drops heartbeats and probes, Metadata for Secrets and reads).
    const policyLoad = loadPolicyFile(`${ROOT}config/audit-policy.yaml`);
    if (!policyLoad.policy) throw new Error(`policy: ${policyLoad.problems.join('; ')}`);
    const policy = policyLoad.policy;
    let kept = 0;
    let seen = 0;

    // EKS records carry the apiserver's own bytes, so the ceiling is on exactly the input.
    const normalize = (texts: readonly string[], first: number): AuditEvent[] => {
      const out: AuditEvent[] = [];
      texts.forEach((message, k) => {
        const event = normalizeEksRecord({ logStreamName: 'kube-apiserver-audit-0', timestamp: 0, ingestionTime: 0, eventId: String(first + k), message }, eksContext);
        if (isReject(event)) throw new Error(event.reason);
        out.push(event);
      });
      return out;
    };
    const stages: [string, Stage][] = [
      ['dedupe', (events) => events.filter((e) => dedupe.admit(dedupeKey(e), batch).kind === 'new')],
      [
        'policy',
        (events) => {
          const out: AuditEvent[] = [];
          for (const e of events) {
            const outcome = applyPolicy(policy, e);
            if (outcome.kind === 'kept') out.push(outcome.event);
          }
          seen += events.length;
          kept += out.length;
          return out;
        },
      ],
      ['scrub', (events) => events.map((e) => scrubEvent(e, { secrets: true, paths: [] }))],
      [
        'rules',
        (events) => {
          for (const e of events) for (const rule of engine.match(e)) alertToJSON(buildAlert(rule, e, context));
          return events;
        },
      ],
      [
        'EventList',
        (events) => {
          const format = BODY_FORMATS.EventList;
          let bytes = envelopeBytes(format, events.length);
          const items = events.map((e) => {
            const full = encodeEvent(e);
            const item = format.item(full, Buffer.byteLength(full), () => e);
            bytes += item.bytes;
            return item.text;
          });
          buildBody(format, items, bytes);
          return events;
        },
      ],
    ];

    const stageMs = new Map<string, number>([['normalize', 0], ...stages.map(([n]): [string, number] => [n, 0])]);
    const timed = <T>(name: string, f: () => T): T => {
      const start = performance.now();
      const out = f();
      stageMs.set(name, stageMs.get(name)! + performance.now() - start);
      return out;
    };
    const whole = await measureSet(w.templates, w.cpuSetSize, (texts, first) => {
      let events = timed('normalize', () => normalize(texts, first));
      for (const [name, stage] of stages) events = timed(name, () => stage(events));
      return events.length;
    });
    ctx.log(`the shipped audit policy kept ${kept} of ${seen} events`);
    const totalMs = [...stageMs.values()].reduce((a, b) => a + b, 0);
    ctx.log(`share of CPU pipeline time: ${[...stageMs].map(([n, ms]) => `${n} ${((100 * ms) / totalMs).toFixed(0)}%`).join(', ')}`);
    const figures: Figure[] = [
      withBaseline(
        { key: 'cpu_pipeline.events_per_s', label: `CPU pipeline (${['normalize', ...stages.map(([n]) => n)].join(' + ')})`, value: whole.eventsPerSecond, unit: 'events/s' },
        CEILING_LABEL,
        w.ceiling.eventsPerSecond,
      ),
      withBaseline({ key: 'cpu_pipeline.mb_per_s', label: 'CPU pipeline', value: whole.mbPerSecond, unit: 'MB/s' }, CEILING_LABEL, w.ceiling.mbPerSecond),
    ];
    for (const [name, ms] of stageMs) {
      figures.push(
        withBaseline(
          { key: `cpu_pipeline.stage.${name}.events_per_s`, label: `  stage ${name} alone`, value: (w.cpuSetSize * 1000) / ms, unit: 'events/s' },
          CEILING_LABEL,
          w.ceiling.eventsPerSecond,
        ),
      );
    }
    figures.push(...handOff(w.templates, w.cpuSetSize, w.ceiling.eventsPerSecond));

    // The same path through the worker pool the bridge runs (pipeline.workers): normalize, policy,
    // scrub and encode in the workers; dedupe and the EventList bodies on the main thread.
    // 1 and 2 workers alternately, several rounds: this machine's speed drifts by ±15% over a
    // minute, which one run of each would take for the effect of the second worker. Five, because
    // one round's ratio still moves by ±8% (1.49 to 1.76 in two runs of three rounds each).
    const rounds = ctx.quick ? 1 : 5;
    const runs = new Map<number, PooledRun[]>([
      [1, []],
      [2, []],
    ]);
    for (let round = 0; round < rounds; round++) for (const [workers, list] of runs) list.push(await pooledRateInChild(w.cpuSetSize, workers));
    for (const [workers, list] of runs) {
      const plural = workers > 1 ? 's' : '';
      figures.push(
        withBaseline(
          { key: `cpu_pipeline.workers_${workers}.events_per_s`, label: `CPU pipeline in ${workers} worker thread${plural} (normalize + policy + scrub + encode) + main thread (dedupe + EventList), median of ${rounds}`, value: median(list.map((r) => r.rate)), unit: 'events/s' },
          CEILING_LABEL,
          w.ceiling.eventsPerSecond,
        ),
        { key: `cpu_pipeline.workers_${workers}.main_thread_busy`, label: `  main thread busy with ${workers} worker${plural} (event loop utilization)`, value: median(list.map((r) => r.mainBusy)), unit: 'share' },
        { key: `cpu_pipeline.workers_${workers}.process_cores`, label: `  CPU of the whole process with ${workers} worker${plural} (all threads, V8's helpers included)`, value: median(list.map((r) => r.cores)), unit: 'cores' },
        { key: `cpu_pipeline.workers_${workers}.main_thread_cores`, label: `    of which the main thread`, value: median(list.map((r) => r.threads.main)), unit: 'cores' },
        { key: `cpu_pipeline.workers_${workers}.worker_threads_cores`, label: `    of which the worker thread${plural}`, value: median(list.map((r) => r.threads.workers)), unit: 'cores' },
        { key: `cpu_pipeline.workers_${workers}.helper_threads_cores`, label: `    of which V8's helper threads (parallel and concurrent GC, compilers) and libuv's`, value: median(list.map((r) => r.threads.helpers)), unit: 'cores' },
      );
      ctx.log(`${workers} worker${plural}, round by round: ${list.map((r) => `${r.rate.toFixed(0)} events/s, main ${r.threads.main.toFixed(2)} + workers ${r.threads.workers.toFixed(2)} + helpers ${r.threads.helpers.toFixed(2)} cores`).join('; ')}`);
    }
    const ratios = runs.get(2)!.map((two, i) => two.rate / runs.get(1)![i]!.rate);
    ctx.log(`2 workers against 1, round by round: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
    figures.push({ key: 'cpu_pipeline.workers_2_vs_1', label: `  2 workers against 1, median of ${rounds} alternating round${rounds > 1 ? 's' : ''}`, value: median(ratios), unit: 'x' });
    // One worker's run kept c cores busy (the worker, the main thread, the helpers); at the same CPU
    // per event two cores give at most 2 / c times its rate, however many workers share them.
    figures.push({
      key: 'cpu_pipeline.workers_2_vs_1_bound',
      label: '  what two cores allow at the 1-worker runs\' CPU per event (2 ÷ their cores)',
      value: median(runs.get(1)!.map((r) => 2 / r.cores)),
      unit: 'x',
    });
    return figures;
  },
};


/** The middle value (of an odd count; nearest rank below the middle of an even one). */
function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}


/**
 * What moving an event between threads costs (structured clone is V8's serializer): the sending and
 * the receiving thread's share, per event, for the question whether a worker pool would pay.
 */
function handOff(templates: Parameters<typeof eventText>[0], count: number, ceiling: number): Figure[] {
  let serializeMs = 0;
  let deserializeMs = 0;
  for (let first = 0; first < count; first += 2000) {
    const events: unknown[] = [];
    for (let i = first; i < Math.min(count, first + 2000); i++) events.push(JSON.parse(eventText(templates, i)));
    let start = performance.now();
    const buffers = events.map((e) => serialize(e));
    serializeMs += performance.now() - start;
    start = performance.now();
    for (const b of buffers) deserialize(b);
    deserializeMs += performance.now() - start;
  }
  return [
    withBaseline({ key: 'cpu_pipeline.handoff.serialize.events_per_s', label: '  hand-off between threads: v8.serialize (sender)', value: (count * 1000) / serializeMs, unit: 'events/s' }, CEILING_LABEL, ceiling),
    withBaseline({ key: 'cpu_pipeline.handoff.deserialize.events_per_s', label: '  hand-off between threads: v8.deserialize (receiver)', value: (count * 1000) / deserializeMs, unit: 'events/s' }, CEILING_LABEL, ceiling),
  ];
}
