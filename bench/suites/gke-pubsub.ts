import { rmSync } from 'node:fs';
import { startPubsubEmulator, type RunningPubsubEmulator } from '../../src/sources/gke-pubsub/emulator/index.js';
import { BridgeProcess } from '../child.js';
import { writeBridgeConfig } from '../bridge-config.js';
import { workerCount } from '../../src/bridge.js';
import { jsonCeiling, percentileFigure, perSecondFigure, type Figure, type Suite } from '../harness.js';
import { gkeEntries } from '../providers.js';
import { BenchReceiver, percentile, waitFor } from '../receiver.js';
import { CEILING_LABEL, workload } from '../workload.js';
import { timeDrain } from './end-to-end.js';

const SUBSCRIPTION = 'projects/bench/subscriptions/kube-audit';

/** The gke-pubsub source block, with its defaults, pointed at the emulator. */
function source(emulator: RunningPubsubEmulator): Record<string, unknown> {
  return { name: 'bench', type: 'gke-pubsub', subscription: SUBSCRIPTION, endpoint: emulator.endpoint, insecure: true };
}

/** A bridge process; at log level warn it never says it listens, and its exit must not be an unhandled rejection. */
function started(config: string): BridgeProcess {
  const bridge = BridgeProcess.start(config);
  bridge.port().catch(() => undefined);
  return bridge;
}

/** Publishes `count` GKE entries (the samples grown to 1-20 KB) in chunks, so the entries are never all in memory as objects. */
function publish(emulator: RunningPubsubEmulator, count: number, startMs: number, prefix: string): string[] {
  const ids: string[] = [];
  for (let first = 0; first < count; first += 5000) {
    const chunk = gkeEntries(Math.min(5000, count - first), startMs + first / 10, 2 + first, `${prefix}-${first}`);
    emulator.publish(chunk);
    for (const e of chunk) ids.push(e.insertId as string);
  }
  return ids;
}

/**
 * GKE through Pub/Sub: a Log Router sink's messages in the emulator (this process), the bridge in
 * its own process streaming them with the official client, a webhook sink posting to a loopback
 * receiver (this process). Throughput over a backlog, and the latency of a trickle.
 */
export const gkePubsubSuite: Suite = {
  name: 'gke-pubsub',
  description: 'GKE via Pub/Sub: emulator → @google-cloud/pubsub streaming pull → bridge process → webhook sink → loopback receiver; events/s and delivery latency p50/p99',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const figures: Figure[] = [];
    // Without worker threads and with what pipeline.workers: auto starts here, in the same run.
    for (const workers of [0, workerCount('auto')]) figures.push(...(await throughput(ctx.quick ? 4000 : 100_000, w.ceiling.eventsPerSecond, (m) => ctx.log(m), workers)));
    figures.push(...(await latency(ctx.quick ? 4 : 60, (m) => ctx.log(m), ctx.quick)));
    return figures;
  },
};

/**
 * The backlog drained from the bridge ready (its server listening: the source opens its stream right
 * after) to the last event received, as the end-to-end suite counts (bench/suites/end-to-end.ts).
 */
async function throughput(count: number, ceiling: number, log: (m: string) => void, workers: number): Promise<Figure[]> {
  const emulator = await startPubsubEmulator({ subscription: SUBSCRIPTION });
  const receiver = await new BenchReceiver().start();
  // Info level, for the line that says the server listens; the bridge logs nothing per batch at it.
  const { file, dir } = writeBridgeConfig([source(emulator)], receiver.url, { log: { level: 'info' }, pipeline: { workers } });
  const key = `gke_pubsub.end_to_end.workers_${workers}`;
  const label = workers === 0 ? 'no worker threads' : `${workers} worker thread${workers > 1 ? 's' : ''} (auto here)`;
  try {
    publish(emulator, count, Date.now() - 3_600_000, 'tp');
    const texts = emulator.snapshot().slice(0, 5000).map((m) => m.data.toString('utf8'));
    const own = await jsonCeiling(texts, 1000);
    const bridge = started(file);
    try {
      const { seconds, bridgeCpuSeconds: cpuSeconds, peakRssMb: peak } = await timeDrain(bridge, receiver, count, 'gke-pubsub', log);
      await waitFor(() => emulator.stats().acked >= count, 60_000);
      const stats = emulator.stats();
      log(`gke-pubsub, ${label}: ${count} events in ${seconds.toFixed(1)} s from the bridge ready, bridge CPU ${((100 * cpuSeconds) / seconds).toFixed(0)}% of a core, peak RSS ${peak.toFixed(0)} MB; emulator: ${stats.delivered} deliveries, ${stats.redelivered} redelivered, ${stats.acked} acked`);
      log(`gke-pubsub: ceiling of these entries' own text (JSON.parse + stringify): ${Math.round(own.itemsPerSecond)} entries/s; the bridge ran at ${(count / seconds / own.itemsPerSecond).toFixed(2)}x of it`);
      return [
        perSecondFigure({ key: `${key}.events_per_s`, label: `end to end, gke-pubsub, ${label}: emulator → client → bridge → webhook`, unit: 'events/s' }, count, seconds, { label: CEILING_LABEL, value: ceiling }),
        perSecondFigure({ key: `${key}.bridge_cpu_share`, label: '  bridge process CPU, all its threads (1 = one core busy)', unit: 'cores' }, cpuSeconds, seconds),
        { key: `${key}.bridge_peak_rss_mb`, label: '  bridge process peak RSS', value: peak, unit: 'MB' },
      ];
    } finally {
      await bridge.stop();
    }
  } finally {
    await receiver.stop();
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Entries published at 50 per second; each one's latency is from its publication to its arrival at the receiver. */
async function latency(trickleSeconds: number, log: (m: string) => void, quick: boolean): Promise<Figure[]> {
  const emulator = await startPubsubEmulator({ subscription: SUBSCRIPTION });
  const receiver = await new BenchReceiver({ recordArrivals: true }).start();
  const { file, dir } = writeBridgeConfig([source(emulator)], receiver.url);
  const bridge = started(file);
  try {
    await waitFor(() => emulator.stats().streams > 0, 60_000);
    const publishedAt = new Map<string, number>();
    const begun = Date.now();
    const end = begun + trickleSeconds * 1000;
    for (let round = 0; Date.now() < end; round++) {
      const now = Date.now();
      for (const id of publish(emulator, 5, now, `lat${round}`)) publishedAt.set(id, now);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Samples span the trickle: a figure needs it to last MIN_RUN_SECONDS (and a p99 100 samples).
    const trickled = (Date.now() - begun) / 1000;
    await waitFor(() => [...publishedAt.keys()].every((id) => receiver.arrivals.has(id)), 120_000, undefined, 200);
    const latencies = [...publishedAt].map(([id, at]) => (receiver.arrivals.get(id)! - at) / 1000).sort((a, b) => a - b);
    const label = `latency, gke-pubsub (defaults${quick ? ', quick' : ''}), published → received`;
    log(`gke-pubsub: ${latencies.length} entries over ${trickled.toFixed(1)} s; p50 ${percentile(latencies, 50).toFixed(2)} s, p99 ${percentile(latencies, 99).toFixed(2)} s, max ${latencies.at(-1)!.toFixed(2)} s`);
    return [
      percentileFigure({ key: 'latency.gke_pubsub.p50_s', label: `${label} p50`, unit: 's' }, latencies, 50, trickled),
      percentileFigure({ key: 'latency.gke_pubsub.p99_s', label: `${label} p99`, unit: 's' }, latencies, 99, trickled),
    ];
  } finally {
    await bridge.stop();
    await receiver.stop();
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
