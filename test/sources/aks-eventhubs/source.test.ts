// The aks-eventhubs source with the real @azure/event-hubs SDK against the Event Hubs emulator on
// 127.0.0.1, driven by the real pipeline and the file checkpoint store (one replica).
import { describe, expect, it } from 'vitest';
import { goJSON } from '../../../src/event/encode.js';
import { isReject, type AuditEvent } from '../../../src/event/event.js';
import { recordFromAzureDiagnosticsRow } from '../../../src/sources/aks-eventhubs/emulator/index.js';
import { normalizeAksRow } from '../../../src/sources/aks/normalize.js';
import { metricValue } from '../../helpers/webhook.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLES } from '../../helpers/events.js';
import { auditRecords, connectionStringFile, emulator, eventually, keysOf, recordingLogger, runSource, sampleRecords, TestSink } from './helpers.js';

const sorted = (values: readonly string[]): string[] => [...values].sort();

interface PartitionsCursor {
  partitions: Record<string, { sequenceNumber: number; offset?: string }>;
}

describe('aks-eventhubs source: the same Events as the polled source, through the real SDK', () => {
  it('every AKS sample record on the hub gives the Event its Log Analytics row gives; the cut one is dead-lettered', async () => {
    const records = await sampleRecords();
    const em = await emulator({ partitions: 3, data: records, recordsPerMessage: 4 });
    const sink = new TestSink();
    const run = await runSource({ connectionStringFile: await connectionStringFile(em), startPosition: 'earliest' }, [sink], { once: true });
    await run.done;

    // What Log Analytics would give for the same records: the row file, and the two raw records
    // through the polled normalizer too (their rows are made the way the emulator un-makes them).
    const rows = (JSON.parse(readFileSync(join(SAMPLES, 'aks', 'azurediagnostics-rows.json'), 'utf8')) as { rows: Record<string, unknown>[] }).rows;
    expect(rows.map(recordFromAzureDiagnosticsRow)).toEqual(records.slice(0, 49));
    const polled = rows.map((r) => normalizeAksRow(r)).filter((e): e is AuditEvent => !isReject(e));
    const expected = new Map<string, string>();
    for (const e of polled) if (!expected.has(`${e.auditID}/${e.stage}`)) expected.set(`${e.auditID}/${e.stage}`, goJSON(e));
    const got = new Map(sink.received.map((e) => [`${e.auditID}/${e.stage}`, goJSON(e)]));
    for (const [key, json] of expected) expect(got.get(key), key).toBe(json);
    // 45 distinct events: 3 rows repeat as kube-audit-admin, and the two raw records are rows of
    // the file too (samples/aks/README.md); the dedupe stage keeps one of each.
    expect(sink.received).toHaveLength(45);
    expect(new Set(sink.ids()).size).toBe(45);
    const rejects = run.deadLetters().filter((d) => d.kind === 'reject');
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.reason).toMatch(/^properties\.log truncated by Azure Diagnostics at 32,766 bytes/);
    expect(await metricValue(run.metrics.eventsDeduplicated, { source: 'eh' })).toBe(5);
  });
});

describe('aks-eventhubs source: positions in the checkpoint file', () => {
  it('commits a partition only after the sinks acknowledged; a dead sink commits nothing, and a restart reads everything again', async () => {
    const records = auditRecords(40);
    const em = await emulator({ partitions: 2, data: records });
    const file = await connectionStringFile(em);
    const dead = new TestSink();
    dead.dead = true;
    const first = await runSource({ connectionStringFile: file, startPosition: 'earliest', maxBatchSize: 5 }, [dead], { maxInFlightBatches: 2 });
    await eventually(() => dead.writes >= 10, 10_000, 'retries against the dead sink');
    // Backpressure: two batches in flight, one more waiting per partition, and the SDK holding no
    // more than its prefetch per partition: the hub is not drained into memory.
    const deliveries = em.stats().deliveries;
    expect(deliveries).toBeLessThanOrEqual(2 * 5 + 2 * (5 + 5 + 5));
    expect(deliveries).toBeLessThan(40);
    await first.stop();
    expect(dead.received).toEqual([]);
    expect(first.cursor()).toBeUndefined();

    const live = new TestSink();
    const second = await runSource({ connectionStringFile: file, startPosition: 'earliest', maxBatchSize: 5 }, [live], { dir: first.checkpointPath.replace(/\/checkpoints\.json$/, ''), once: true });
    await second.done;
    expect(sorted(live.ids())).toEqual(sorted(keysOf(records)));
    const cursor = second.cursor() as unknown as PartitionsCursor;
    const stats = em.stats().partitions;
    for (const p of stats) expect(cursor.partitions[p.id]).toEqual({ sequenceNumber: p.lastSequenceNumber, offset: p.lastOffset });
  });

  it('resumes from the checkpoint file: a second run reads only what arrived since, on every partition', async () => {
    const em = await emulator({ partitions: 4, data: auditRecords(30) });
    const file = await connectionStringFile(em);
    const sink = new TestSink();
    const first = await runSource({ connectionStringFile: file, startPosition: 'earliest' }, [sink], { once: true });
    await first.done;
    expect(sink.received).toHaveLength(30);
    em.append(auditRecords(9, 30));
    const again = new TestSink();
    const second = await runSource({ connectionStringFile: file, startPosition: 'earliest' }, [again], { dir: first.checkpointPath.replace(/\/checkpoints\.json$/, ''), once: true });
    await second.done;
    expect(sorted(again.ids())).toEqual(sorted(keysOf(auditRecords(9, 30))));
  });

  it('"latest" is pinned and committed at the first start: what arrives while the bridge is down is read after it', async () => {
    const em = await emulator({ partitions: 3, data: auditRecords(12) });
    const file = await connectionStringFile(em);
    const sink = new TestSink();
    const first = await runSource({ connectionStringFile: file }, [sink], { once: true });
    await first.done;
    expect(sink.received).toEqual([]); // latest: the old records are not read
    const pinned = first.cursor() as unknown as PartitionsCursor;
    expect(Object.keys(pinned.partitions).sort()).toEqual(['0', '1', '2']);
    em.append(auditRecords(5, 12)); // while no bridge runs
    const second = await runSource({ connectionStringFile: file }, [sink], { dir: first.checkpointPath.replace(/\/checkpoints\.json$/, ''), once: true });
    await second.done;
    expect(sorted(sink.ids())).toEqual(sorted(keysOf(auditRecords(5, 12))));
  });

  it('malformed messages, foreign categories and klog lines are rejects in the dead-letter file; no partition stops at them', async () => {
    const records = auditRecords(40);
    const em = await emulator({ partitions: 4, data: records, faults: 'malformed-every=3,foreign-every=4,klog-every=5' });
    const stats = em.stats();
    const sink = new TestSink();
    const run = await runSource({ connectionStringFile: await connectionStringFile(em), startPosition: 'earliest' }, [sink], { once: true });
    await run.done;
    expect(sorted(sink.ids())).toEqual(sorted(keysOf(records)));
    const rejects = run.deadLetters().filter((d) => d.kind === 'reject');
    expect(rejects).toHaveLength(stats.malformed + stats.foreign + stats.klog);
    expect(rejects.filter((r) => String(r.reason).startsWith('message body is not JSON'))).toHaveLength(stats.malformed);
    expect(rejects.filter((r) => String(r.reason).startsWith('category "kube-apiserver"'))).toHaveLength(stats.foreign);
    expect(rejects.filter((r) => String(r.reason).startsWith('properties.log is a klog text line'))).toHaveLength(stats.klog);
    // Every partition is committed to its very last message, damaged or not.
    const cursor = run.cursor() as unknown as PartitionsCursor;
    for (const p of em.stats().partitions) expect(cursor.partitions[p.id]?.sequenceNumber).toBe(p.lastSequenceNumber);
  });
});

describe('aks-eventhubs source: emulator faults lose nothing', () => {
  it.each([
    ['duplicate deliveries', 'duplicate-every=4'],
    ['detached links', 'detach-every=7'],
    ['connections closed by the hub', 'disconnect-every=9'],
    ['links and connections dropped on timers', 'detach-ms=400,disconnect-ms=900'],
  ])('%s', async (_what, faults) => {
    const records = auditRecords(60);
    const em = await emulator({ partitions: 3, faults });
    const sink = new TestSink();
    const run = await runSource({ connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', maxBatchSize: 5 }, [sink]);
    for (let i = 0; i < 6; i++) {
      em.append(records.slice(i * 10, i * 10 + 10));
      await new Promise((r) => setTimeout(r, 150));
    }
    await eventually(() => new Set(sink.ids()).size >= 60, 25_000, 'all 60 events');
    await new Promise((r) => setTimeout(r, 500));
    await run.stop();
    expect(sorted(sink.ids())).toEqual(sorted(keysOf(records)));
    const cursor = run.cursor() as unknown as PartitionsCursor;
    for (const p of em.stats().partitions) expect(cursor.partitions[p.id]?.sequenceNumber).toBe(p.lastSequenceNumber);
  }, 40_000);

  it('a connection reset while a link attaches ("Unknown error encountered", which the SDK does not retry) stops a partition only briefly', async () => {
    const records = auditRecords(96);
    const em = await emulator({ partitions: 2, data: records, faults: 'reset-every=3' });
    const sink = new TestSink();
    const { logger, lines } = recordingLogger();
    const run = await runSource(
      { connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', maxBatchSize: 3, loadBalancing: { updateInterval: '200ms', ownershipExpiration: '2s' } },
      [sink],
      { logger },
    );
    await eventually(() => new Set(sink.ids()).size >= 96, 40_000, 'all 96 events');
    await run.stop();
    expect(new Set(sink.ids())).toEqual(new Set(keysOf(records)));
    // Nothing is delivered twice past the dedupe window, and the drops did stop partitions.
    expect(sink.received).toHaveLength(96);
    expect(em.stats().resets).toBeGreaterThanOrEqual(10);
    expect(lines.filter((l) => l.msg === 'partition stopped after an error; restarting it on the next load-balancing round').length).toBeGreaterThan(0);
  }, 60_000);
});

describe('aks-eventhubs source: health', () => {
  it('/readyz says the hub cannot be reached, and is ready again once it can', async () => {
    const em = await emulator({ partitions: 2, data: auditRecords(4) });
    const file = await connectionStringFile(em);
    const port = em.port;
    await em.close();
    const { startEventHubsEmulator } = await import('../../../src/sources/aks-eventhubs/emulator/index.js');
    const sink = new TestSink();
    const run = await runSource({ connectionStringFile: file, startPosition: 'earliest' }, [sink]);
    // Readiness wants a good report within three health intervals (5 s each).
    await eventually(() => run.health.readiness().problems.some((p) => p.startsWith('source eh has not polled successfully')), 20_000, 'a readiness problem');
    const problem = run.health.readiness().problems.find((p) => p.startsWith('source eh'))!;
    expect(problem).toMatch(/ECONNREFUSED|connect/i);
    const back = await startEventHubsEmulator({ hub: em.hub, partitions: 2, data: auditRecords(4), port, key: em.key, keyName: em.keyName });
    try {
      await eventually(() => sink.received.length === 4, 30_000, 'the events once the hub is back');
      await eventually(() => run.health.readiness().ready, 10_000, 'ready again');
    } finally {
      await run.stop();
      await back.close();
    }
  }, 60_000);
});
