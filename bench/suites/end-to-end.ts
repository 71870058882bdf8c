import { rmSync } from 'node:fs';
import { workerCount } from '../../src/bridge.js';
import { BridgeProcess } from '../child.js';
import { writeBridgeConfig } from '../bridge-config.js';
import { perSecondFigure, type Figure, type Suite } from '../harness.js';
import { aksBench, eksBench, gkeBench, type ProviderBench } from '../providers.js';
import { BenchReceiver, waitFor } from '../receiver.js';
import { CEILING_LABEL, jsonRoundTrip, measureSet, workload, type WorkloadTemplate } from '../workload.js';

/** Starts a provider's emulator holding `count` records that are already settled (an hour old). */
export type ProviderFactory = (count: number, startMs: number, templates: readonly WorkloadTemplate[]) => Promise<ProviderBench>;

export const PROVIDERS: Record<string, ProviderFactory> = { gke: gkeBench, eks: eksBench, aks: aksBench };

export interface Drain {
  /** Events the receiver got, and the seconds from the bridge ready to the last of them. */
  events: number;
  seconds: number;
  /** CPU seconds the bridge process used over those seconds. */
  bridgeCpuSeconds: number;
  /** Of those, the bridge's main thread's (the SDK, dedupe, the sinks' sending, checkpoints). */
  bridgeMainThreadCpuSeconds: number;
  /** CPU seconds of this process (the emulator and the receiver) over those seconds. */
  benchCpuSeconds: number;
  peakRssMb: number;
}

/**
 * The bridge (`kube-audit-bridge run`, its own process and core) drains a provider's backlog through
 * the real SDK into the webhook sink and a loopback receiver.
 */
export async function drainBacklog(
  provider: ProviderBench,
  count: number,
  receiver: BenchReceiver,
  log: (m: string) => void,
  nodeArgs: readonly string[] = [],
  workers: number | 'auto' = 'auto',
): Promise<Drain> {
  // Info level, for the line that says the server listens; the bridge logs nothing per batch at it.
  const { file, dir } = writeBridgeConfig([provider.source], receiver.url, { log: { level: 'info' }, pipeline: { workers } });
  const bridge = BridgeProcess.start(file, provider.env, nodeArgs);
  try {
    return await timeDrain(bridge, receiver, count, provider.provider, log);
  } finally {
    await bridge.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Waits until the receiver holds `count` events, and times it from the bridge ready (its server
 * listening, which needs log level info: the pipeline starts right after) to the last event received:
 * process start and module loading are not in it, the first poll or stream and the first batch are
 * (counting from the first event out once made 4,000 events that came in one batch a rate of
 * 4,000,000 per second). Every streaming and polled throughput figure is counted this way.
 */
export async function timeDrain(bridge: BridgeProcess, receiver: BenchReceiver, count: number, name: string, log: (m: string) => void): Promise<Drain> {
  await bridge.port();
  const started = performance.now();
  const cpuAtStart = bridge.cpuSeconds();
  const mainCpuAtStart = bridge.mainThreadCpuSeconds();
  const benchCpuAtStart = process.cpuUsage();
  let lastLog = Date.now();
  await waitFor(
    () => receiver.events >= count,
    30 * 60_000,
    () => {
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`${name}: ${receiver.events.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} events delivered, bridge RSS ${bridge.rssMb().toFixed(0)} MB`);
      }
    },
    // The end is seen within this much: 1% of the shortest run that gives a figure.
    20,
  );
  const seconds = (performance.now() - started) / 1000;
  const benchCpu = process.cpuUsage(benchCpuAtStart);
  return {
    events: receiver.events,
    seconds,
    bridgeCpuSeconds: bridge.cpuSeconds() - cpuAtStart,
    bridgeMainThreadCpuSeconds: bridge.mainThreadCpuSeconds() - mainCpuAtStart,
    benchCpuSeconds: (benchCpu.user + benchCpu.system) / 1e6,
    peakRssMb: bridge.peakRssMb(),
  };
}

/** A full collection where node runs with --expose-gc (`npm run bench` does); nothing elsewhere. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Events of the ceiling measured around each drain: about a second's work. */
const DRAIN_CEILING_EVENTS = 20_000;

/** (d): end to end per provider, events/s. */
export const endToEndSuite: Suite = {
  name: 'end-to-end',
  description: 'per provider: emulator → real SDK → bridge process (normalize, dedupe, policy-free, scrub) → webhook sink → loopback receiver',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const count = ctx.quick ? 4000 : 100_000;
    const figures: Figure[] = [];
    const providers = Object.entries(PROVIDERS).filter(([name]) => ctx.providers.length === 0 || ctx.providers.includes(name));
    // Each provider three times in the same run: everything on the main thread, 1 worker thread
    // (what pipeline.workers: auto starts on 2 CPUs), 2 worker threads.
    const modes: { workers: number; tag: string; label: string }[] = [0, 1, 2].map((n) => ({
      workers: n,
      tag: `workers_${n}`,
      label: n === 0 ? 'no worker threads' : `${n} worker thread${n > 1 ? 's' : ''}${n === workerCount('auto') ? ' (auto here)' : ''}`,
    }));
    for (const [name, factory] of providers) {
      for (const mode of modes) {
        const provider = await factory(count, Date.now() - 3_600_000, w.templates);
        const receiver = await new BenchReceiver().start();
        try {
          // This machine's speed drifts (the run's one ceiling once measured half of what it was half an
          // hour before): each drain is a ratio to a ceiling measured just before and just after it.
          // Collected first: the emulator's setup leaves garbage whose collection would slow the first.
          collectGarbage();
          const before = await measureSet(w.templates, DRAIN_CEILING_EVENTS, jsonRoundTrip);
          const drain = await drainBacklog(provider, count, receiver, (m) => ctx.log(m), ctx.bridgeNodeArgs, mode.workers);
          collectGarbage();
          const after = await measureSet(w.templates, DRAIN_CEILING_EVENTS, jsonRoundTrip);
          const ceiling = (before.eventsPerSecond + after.eventsPerSecond) / 2;
          ctx.log(`${name}, ${mode.label}: ceiling ${before.eventsPerSecond.toFixed(0)} events/s before the drain, ${after.eventsPerSecond.toFixed(0)} after`);
          ctx.log(`${name}, ${mode.label}: ${count} events in ${drain.seconds.toFixed(1)} s from the bridge ready, ${(receiver.bytes / 1e6).toFixed(0)} MB received, bridge peak RSS ${drain.peakRssMb.toFixed(0)} MB, bridge CPU ${((100 * drain.bridgeCpuSeconds) / drain.seconds).toFixed(0)}% of a core (main thread ${((100 * drain.bridgeMainThreadCpuSeconds) / drain.seconds).toFixed(0)}%), emulator and receiver ${((100 * drain.benchCpuSeconds) / drain.seconds).toFixed(0)}%`);
          const key = `end_to_end.${name}.${mode.tag}`;
          figures.push(
            perSecondFigure(
              { key: `${key}.events_per_s`, label: `end to end, ${name}, ${mode.label}: emulator → SDK → bridge → webhook`, unit: 'events/s' },
              drain.events,
              drain.seconds,
              { label: `${CEILING_LABEL}, measured around this drain`, value: ceiling },
            ),
            { key: `${key}.ceiling_drift`, label: '  ceiling after the drain against before it (1 = the machine kept its speed)', value: after.eventsPerSecond / before.eventsPerSecond, unit: 'x' },
            perSecondFigure({ key: `${key}.bridge_cpu_share`, label: `  bridge process CPU, all its threads (1 = one core busy)`, unit: 'cores' }, drain.bridgeCpuSeconds, drain.seconds),
            perSecondFigure({ key: `${key}.bridge_main_thread_cpu_share`, label: `  of which the bridge's main thread`, unit: 'cores' }, drain.bridgeMainThreadCpuSeconds, drain.seconds),
            // The emulator shares the two cores with the bridge: what is left of them bounds the bridge.
            perSecondFigure({ key: `${key}.emulator_cpu_share`, label: `  emulator and receiver CPU (the bench process)`, unit: 'cores' }, drain.benchCpuSeconds, drain.seconds),
            { key: `${key}.peak_rss_mb`, label: '  bridge peak RSS', value: drain.peakRssMb, unit: 'MB' },
          );
        } finally {
          await receiver.stop();
          await provider.stop();
        }
      }
    }
    return figures;
  },
};
