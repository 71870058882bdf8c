import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEventHubsEmulator, type DiagnosticRecord, type EventHubsEmulator } from '../../src/sources/aks-eventhubs/emulator/index.js';
import { BridgeProcess } from '../child.js';
import { writeBridgeConfig } from '../bridge-config.js';
import { perSecondFigure, percentileFigure, type Figure, type Suite } from '../harness.js';
import { BenchReceiver, percentile, waitFor } from '../receiver.js';
import { auditId, CEILING_LABEL, eventText, workload, type WorkloadTemplate } from '../workload.js';
import { timeDrain } from './end-to-end.js';
import { workerCount } from '../../src/bridge.js';

const HUB = 'insights-logs-kube-audit';
const PARTITIONS = 4;
// A diagnostic setting packs several records into one message (up to the hub's 1 MB).
const RECORDS_PER_MESSAGE = 10;
const RESOURCE_ID = '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/BENCH/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/BENCH-AKS';

/** The workload's events as the diagnostic records an AKS diagnostic setting sends: the Event text in properties.log. */
function records(templates: readonly WorkloadTemplate[], first: number, count: number): DiagnosticRecord[] {
  return Array.from({ length: count }, (_, k) => ({
    operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
    category: 'kube-audit',
    resourceId: RESOURCE_ID,
    properties: { log: `${eventText(templates, first + k)}\n`, stream: 'stdout', pod: 'kube-apiserver-bench-0' },
    time: new Date().toISOString(),
  }));
}

/** Appends in chunks, so the records are never all in memory as objects (the emulator keeps the message bytes). */
function append(emulator: EventHubsEmulator, templates: readonly WorkloadTemplate[], first: number, count: number): void {
  for (let at = first; at < first + count; at += 5000) emulator.append(records(templates, at, Math.min(5000, first + count - at)));
}

/** The bridge process with one aks-eventhubs source on the emulator and a webhook sink to the receiver. */
function bridge(emulator: EventHubsEmulator, receiver: BenchReceiver, dirs: string[], extra: Record<string, unknown> = { log: { level: 'info' } }): BridgeProcess {
  const secrets = mkdtempSync(join(tmpdir(), 'kab-bench-eh-'));
  dirs.push(secrets);
  const connectionStringFile = join(secrets, 'connection-string');
  writeFileSync(connectionStringFile, emulator.connectionString, { mode: 0o600 });
  // Info level, for the line that says the server listens (the drain is timed from it).
  const { file, dir } = writeBridgeConfig([{ name: 'bench', type: 'aks-eventhubs', eventHub: HUB, connectionStringFile, startPosition: 'earliest' }], receiver.url, extra);
  dirs.push(dir);
  const process = BridgeProcess.start(file);
  // Its exit must not be an unhandled rejection of a port() nobody waits for yet.
  process.port().catch(() => undefined);
  return process;
}

/**
 * AKS through Event Hubs: the workload's events as diagnostic records in the emulator (this
 * process, AMQP on 127.0.0.1), the bridge in its own process reading them with @azure/event-hubs
 * (positions in its checkpoint file), a webhook sink posting to a loopback receiver (this
 * process). Throughput over a backlog, against the JSON ceiling of the same events; delivery
 * latency of a trickle with the default settings.
 */
export const aksEventHubsSuite: Suite = {
  name: 'aks-eventhubs',
  description: 'AKS via Event Hubs: emulator → @azure/event-hubs → bridge process → webhook sink → loopback receiver; events/s against the JSON ceiling, and delivery latency p50/p99',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const figures: Figure[] = [];
    // Without worker threads and with what pipeline.workers: auto starts here, in the same run.
    for (const workers of [0, workerCount('auto')]) figures.push(...(await throughput(w.templates, ctx.quick ? 4000 : 100_000, w.ceiling.eventsPerSecond, (m) => ctx.log(m), workers)));
    figures.push(...(await latency(w.templates, ctx.quick ? 4 : 60, (m) => ctx.log(m), ctx.quick)));
    return figures;
  },
};

async function throughput(templates: readonly WorkloadTemplate[], count: number, ceiling: number, log: (m: string) => void, workers: number): Promise<Figure[]> {
  const key = `aks_eventhubs.end_to_end.workers_${workers}`;
  const label = workers === 0 ? 'no worker threads' : `${workers} worker thread${workers > 1 ? 's' : ''} (auto here)`;
  const emulator = await startEventHubsEmulator({ hub: HUB, partitions: PARTITIONS, recordsPerMessage: RECORDS_PER_MESSAGE });
  const receiver = await new BenchReceiver().start();
  const dirs: string[] = [];
  try {
    append(emulator, templates, 0, count);
    const process = bridge(emulator, receiver, dirs, { log: { level: 'info' }, pipeline: { workers } });
    try {
      const { seconds, bridgeCpuSeconds, peakRssMb: peak } = await timeDrain(process, receiver, count, 'aks-eventhubs', log);
      const cpu = bridgeCpuSeconds / seconds;
      const stats = emulator.stats();
      log(
        `aks-eventhubs, ${label}: ${count} events (${stats.messages} messages of ${RECORDS_PER_MESSAGE} records, ${PARTITIONS} partitions) in ${seconds.toFixed(1)} s, ` +
          `${(receiver.bytes / 1e6).toFixed(0)} MB received, bridge CPU ${(100 * cpu).toFixed(0)}% of a core, peak RSS ${peak.toFixed(0)} MB; ${stats.deliveries} deliveries`,
      );
      return [
        perSecondFigure({ key: `${key}.events_per_s`, label: `end to end, aks-eventhubs, ${label}: emulator → SDK → bridge → webhook`, unit: 'events/s' }, count, seconds, { label: CEILING_LABEL, value: ceiling }),
        perSecondFigure({ key: `${key}.bridge_cpu_share`, label: '  bridge process CPU, all its threads (1 = one core busy)', unit: 'cores' }, cpu * seconds, seconds),
        { key: `${key}.bridge_peak_rss_mb`, label: '  bridge process peak RSS', value: peak, unit: 'MB' },
      ];
    } finally {
      await process.stop();
    }
  } finally {
    await receiver.stop();
    await emulator.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Records appended at 50 per second; each one's latency runs from its append to its arrival at the receiver. */
async function latency(templates: readonly WorkloadTemplate[], trickleSeconds: number, log: (m: string) => void, quick: boolean): Promise<Figure[]> {
  const emulator = await startEventHubsEmulator({ hub: HUB, partitions: PARTITIONS });
  const receiver = await new BenchReceiver({ recordArrivals: true }).start();
  const dirs: string[] = [];
  const process = bridge(emulator, receiver, dirs);
  try {
    // Subscribed once every partition has a receiver attached.
    await waitFor(() => emulator.receivers().length >= PARTITIONS, 60_000);
    const appendedAt = new Map<string, number>();
    let next = 1_000_000_000;
    const start = Date.now();
    const end = start + trickleSeconds * 1000;
    while (Date.now() < end) {
      const now = Date.now();
      emulator.append(records(templates, next, 5));
      for (let k = 0; k < 5; k++) appendedAt.set(auditId(next + k), now);
      next += 5;
      await new Promise((r) => setTimeout(r, 100));
    }
    const trickled = (Date.now() - start) / 1000;
    await waitFor(() => [...appendedAt.keys()].every((id) => receiver.arrivals.has(id)), 120_000, undefined, 200);
    const latencies = [...appendedAt].map(([id, at]) => (receiver.arrivals.get(id)! - at) / 1000).sort((a, b) => a - b);
    const label = `latency, aks-eventhubs (defaults: maxWaitTime 1s, webhook batchMaxWait 1s${quick ? '; quick' : ''}), appended → received`;
    log(`aks-eventhubs: ${latencies.length} records over ${trickled.toFixed(1)} s; p50 ${percentile(latencies, 50).toFixed(2)} s, p99 ${percentile(latencies, 99).toFixed(2)} s, max ${latencies.at(-1)!.toFixed(2)} s`);
    return [
      percentileFigure({ key: 'latency.aks_eventhubs.p50_s', label: `${label} p50`, unit: 's' }, latencies, 50, trickled),
      percentileFigure({ key: 'latency.aks_eventhubs.p99_s', label: `${label} p99`, unit: 's' }, latencies, 99, trickled),
    ];
  } finally {
    await process.stop();
    await receiver.stop();
    await emulator.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
