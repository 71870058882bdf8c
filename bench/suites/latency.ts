import { rmSync } from 'node:fs';
import { BridgeProcess } from '../child.js';
import { writeBridgeConfig } from '../bridge-config.js';
import { percentileFigure, type Figure, type Suite } from '../harness.js';
import { BenchReceiver, percentile, waitFor } from '../receiver.js';
import { workload } from '../workload.js';
import { PROVIDERS } from './end-to-end.js';

// The sources' default poll settings (their schemas): the latency a user gets without tuning.
const DEFAULT_POLL: Record<string, { pollInterval: number; settleLag: number }> = {
  gke: { pollInterval: 10, settleLag: 30 },
  eks: { pollInterval: 10, settleLag: 60 },
  aks: { pollInterval: 60, settleLag: 300 },
};

/**
 * (f): from an entry becoming visible in the emulator to its receipt at the webhook, p50 and p99,
 * with the default poll settings (quick: 1 s poll, 2 s settle lag, said in the label). Entries
 * trickle in at 50 per second; every provider runs at once, each with its own bridge process.
 */
export const latencySuite: Suite = {
  name: 'latency',
  description: 'delivery latency p50/p99, visible in the emulator → received at the webhook, default poll settings',
  async run(ctx) {
    const trickleSeconds = ctx.quick ? 4 : 60;
    const figures: Figure[] = [];
    await Promise.all(
      Object.entries(PROVIDERS).map(async ([name, factory]) => {
        const settings = ctx.quick ? { pollInterval: 1, settleLag: 2 } : DEFAULT_POLL[name]!;
        const provider = await factory(0, Date.now(), (await workload(ctx.quick)).templates);
        const receiver = await new BenchReceiver({ recordArrivals: true }).start();
        const { file, dir } = writeBridgeConfig(
          [{ ...provider.source, startFrom: new Date().toISOString(), pollInterval: `${settings.pollInterval}s`, settleLag: `${settings.settleLag}s` }],
          receiver.url,
          // Info level, for the line that says the server listens; the bridge logs nothing per batch at it.
          { log: { level: 'info' } },
        );
        const bridge = BridgeProcess.start(file, provider.env);
        const visibleAt = new Map<string, number>();
        try {
          // The latency of a running bridge: entries start once it is ready, so its start-up is in none of them.
          await bridge.port();
          const start = Date.now();
          const end = start + trickleSeconds * 1000;
          while (Date.now() < end) {
            const now = Date.now();
            for (const id of provider.addNow(5)) visibleAt.set(id, now);
            await new Promise((r) => setTimeout(r, 100));
          }
          // Samples span the trickle: a figure needs it to last MIN_RUN_SECONDS (and a p99 100 samples).
          const trickled = (Date.now() - start) / 1000;
          const budget = (settings.pollInterval + settings.settleLag) * 1000 + 120_000;
          await waitFor(() => [...visibleAt.keys()].every((id) => receiver.arrivals.has(id)), budget, undefined, 1000);
          const latencies = [...visibleAt].map(([id, at]) => (receiver.arrivals.get(id)! - at) / 1000).sort((a, b) => a - b);
          const target = settings.pollInterval + settings.settleLag + 2;
          const label = `latency, ${name} (poll ${settings.pollInterval}s, settle ${settings.settleLag}s${ctx.quick ? ', quick' : ''})`;
          ctx.log(`${name}: ${latencies.length} entries over ${trickled.toFixed(1)} s; p50 ${percentile(latencies, 50).toFixed(1)} s, p99 ${percentile(latencies, 99).toFixed(1)} s, max ${latencies.at(-1)!.toFixed(1)} s; target p99 <= ${target} s`);
          figures.push(
            percentileFigure({ key: `latency.${name}.p50_s`, label: `${label} p50`, unit: 's' }, latencies, 50, trickled),
            percentileFigure({ key: `latency.${name}.p99_s`, label: `${label} p99`, unit: 's' }, latencies, 99, trickled, { label: 'target: poll + settle + 2 s', value: target }),
          );
        } finally {
          await bridge.stop();
          await receiver.stop();
          await provider.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
    );
    return figures;
  },
};
