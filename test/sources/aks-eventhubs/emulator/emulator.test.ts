// The Event Hubs emulator driven by the real @azure/event-hubs clients over AMQP on 127.0.0.1.
import { EventHubConsumerClient, EventHubProducerClient, earliestEventPosition, latestEventPosition, type MessagingError } from '@azure/event-hubs';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionStringFor, createSasToken, startEventHubsEmulator, type EventHubsEmulator } from '../../../../src/sources/aks-eventhubs/emulator/index.js';
import { collect, countRecords, delay, eventually, FAST_RETRIES, recordsOf, sampleRecords, sorted, syntheticRecords, type Received } from './helpers.js';

const HUB = 'insights-logs-kube-audit';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function emulator(options: Partial<Parameters<typeof startEventHubsEmulator>[0]> = {}): Promise<EventHubsEmulator> {
  const em = await startEventHubsEmulator({ hub: HUB, ...options });
  cleanup.push(() => em.close());
  return em;
}

function consumer(em: EventHubsEmulator, consumerGroup = '$Default', connectionString = em.connectionString): EventHubConsumerClient {
  const client = new EventHubConsumerClient(consumerGroup, connectionString, { retryOptions: FAST_RETRIES });
  cleanup.push(() => client.close());
  return client;
}

function positions(events: readonly Received[]): string[] {
  return events.map((e) => `${e.partitionId}:${e.sequenceNumber}`);
}

describe('Event Hubs emulator: hub and partition properties', () => {
  it('answers getPartitionIds, getEventHubProperties and getPartitionProperties as the service does', async () => {
    const records = syntheticRecords(10);
    const before = Date.now();
    const em = await emulator({ partitions: 3, data: records });
    const client = consumer(em);

    expect(await client.getPartitionIds()).toEqual(['0', '1', '2']);
    const hub = await client.getEventHubProperties();
    expect(hub.name).toBe(HUB);
    expect(hub.partitionIds).toEqual(['0', '1', '2']);
    expect(hub.createdOn.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(hub.createdOn.getTime()).toBeLessThanOrEqual(Date.now());

    // Round robin by message: 10 one-record messages over 3 partitions → 4, 3, 3.
    const p0 = await client.getPartitionProperties('0');
    expect(p0).toMatchObject({ eventHubName: HUB, partitionId: '0', beginningSequenceNumber: 0, lastEnqueuedSequenceNumber: 3, isEmpty: false });
    expect(typeof p0.lastEnqueuedOffset).toBe('string');
    expect(Number(p0.lastEnqueuedOffset)).toBeGreaterThan(0);
    expect(p0.lastEnqueuedOnUtc.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect((await client.getPartitionProperties('2')).lastEnqueuedSequenceNumber).toBe(2);

    const empty = await startEventHubsEmulator({ hub: 'empty', partitions: 2 });
    cleanup.push(() => empty.close());
    const e = await consumer(empty).getPartitionProperties('1');
    expect(e).toMatchObject({ partitionId: '1', isEmpty: true, lastEnqueuedSequenceNumber: -1, lastEnqueuedOffset: '-1' });

    await expect(client.getPartitionProperties('7')).rejects.toMatchObject({ code: 'ArgumentOutOfRangeError' });
    expect(em.stats().managementRequests).toBeGreaterThanOrEqual(5);
  });

  it('serves the AKS samples: AzureDiagnostics rows become the diagnostic records they came from', async () => {
    const records = await sampleRecords();
    expect(records).toHaveLength(51);
    const single = records[49]!;
    expect(single.category).toBe('kube-audit');
    expect(String(single.resourceId)).toMatch(/MANAGEDCLUSTERS\/KUBEAUDITLOGTESTCLUSTER$/);
    // Row 14 of the row file is the same event as the single record of the same cluster: same log text.
    expect((records[13]!.properties as { log: string }).log).toBe((single.properties as { log: string }).log);
    expect(records[0]).toEqual({
      operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
      category: 'kube-audit',
      ccpNamespace: '5eb120ce57f96500011bde2d',
      resourceId: expect.stringMatching(/^\/SUBSCRIPTIONS\/.*\/MANAGEDCLUSTERS\/KUBETEST$/) as unknown,
      properties: { log: expect.stringMatching(/^\{"kind":"Event"/) as unknown, stream: 'stdout', pod: 'kube-apiserver-79599f95c7-qn557' },
      time: '2020-05-05T16:16:37.0000000Z',
      Cloud: 'AzureCloud',
      Environment: 'prod',
      UnderlayClass: 'hcp-underlay',
      UnderlayName: 'hcp-underlay-centralus-cx-104',
    });
    expect(new Set(records.map((r) => r.category))).toEqual(new Set(['kube-audit', 'kube-audit-admin']));
  });
});

describe('Event Hubs emulator: receiving', () => {
  it('delivers every record of every partition exactly once from earliest, as binary JSON {"records": [...]}', async () => {
    const records = await sampleRecords();
    const em = await emulator({ partitions: 4, data: records });
    const client = consumer(em);
    const { events, errors } = await collect(client, {
      subscribe: { startPosition: earliestEventPosition },
      until: (ev) => countRecords(ev) >= records.length,
    });
    expect(errors).toEqual([]);
    expect(sorted(recordsOf(events))).toEqual(sorted(records.map((r) => JSON.stringify(r))));
    expect(new Set(positions(events)).size).toBe(events.length);
    // Spread over all four partitions, in order within each, with offsets growing.
    for (const id of ['0', '1', '2', '3']) {
      const inPartition = events.filter((e) => e.partitionId === id);
      expect(inPartition.length).toBeGreaterThanOrEqual(12);
      expect(inPartition.map((e) => e.sequenceNumber)).toEqual(inPartition.map((_, i) => i));
      const offsets = inPartition.map((e) => Number(e.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(offsets[0]).toBe(0);
    }
    // The body on the wire is one data section holding the JSON text (not an AMQP value).
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const sub = client.subscribe(
        '0',
        {
          processEvents: async (batch) => {
            if (batch[0]) {
              resolve(batch[0].body as Buffer);
              await sub.close();
            }
          },
          processError: async (err) => reject(err),
        },
        { startPosition: earliestEventPosition, skipParsingBodyAsJson: true, maxWaitTimeInSeconds: 0.2 },
      );
    });
    expect(Buffer.isBuffer(raw)).toBe(true);
    expect(raw.toString('utf8')).toBe(JSON.stringify({ records: [records[0]] }));
    expect(em.stats()).toMatchObject({ messages: 51, records: 51 });
  });

  it('starts from a stored sequence number or offset (exclusive or inclusive), an enqueued time, or the end', async () => {
    const em = await emulator({ partitions: 1, data: syntheticRecords(10) });
    const client = consumer(em);
    const all = (await collect(client, { partitionId: '0', subscribe: { startPosition: earliestEventPosition }, until: (ev) => ev.length >= 10 })).events;
    expect(all.map((e) => e.sequenceNumber)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const at = (n: number): Received => all[n]!;

    const afterSeq = await collect(client, { partitionId: '0', subscribe: { startPosition: { sequenceNumber: 6 } }, until: (ev) => ev.length >= 3 });
    expect(afterSeq.events.map((e) => e.sequenceNumber)).toEqual([7, 8, 9]);
    const fromSeq = await collect(client, { partitionId: '0', subscribe: { startPosition: { sequenceNumber: 6, isInclusive: true } }, until: (ev) => ev.length >= 4 });
    expect(fromSeq.events.map((e) => e.sequenceNumber)).toEqual([6, 7, 8, 9]);
    const afterOffset = await collect(client, { partitionId: '0', subscribe: { startPosition: { offset: at(7).offset } }, until: (ev) => ev.length >= 2 });
    expect(afterOffset.events.map((e) => e.sequenceNumber)).toEqual([8, 9]);
    const fromOffset = await collect(client, { partitionId: '0', subscribe: { startPosition: { offset: at(7).offset, isInclusive: true } }, until: (ev) => ev.length >= 3 });
    expect(fromOffset.events.map((e) => e.sequenceNumber)).toEqual([7, 8, 9]);
    const afterTime = await collect(client, { partitionId: '0', subscribe: { startPosition: { enqueuedOn: at(4).enqueuedTimeUtc } }, until: (ev) => ev.length >= 5 });
    expect(afterTime.events.map((e) => e.sequenceNumber)).toEqual([5, 6, 7, 8, 9]);

    // From the end: only what is appended after the receiver attached.
    const latest = collect(client, { partitionId: '0', subscribe: { startPosition: latestEventPosition }, until: (ev) => ev.length >= 2 });
    await eventually(() => em.receivers().length === 1, 5_000, 'the receiver');
    em.append(syntheticRecords(2, 100));
    const tail = (await latest).events;
    expect(tail.map((e) => e.sequenceNumber)).toEqual([10, 11]);
    expect(recordsOf(tail)).toEqual(syntheticRecords(2, 100).map((r) => JSON.stringify(r)));
  });

  it('refuses a sequence number beyond the end as the service does', async () => {
    const em = await emulator({ partitions: 1, data: syntheticRecords(3) });
    const client = consumer(em);
    const errors: Error[] = [];
    const sub = client.subscribe(
      '0',
      { processEvents: async () => undefined, processError: async (err) => void errors.push(err) },
      { startPosition: { sequenceNumber: 50 } },
    );
    await eventually(() => errors.length > 0, 5_000, 'an error');
    await sub.close();
    expect((errors[0] as MessagingError).code).toBe('ArgumentOutOfRangeError');
    expect(errors[0]!.message).toContain("The last sequence number in the system is '2'");
  });

  it('delivers records appended at run time, to a chosen partition or spread, several to a message', async () => {
    const em = await emulator({ partitions: 2, recordsPerMessage: 3 });
    const client = consumer(em);
    const pending = collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => countRecords(ev) >= 11 });
    await eventually(() => em.receivers().length === 2, 5_000, 'two receivers');
    const spread = em.append(syntheticRecords(7));
    expect(spread.map((m) => [m.partitionId, m.recordCount])).toEqual([
      ['0', 3],
      ['1', 3],
      ['0', 1],
    ]);
    const pinned = em.append(syntheticRecords(4, 7), '1');
    expect(pinned.map((m) => [m.partitionId, m.sequenceNumber, m.recordCount])).toEqual([
      ['1', 1, 3],
      ['1', 2, 1],
    ]);
    const { events } = await pending;
    expect(events).toHaveLength(5);
    expect(sorted(recordsOf(events))).toEqual(sorted(syntheticRecords(11).map((r) => JSON.stringify(r))));
    expect(() => em.append(syntheticRecords(1), '9')).toThrow(/no partition "9"/);
  });

  it('partitions by a record field when asked, and sends it as the partition key', async () => {
    const em = await emulator({ partitions: 4, partitionKey: 'resourceId', recordsPerMessage: 10 });
    const records = syntheticRecords(30);
    const messages = em.append(records);
    const client = consumer(em);
    const { events } = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => countRecords(ev) >= 30 });
    expect(messages).toHaveLength(3);
    for (const e of events) {
      const recs = (e.body as { records: { resourceId: string }[] }).records;
      expect(new Set(recs.map((r) => r.resourceId))).toEqual(new Set([e.partitionKey]));
    }
    expect(new Set(events.map((e) => e.partitionKey)).size).toBe(3);
  });

  it('stores what EventHubProducerClient sends, batched or not, with partition keys and properties', async () => {
    const em = await emulator({ partitions: 2 });
    const producer = new EventHubProducerClient(em.connectionString, { retryOptions: FAST_RETRIES });
    cleanup.push(() => producer.close());
    const batch = await producer.createBatch({ partitionId: '1' });
    expect(batch.tryAdd({ body: { records: syntheticRecords(1) }, properties: { origin: 'test' } })).toBe(true);
    expect(batch.tryAdd({ body: { records: syntheticRecords(1, 1) } })).toBe(true);
    await producer.sendBatch(batch);
    await producer.sendBatch([{ body: { records: syntheticRecords(1, 2) } }], { partitionKey: 'cluster-a' });
    expect(em.stats().sent).toBe(3);

    const client = consumer(em);
    const { events } = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => ev.length >= 3 });
    expect(sorted(recordsOf(events))).toEqual(sorted(syntheticRecords(3).map((r) => JSON.stringify(r))));
    expect(events.filter((e) => e.partitionKey === 'cluster-a')).toHaveLength(1);
    expect(events.filter((e) => e.partitionId === '1').length).toBeGreaterThanOrEqual(2);
  });
});

describe('Event Hubs emulator: authorization and entities', () => {
  it('refuses a wrong shared access key, an unknown key name and a token for another hub', async () => {
    const em = await emulator({ partitions: 2, data: syntheticRecords(4) });
    const wrongKey = connectionStringFor(em.endpoint, em.keyName, Buffer.from('not the key').toString('base64'), HUB);
    const client = new EventHubConsumerClient('$Default', wrongKey, { retryOptions: { maxRetries: 0 } });
    cleanup.push(() => client.close());
    await expect(client.getPartitionIds()).rejects.toMatchObject({ code: 'UnauthorizedError', message: expect.stringContaining('InvalidSignature') as unknown });

    const wrongName = connectionStringFor(em.endpoint, 'ListenOnly', em.key, HUB);
    const other = new EventHubConsumerClient('$Default', wrongName, { retryOptions: { maxRetries: 0 } });
    cleanup.push(() => other.close());
    await expect(other.getEventHubProperties()).rejects.toMatchObject({ code: 'UnauthorizedError' });

    // The subscription reports the refusal instead of receiving anything.
    const errors: Error[] = [];
    let received = 0;
    // One partition: the processor's own loop over all partitions retries getEventHubProperties with
    // the SDK's default 30 s delays, whatever the client's retryOptions say.
    const sub = client.subscribe(
      '0',
      { processEvents: async (ev) => void (received += ev.length), processError: async (err) => void errors.push(err) },
      { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 0.2 },
    );
    await eventually(() => errors.length > 0, 5_000, 'an error');
    await sub.close();
    expect(received).toBe(0);
    expect(errors.map((e) => (e as MessagingError).code)).toContain('UnauthorizedError');
    expect(em.stats().tokens.refused).toBeGreaterThanOrEqual(3);
    expect(em.stats().deliveries).toBe(0);

    // A shared access signature made with the right key, but for another hub or expired.
    const expiry = Math.floor(Date.now() / 1000) + 600;
    for (const [token, reason] of [
      [createSasToken(`${em.endpoint}/other-hub`, em.keyName, em.key, expiry), 'InvalidAudience'],
      [createSasToken(`${em.endpoint}/${HUB}`, em.keyName, em.key, Math.floor(Date.now() / 1000) - 1), 'ExpiredToken'],
    ] as const) {
      const sas = `Endpoint=${em.endpoint}/;SharedAccessSignature=${token};EntityPath=${HUB};UseDevelopmentEmulator=true`;
      const sasClient = new EventHubConsumerClient('$Default', sas, { retryOptions: { maxRetries: 0 } });
      cleanup.push(() => sasClient.close());
      await expect(sasClient.getPartitionIds()).rejects.toMatchObject({ code: 'UnauthorizedError', message: expect.stringContaining(reason) as unknown });
    }
    const good = `Endpoint=${em.endpoint}/;SharedAccessSignature=${createSasToken(`${em.endpoint}/${HUB}`, em.keyName, em.key, expiry)};EntityPath=${HUB};UseDevelopmentEmulator=true`;
    const goodClient = new EventHubConsumerClient('$Default', good, { retryOptions: { maxRetries: 0 } });
    cleanup.push(() => goodClient.close());
    expect(await goodClient.getPartitionIds()).toEqual(['0', '1']);

    // The right key still works on the same emulator.
    expect(await consumer(em).getPartitionIds()).toEqual(['0', '1']);
  });

  it('knows only its hub and consumer groups (case-insensitive, as Event Hubs names are)', async () => {
    const em = await emulator({ partitions: 1, data: syntheticRecords(2), consumerGroups: ['$Default', 'bridge'] });
    const withoutHub = connectionStringFor(em.endpoint, em.keyName, em.key);
    const otherHub = new EventHubConsumerClient('$Default', withoutHub, 'another-hub', { retryOptions: { maxRetries: 0 } });
    cleanup.push(() => otherHub.close());
    await expect(otherHub.getPartitionIds()).rejects.toMatchObject({ code: 'MessagingEntityNotFoundError' });

    const errors: Error[] = [];
    const sub = consumer(em, 'missing').subscribe(
      '0',
      { processEvents: async () => undefined, processError: async (err) => void errors.push(err) },
      { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 0.2 },
    );
    await eventually(() => errors.length > 0, 5_000, 'an error');
    await sub.close();
    expect((errors[0] as MessagingError).code).toBe('MessagingEntityNotFoundError');

    const { events } = await collect(consumer(em, 'BRIDGE'), { subscribe: { startPosition: earliestEventPosition }, until: (ev) => ev.length >= 2 });
    expect(countRecords(events)).toBe(2);
  });
});

describe('Event Hubs emulator: owner levels', () => {
  it('a higher owner level takes the partition; a lower one or none is refused while it holds it', async () => {
    const em = await emulator({ partitions: 2, data: syntheticRecords(4) });
    const first = consumer(em);
    const firstErrors: Error[] = [];
    const firstEvents: number[] = [];
    const firstClosed: string[] = [];
    const firstSub = first.subscribe(
      '0',
      {
        processEvents: async (ev) => void firstEvents.push(...ev.map((e) => e.sequenceNumber)),
        processError: async (err) => void firstErrors.push(err),
        processClose: async (reason) => void firstClosed.push(reason),
      },
      { startPosition: earliestEventPosition, ownerLevel: 1, maxWaitTimeInSeconds: 0.2 },
    );
    await eventually(() => firstEvents.length === 2, 5_000, 'the first receiver');
    expect(em.receivers()).toEqual([expect.objectContaining({ partitionId: '0', ownerLevel: 1, consumerGroup: '$Default' })]);

    // Owner level 2 detaches owner level 1 with amqp:link:stolen (ReceiverDisconnectedError, not retried).
    const second = consumer(em);
    const secondEvents: number[] = [];
    const secondErrors: Error[] = [];
    const secondSub = second.subscribe(
      '0',
      { processEvents: async (ev) => void secondEvents.push(...ev.map((e) => e.sequenceNumber)), processError: async (err) => void secondErrors.push(err) },
      { startPosition: earliestEventPosition, ownerLevel: 2, maxWaitTimeInSeconds: 0.2 },
    );
    await eventually(() => firstErrors.length > 0 && secondEvents.length === 2, 5_000, 'the takeover');
    expect((firstErrors[0] as MessagingError).code).toBe('ReceiverDisconnectedError');
    expect(firstErrors[0]!.message).toContain("higher epoch of '2'");
    await eventually(() => firstClosed.length > 0, 5_000, 'the first pump closed');
    expect(firstClosed).toEqual(['OwnershipLost']);
    expect(em.receivers()).toEqual([expect.objectContaining({ partitionId: '0', ownerLevel: 2 })]);

    // Owner level 1 again, and a receiver without one, are refused while level 2 holds the partition.
    for (const ownerLevel of [1, undefined]) {
      const errors: Error[] = [];
      const sub = consumer(em).subscribe(
        '0',
        { processEvents: async () => undefined, processError: async (err) => void errors.push(err) },
        { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 0.2, ...(ownerLevel !== undefined ? { ownerLevel } : {}) },
      );
      await eventually(() => errors.length > 0, 5_000, 'a refusal');
      await sub.close();
      expect((errors[0] as MessagingError).code).toBe('ReceiverDisconnectedError');
    }
    expect(secondErrors).toEqual([]);
    expect(em.stats().receivers).toMatchObject({ stolen: 1, refused: 2 });

    // The same owner level takes over too (how a load-balancing processor claims a partition: level 0).
    const third = consumer(em);
    const thirdEvents: number[] = [];
    const thirdSub = third.subscribe(
      '0',
      { processEvents: async (ev) => void thirdEvents.push(...ev.map((e) => e.sequenceNumber)), processError: async () => undefined },
      { startPosition: earliestEventPosition, ownerLevel: 2, maxWaitTimeInSeconds: 0.2 },
    );
    await eventually(() => thirdEvents.length === 2 && secondErrors.length > 0, 5_000, 'the same-level takeover');
    expect((secondErrors[0] as MessagingError).code).toBe('ReceiverDisconnectedError');
    await Promise.all([firstSub.close(), secondSub.close(), thirdSub.close()]);
  });

  it('allows five receivers without an owner level per partition and consumer group', async () => {
    const em = await emulator({ partitions: 1, data: syntheticRecords(1) });
    const subs = [];
    const errors: Error[] = [];
    for (let i = 0; i < 6; i++) {
      // One client may subscribe to a partition once: six clients.
      subs.push(
        consumer(em).subscribe('0', { processEvents: async () => undefined, processError: async (err) => void errors.push(err) }, { startPosition: earliestEventPosition }),
      );
      await eventually(() => em.receivers().length === Math.min(i + 1, 5) || errors.length > 0, 5_000, 'a receiver');
    }
    await eventually(() => errors.length > 0, 5_000, 'the sixth refused');
    expect((errors[0] as MessagingError).code).toBe('QuotaExceededError');
    expect(em.receivers()).toHaveLength(5);
    await Promise.all(subs.map((s) => s.close()));
    await delay(50);
  });
});
