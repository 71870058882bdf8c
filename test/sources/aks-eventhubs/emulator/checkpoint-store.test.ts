// Consumers sharing one consumer group through @azure/eventhubs-checkpointstore-blob, with the
// Blob container in Azurite (a child process on 127.0.0.1, telemetry off) and the hub in the
// Event Hubs emulator: the real SDKs end to end, as bridge replicas would run them.
import { randomUUID } from 'node:crypto';
import { EventHubConsumerClient, earliestEventPosition, type ReceivedEventData, type Subscription } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEventHubsEmulator, type EventHubsEmulator } from '../../../../src/sources/aks-eventhubs/emulator/index.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, eventually, FAST_RETRIES, recordsOf, sorted, startAzurite, syntheticRecords, type Azurite, type Received } from './helpers.js';

const HUB = 'insights-logs-kube-audit';

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 30_000);
afterAll(async () => {
  await azurite?.stop();
});

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function container(): Promise<ContainerClient> {
  const client = new ContainerClient(`${azurite.url}/checkpoints-${randomUUID()}`, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), {
    retryOptions: { maxTries: 2 },
  });
  await client.create();
  return client;
}

async function emulator(options: Partial<Parameters<typeof startEventHubsEmulator>[0]>): Promise<EventHubsEmulator> {
  const em = await startEventHubsEmulator({ hub: HUB, ...options });
  cleanup.push(() => em.close());
  return em;
}

interface Replica {
  client: EventHubConsumerClient;
  subscription: Subscription;
  events: Received[];
  closed: string[];
}

/** A consumer as a bridge replica runs one: load balanced through the store, checkpointing after each batch. */
function replica(em: EventHubsEmulator, store: BlobCheckpointStore, checkpointIf: (event: ReceivedEventData) => boolean = () => true): Replica {
  const client = new EventHubConsumerClient('$Default', em.connectionString, store, {
    retryOptions: FAST_RETRIES,
    // Fast rounds so a test sees the partitions move in a second or two, not the default 10 s / 60 s.
    loadBalancingOptions: { strategy: 'balanced', updateIntervalInMs: 200, partitionOwnershipExpirationIntervalInMs: 3_000 },
  });
  const events: Received[] = [];
  const closed: string[] = [];
  const subscription = client.subscribe(
    {
      processEvents: async (batch, context) => {
        for (const e of batch) {
          events.push({ partitionId: context.partitionId, sequenceNumber: e.sequenceNumber, offset: e.offset, enqueuedTimeUtc: e.enqueuedTimeUtc, partitionKey: e.partitionKey, body: e.body });
        }
        const last = [...batch].reverse().find(checkpointIf);
        if (last) await context.updateCheckpoint(last);
      },
      processError: async () => undefined,
      processClose: async (reason) => void closed.push(reason),
    },
    { startPosition: earliestEventPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 0.2 },
  );
  const r = { client, subscription, events, closed };
  cleanup.push(async () => {
    await subscription.close();
    await client.close();
  });
  return r;
}

const json = (records: readonly Record<string, unknown>[]): string[] => sorted(records.map((r) => JSON.stringify(r)));

describe('Event Hubs emulator with a Blob checkpoint store on Azurite', () => {
  it('two consumers on one consumer group share the partitions and together get every record, none lost', async () => {
    const em = await emulator({ partitions: 4, data: syntheticRecords(40) });
    const blobs = await container();
    const storeA = new BlobCheckpointStore(blobs);
    const a = replica(em, storeA);
    const b = replica(em, new BlobCheckpointStore(blobs));
    const union = (): Set<string> => new Set([...recordsOf(a.events), ...recordsOf(b.events)]);
    await eventually(() => union().size >= 40, 20_000, 'the first 40 records');

    // More arrive while both run.
    em.append(syntheticRecords(40, 40));
    await eventually(() => union().size >= 80, 20_000, 'all 80 records');
    expect(sorted([...union()])).toEqual(json(syntheticRecords(80)));

    // The balanced strategy settles on two partitions each.
    const owners = async (): Promise<Map<string, string[]>> => {
      const map = new Map<string, string[]>();
      for (const o of await storeA.listOwnership(em.host, HUB, '$Default')) map.set(o.ownerId, [...(map.get(o.ownerId) ?? []), o.partitionId]);
      return map;
    };
    await eventually(async () => [...(await owners()).values()].map((p) => p.length).sort().join() === '2,2', 20_000, 'two partitions each');
    expect(a.events.length).toBeGreaterThan(0);
    expect(b.events.length).toBeGreaterThan(0);

    // Each partition's checkpoint is its last event, by sequence number and offset.
    await eventually(async () => {
      const checkpoints = await storeA.listCheckpoints(em.host, HUB, '$Default');
      const stats = em.stats().partitions;
      return checkpoints.length === 4 && checkpoints.every((c) => {
        const p = stats.find((s) => s.id === c.partitionId)!;
        return c.sequenceNumber === p.lastSequenceNumber && c.offset === p.lastOffset;
      });
    }, 10_000, 'checkpoints at the end of every partition');
    // A partition that moved was taken with owner level 0 from its previous owner: the SDK closed that pump.
    const stolen = em.stats().receivers.stolen;
    expect([...a.closed, ...b.closed].filter((r) => r === 'OwnershipLost').length).toBeLessThanOrEqual(stolen);
    // The SDK does not close a pump when its ownership record changes: only the detach does, so one
    // receiver per partition is left, all at owner level 0.
    await eventually(() => em.receivers().length === 4, 5_000, 'one receiver per partition');
    expect(sorted(em.receivers().map((r) => r.partitionId))).toEqual(['0', '1', '2', '3']);
    expect(em.receivers().every((r) => r.ownerLevel === 0)).toBe(true);
  }, 60_000);

  it('a consumer that restarts resumes from the stored checkpoints: what was received but not checkpointed comes again', async () => {
    const em = await emulator({ partitions: 2, data: syntheticRecords(20) });
    const blobs = await container();
    // The first consumer checkpoints nothing past sequence number 4 of a partition, then goes away.
    const first = replica(em, new BlobCheckpointStore(blobs), (e) => e.sequenceNumber <= 4);
    await eventually(() => recordsOf(first.events).length >= 20, 15_000, 'the first consumer');
    await first.subscription.close();
    await first.client.close();
    em.append(syntheticRecords(4, 20));

    const second = replica(em, new BlobCheckpointStore(blobs));
    // Sequence numbers 5..9 of each partition again (redelivered), then the four new records.
    await eventually(() => recordsOf(second.events).length >= 14, 15_000, 'the second consumer');
    await new Promise((r) => setTimeout(r, 300));
    const expected = first.events.filter((e) => e.sequenceNumber > 4);
    expect(sorted(recordsOf(second.events))).toEqual(sorted([...recordsOf(expected), ...syntheticRecords(4, 20).map((r) => JSON.stringify(r))]));
    expect(second.events.every((e) => e.sequenceNumber >= 5)).toBe(true);
  }, 60_000);
});
