import { rmSync } from 'node:fs';
import { BridgeProcess } from '../child.js';
import { writeBridgeConfig } from '../bridge-config.js';
import { withBaseline, type Figure, type Suite } from '../harness.js';
import { aksBench, eksBench, gkeBench, type ProviderBench } from '../providers.js';
import { BenchReceiver, waitFor } from '../receiver.js';
import { CEILING_LABEL, workload, type WorkloadTemplate } from '../workload.js';

/** Starts a provider's emulator holding `count` records that are already settled (an hour old). */
export type ProviderFactory = (count: number, startMs: number, templates: readonly WorkloadTemplate[]) => Promise<ProviderBench>;

export const PROVIDERS: Record<string, ProviderFactory> = { gke: gkeBench, eks: eksBench, aks: aksBench };

export interface Drain {
  eventsPerSecond: number;
  /** Share of one core the bridge process used while draining: near 1 means the bridge is the bottleneck. */
  bridgeCpuShare: number;
  peakRssMb: number;
  seconds: number;
}

/**
 * The bridge (`kube-audit-bridge run`, its own process and core) drains a provider's backlog through
 * the real SDK into the webhook sink and a loopback receiver; the rate is counted from the first
 * event received to the last, so process start and SDK loading are not in it.
 */
export async function drainBacklog(
  provider: ProviderBench,
  count: number,
  receiver: BenchReceiver,
  log: (m: string) => void,
  nodeArgs: readonly string[] = [],
): Promise<Drain> {
  const { file, dir } = writeBridgeConfig([provider.source], receiver.url);
  const bridge = BridgeProcess.start(file, provider.env, nodeArgs);
  let first = 0;
  let cpuAtFirst = 0;
  let lastLog = Date.now();
  try {
    await waitFor(
      () => receiver.events >= count,
      30 * 60_000,
      () => {
        if (first === 0 && receiver.events > 0) {
          first = Date.now();
          cpuAtFirst = bridge.cpuSeconds();
        }
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          log(`${provider.provider}: ${receiver.events.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} events delivered, bridge RSS ${bridge.rssMb().toFixed(0)} MB`);
        }
      },
      100,
    );
    const seconds = (Date.now() - (first || Date.now())) / 1000;
    const bridgeCpuShare = (bridge.cpuSeconds() - cpuAtFirst) / Math.max(seconds, 0.001);
    return { eventsPerSecond: receiver.events / Math.max(seconds, 0.001), bridgeCpuShare, peakRssMb: bridge.peakRssMb(), seconds };
  } finally {
    await bridge.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (d): end to end per provider, events/s. */
export const endToEndSuite: Suite = {
  name: 'end-to-end',
  description: 'per provider: emulator → real SDK → bridge process (normalize, dedupe, policy-free, scrub) → webhook sink → loopback receiver',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const count = ctx.quick ? 4000 : 100_000;
    const figures: Figure[] = [];
    for (const [name, factory] of Object.entries(PROVIDERS)) {
      const provider = await factory(count, Date.now() - 3_600_000, w.templates);
      const receiver = await new BenchReceiver().start();
      try {
        const drain = await drainBacklog(provider, count, receiver, (m) => ctx.log(m));
        ctx.log(`${name}: ${count} events in ${drain.seconds.toFixed(1)} s, ${(receiver.bytes / 1e6).toFixed(0)} MB received, bridge peak RSS ${drain.peakRssMb.toFixed(0)} MB, bridge CPU ${(100 * drain.bridgeCpuShare).toFixed(0)}% of a core`);
        figures.push(
          withBaseline(
            { key: `end_to_end.${name}.events_per_s`, label: `end to end, ${name}: emulator → SDK → bridge → webhook`, value: drain.eventsPerSecond, unit: 'events/s' },
            CEILING_LABEL,
            w.ceiling.eventsPerSecond,
          ),
          { key: `end_to_end.${name}.bridge_cpu_share`, label: `  bridge process CPU (1 = one core busy)`, value: drain.bridgeCpuShare, unit: 'cores' },
        );
      } finally {
        await receiver.stop();
        await provider.stop();
      }
    }
    return figures;
  },
};
