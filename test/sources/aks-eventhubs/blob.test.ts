// The aks-eventhubs source with a Blob checkpoint store (@azure/eventhubs-checkpointstore-blob on
// Azurite, a child process on 127.0.0.1 with telemetry off) and the real SDK against the Event
// Hubs emulator: checkpoints only after delivery, pinned starts, recovery, replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventHubsEmulator } from '../../../src/sources/aks-eventhubs/emulator/index.js';
import { auditRecords, blobContainer, connectionStringFile, emulator, eventually, HUB, keysOf, recordingLogger, runSource, startAzurite, TestSink, type Azurite } from './helpers.js';

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 30_000);
afterAll(async () => {
  await azurite?.stop();
});

const sorted = (values: readonly string[]): string[] => [...values].sort();

async function checkpoints(store: Awaited<ReturnType<typeof blobContainer>>['store'], em: EventHubsEmulator): Promise<Record<string, number>> {
  const list = await store.listCheckpoints(em.host, HUB, '$Default');
  return Object.fromEntries(list.map((c) => [c.partitionId, c.sequenceNumber]));
}

const lastOf = (em: EventHubsEmulator): Record<string, number> => Object.fromEntries(em.stats().partitions.map((p) => [p.id, p.lastSequenceNumber]));

/** Fast rounds so partitions move within a second or two. */
const FAST = { loadBalancing: { updateInterval: '200ms', ownershipExpiration: '3s' } };

describe('aks-eventhubs source with a Blob checkpoint store', () => {
  it('writes a partition\'s checkpoint only after every sink acknowledged its batches', async () => {
    const em = await emulator({ partitions: 2, data: auditRecords(20) });
    const blob = await blobContainer(azurite);
    const sink = new TestSink();
    let open!: () => void;
    sink.gate = new Promise<void>((resolve) => (open = resolve));
    const run = await runSource(
      { connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name }, ...FAST },
      [sink],
    );
    await eventually(() => sink.writes >= 2, 10_000, 'writes held by the sink');
    await new Promise((r) => setTimeout(r, 500));
    expect(await checkpoints(blob.store, em)).toEqual({});
    open();
    await eventually(async () => JSON.stringify(await checkpoints(blob.store, em)) === JSON.stringify(lastOf(em)), 10_000, 'checkpoints at the end of each partition');
    expect(sorted(sink.ids())).toEqual(sorted(keysOf(auditRecords(20))));
    // Blob mode keeps no positions in the checkpoint file.
    await run.stop();
    expect(run.cursor()).toBeUndefined();
  });

  it('a dead sink writes no checkpoint; the next replica to claim the partitions reads everything', async () => {
    const records = auditRecords(30);
    const em = await emulator({ partitions: 3, data: records });
    const blob = await blobContainer(azurite);
    const config = { connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name }, ...FAST };
    const dead = new TestSink();
    dead.dead = true;
    const first = await runSource(config, [dead]);
    await eventually(() => dead.writes >= 6, 10_000, 'retries against the dead sink');
    await first.stop();
    expect(await checkpoints(blob.store, em)).toEqual({});
    // Stopping gave the claims up: the next replica takes every partition at once.
    const owners = await blob.store.listOwnership(em.host, HUB, '$Default');
    expect(owners.every((o) => o.ownerId === '')).toBe(true);

    const live = new TestSink();
    const second = await runSource(config, [live], { once: true });
    await second.done;
    expect(sorted(live.ids())).toEqual(sorted(keysOf(records)));
    expect(await checkpoints(blob.store, em)).toEqual(lastOf(em));
  });

  it('"latest" is written as the checkpoint of a partition that has none, so a later start does not skip what arrived meanwhile', async () => {
    const em = await emulator({ partitions: 2, data: auditRecords(10) });
    const blob = await blobContainer(azurite);
    const config = { connectionStringFile: await connectionStringFile(em), checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name }, ...FAST };
    const sink = new TestSink();
    const first = await runSource(config, [sink], { once: true });
    await first.done;
    expect(sink.received).toEqual([]);
    expect(await checkpoints(blob.store, em)).toEqual(lastOf(em));
    em.append(auditRecords(6, 10));
    const second = await runSource(config, [sink], { once: true });
    await second.done;
    expect(sorted(sink.ids())).toEqual(sorted(keysOf(auditRecords(6, 10))));
  });

  it('a partition stopped by "Unknown error encountered" is given up and claimed again; a load-balancing loop stalled by a lost request is replaced: nothing lost', async () => {
    const records = auditRecords(120);
    const em = await emulator({ partitions: 2, data: records, faults: 'reset-every=3' });
    const blob = await blobContainer(azurite);
    const sink = new TestSink();
    const { logger, lines } = recordingLogger();
    const run = await runSource(
      { connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', maxBatchSize: 3, checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name }, ...FAST },
      [sink],
      { logger },
    );
    await eventually(() => new Set(sink.ids()).size >= 120, 40_000, 'all 120 events');
    await eventually(async () => JSON.stringify(await checkpoints(blob.store, em)) === JSON.stringify(lastOf(em)), 20_000, 'checkpoints at the end');
    await run.stop();
    expect(new Set(sink.ids())).toEqual(new Set(keysOf(records)));
    expect(em.stats().resets).toBeGreaterThanOrEqual(20);
    // Which drops land while a link attaches or a management request is out depends on timing; some do.
    expect(lines.some((l) => String(l.error).includes('Unknown error encountered'))).toBe(true);
  }, 60_000);

  it('two replicas on one consumer group share the partitions and together deliver every event', async () => {
    const em = await emulator({ partitions: 4, data: auditRecords(40) });
    const blob = await blobContainer(azurite);
    const config = { connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', maxBatchSize: 5, checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name }, ...FAST };
    const a = new TestSink('a');
    const b = new TestSink('b');
    const ra = await runSource(config, [a]);
    const rb = await runSource(config, [b]);
    const union = (): Set<string> => new Set([...a.ids(), ...b.ids()]);
    await eventually(() => union().size >= 40, 20_000, 'the first 40');
    for (let i = 0; i < 8; i++) {
      em.append(auditRecords(5, 40 + i * 5));
      await new Promise((r) => setTimeout(r, 300));
    }
    await eventually(() => union().size >= 80, 20_000, 'all 80');
    // Balanced: two partitions each, and both replicas delivered some.
    await eventually(async () => {
      const byOwner = new Map<string, number>();
      for (const o of await blob.store.listOwnership(em.host, HUB, '$Default')) byOwner.set(o.ownerId, (byOwner.get(o.ownerId) ?? 0) + 1);
      return [...byOwner.values()].sort().join() === '2,2';
    }, 20_000, 'two partitions each');
    await eventually(async () => JSON.stringify(await checkpoints(blob.store, em)) === JSON.stringify(lastOf(em)), 10_000, 'checkpoints at the end');
    await ra.stop();
    await rb.stop();
    expect(sorted([...union()])).toEqual(sorted(keysOf(auditRecords(80))));
    expect(a.received.length).toBeGreaterThan(0);
    expect(b.received.length).toBeGreaterThan(0);
  }, 60_000);

  it('a replica whose partition is claimed while it waits for its sinks gives the partition up instead of taking it back', async () => {
    const em = await emulator({ partitions: 2 });
    const blob = await blobContainer(azurite);
    const partitionOf = new Map<string, string>();
    const append = (from: number, count: number): void => {
      em.append(auditRecords(count, from)).forEach((m, k) => partitionOf.set(`ev-${from + k}/ResponseComplete`, m.partitionId));
    };
    append(0, 20);
    const config = { connectionStringFile: await connectionStringFile(em), startPosition: 'earliest', maxBatchSize: 2, checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name }, ...FAST };
    const owners = async (): Promise<Map<string, string>> => new Map((await blob.store.listOwnership(em.host, HUB, '$Default')).filter((o) => o.ownerId).map((o) => [o.partitionId, o.ownerId]));
    // A's sink holds its first write: its one in-flight slot is taken and both partitions' processEvents wait.
    const slow = new TestSink('a');
    let open!: () => void;
    slow.gate = new Promise<void>((resolve) => (open = resolve));
    const ra = await runSource(config, [slow], { maxInFlightBatches: 1 });
    await eventually(async () => slow.writes >= 1 && (await owners()).size === 2, 10_000, 'A holding both partitions, blocked');
    const a = [...(await owners()).values()][0]!;
    const fast = new TestSink('b');
    const rb = await runSource(config, [fast]);
    await eventually(async () => new Set((await owners()).values()).size === 2, 10_000, 'B claiming one partition');
    const bPartition = [...(await owners())].find(([, owner]) => owner !== a)![0];
    await new Promise((r) => setTimeout(r, 500));
    open();
    await eventually(() => new Set([...slow.ids(), ...fast.ids()]).size >= 20, 15_000, 'the first 20');
    append(20, 20);
    await eventually(() => new Set([...slow.ids(), ...fast.ids()]).size >= 40, 15_000, 'all 40');
    await new Promise((r) => setTimeout(r, 1000));
    // What came after B's claim on its partition went to B alone: A did not take the partition back.
    const lateOfB = keysOf(auditRecords(20, 20)).filter((k) => partitionOf.get(k) === bPartition);
    expect(lateOfB.length).toBeGreaterThan(0);
    expect(slow.ids().filter((k) => lateOfB.includes(k))).toEqual([]);
    expect(fast.ids().filter((k) => lateOfB.includes(k)).sort()).toEqual([...lateOfB].sort());
    expect((await owners()).get(bPartition)).not.toBe(a);
    await ra.stop();
    await rb.stop();
    // Both stopped cleanly: no connection of either is left open.
    await eventually(() => em.stats().connections.open === 0, 5000, 'every connection closed');
  }, 60_000);
});
