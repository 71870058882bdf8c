// The Pub/Sub emulator under the official @google-cloud/pubsub client (streaming subscriber,
// publisher and the generated v1 SubscriberClient), over gRPC on 127.0.0.1: what a subscriber
// sees when it acks, stalls, extends, nacks, limits its flow or shares the subscription.

import { Duration, v1, type Message } from '@google-cloud/pubsub';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { normalizeGkeEntry } from '../../../../src/sources/gke/normalize.js';
import { canonicalJson, TIMESTAMP_ATTRIBUTE } from '../../../../src/sources/gke-pubsub/emulator/index.js';
import { consume, deadlines, entries, ids, Resources, sampleEntries, sleep, SUBSCRIPTION, SUBSCRIPTION_ID, tally, waitFor } from './helpers.js';

const res = new Resources();
afterEach(() => res.closeAll());

function entryOf(message: Message): Record<string, unknown> {
  return JSON.parse(message.data.toString('utf8')) as Record<string, unknown>;
}

describe('pubsub emulator: streaming pull with the official client', () => {
  it('delivers every sample entry once, as a Log Router sink writes it, to a subscriber that acks', async () => {
    const data = sampleEntries();
    const before = Date.now();
    const emulator = await res.emulator({ data });
    const consumer = consume(res.subscription(emulator.endpoint));
    await waitFor('24 acks', () => emulator.stats().acked === 24);
    await sleep(300);

    expect(consumer.errors).toEqual([]);
    expect(consumer.received).toHaveLength(24);
    expect(new Set(ids(consumer.received)).size).toBe(24);
    const byId = new Map(data.map((e) => [e.insertId, e]));
    for (const { message } of consumer.received) {
      const text = message.data.toString('utf8');
      const entry = entryOf(message);
      const original = byId.get(entry.insertId);
      expect(entry).toEqual(original);
      // compact, keys in name order, the AuditLog still a plain object with its "@type"
      expect(text).toBe(canonicalJson(original));
      expect(Object.keys(entry)).toEqual(Object.keys(entry).sort());
      expect((entry.protoPayload as Record<string, unknown>)['@type']).toBe('type.googleapis.com/google.cloud.audit.AuditLog');
      expect(message.attributes).toEqual({ [TIMESTAMP_ATTRIBUTE]: original!.timestamp });
      expect(message.publishTime.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(message.publishTime.getTime()).toBeLessThanOrEqual(Date.now());
      expect(message.deliveryAttempt).toBe(0);
      // the same Event whether the entry was polled or streamed
      expect(normalizeGkeEntry(entry)).toEqual(normalizeGkeEntry(original));
    }
    const stats = emulator.stats();
    expect(stats).toMatchObject({ published: 24, delivered: 24, redelivered: 0, acked: 24, outstanding: 0, ready: 0, expired: 0, nacked: 0, staleAcks: 0 });
    // What a streaming subscriber calls: one stream per maxStreams (5), a receipt modack, acks.
    expect(Object.keys(stats.calls).sort()).toEqual(['Acknowledge', 'ModifyAckDeadline', 'StreamingPull']);
    expect(stats.calls.StreamingPull).toBe(5);
  });

  it('gives messages a dead consumer held to another one once their deadline has passed, with new ack ids', async () => {
    const emulator = await res.emulator({ data: entries(3), maxDeliveryAttempts: 5 });
    // closes without nacking, like a process that was killed
    const first = res.subscription(emulator.endpoint, { ...deadlines(2), streamingOptions: { maxStreams: 1 }, closeOptions: { timeout: Duration.from({ seconds: 0 }) } });
    const dead = consume(first, () => undefined);
    await waitFor('3 messages on the first consumer', () => dead.received.length === 3);
    await first.close();
    expect(emulator.stats().outstanding).toBe(3);

    const second = consume(res.subscription(emulator.endpoint, { streamingOptions: { maxStreams: 1 } }));
    await sleep(1000);
    expect(second.received).toHaveLength(0);
    await waitFor('the 3 messages again', () => second.received.length === 3, 5000);
    await waitFor('3 acks', () => emulator.stats().acked === 3);

    const lastFirst = Math.max(...dead.received.map((r) => r.at));
    expect(Math.min(...second.received.map((r) => r.at)) - lastFirst).toBeGreaterThanOrEqual(1800);
    expect(ids(second.received).sort()).toEqual(ids(dead.received).sort());
    for (const r of second.received) {
      expect(r.message.deliveryAttempt).toBe(2);
      expect(dead.received.map((d) => d.message.ackId)).not.toContain(r.message.ackId);
    }
    expect(dead.received.map((r) => r.message.deliveryAttempt)).toEqual([1, 1, 1]);
    expect(emulator.stats()).toMatchObject({ expired: 3, redelivered: 3, delivered: 6, acked: 3, outstanding: 0 });
    expect(second.errors).toEqual([]);
  });

  it('keeps a message leased for as long as the client extends its deadline', async () => {
    const emulator = await res.emulator({ data: entries(2) });
    const consumer = consume(res.subscription(emulator.endpoint, { ...deadlines(3), streamingOptions: { maxStreams: 1 } }), (m) => {
      setTimeout(() => m.ack(), 6500);
    });
    await waitFor('2 acks', () => emulator.stats().acked === 2, 12_000);
    await sleep(300);
    expect(consumer.received).toHaveLength(2);
    const stats = emulator.stats();
    expect(stats).toMatchObject({ delivered: 2, redelivered: 0, expired: 0, acked: 2 });
    // the receipt modack plus the lease manager's extensions over 6.5 s of 3 s deadlines
    expect(stats.calls.ModifyAckDeadline).toBeGreaterThanOrEqual(3);
    expect(consumer.errors).toEqual([]);
  });

  it('redelivers a nacked message at once with a new ack id and delivery attempt', async () => {
    const emulator = await res.emulator({ data: entries(4), maxDeliveryAttempts: 5 });
    const consumer = consume(res.subscription(emulator.endpoint), (m) => (m.deliveryAttempt === 1 ? m.nack() : m.ack()));
    await waitFor('4 acks', () => emulator.stats().acked === 4, 5000);
    await sleep(300);

    expect([...tally(consumer.received).values()]).toEqual([2, 2, 2, 2]);
    for (const [id] of tally(consumer.received)) {
      const deliveries = consumer.received.filter((r) => r.message.id === id).map((r) => r.message);
      expect(deliveries.map((m) => m.deliveryAttempt)).toEqual([1, 2]);
      expect(deliveries[0]!.ackId).not.toBe(deliveries[1]!.ackId);
      expect(deliveries[1]!.data).toEqual(deliveries[0]!.data);
    }
    expect(emulator.stats()).toMatchObject({ nacked: 4, redelivered: 4, delivered: 8, acked: 4, expired: 0, outstanding: 0 });
  });

  it('moves a message to the dead letters after maxDeliveryAttempts deliveries without an ack', async () => {
    const emulator = await res.emulator({ data: entries(2), maxDeliveryAttempts: 3 });
    const subscription = res.subscription(emulator.endpoint);
    const consumer = consume(subscription, (m) => m.nack());
    await waitFor('2 dead letters', () => emulator.stats().deadLettered === 2, 5000);
    await sleep(300);
    expect([...tally(consumer.received).values()]).toEqual([3, 3]);
    expect(emulator.deadLetters().map((m) => m.attempts)).toEqual([3, 3]);
    expect(emulator.stats()).toMatchObject({ ready: 0, outstanding: 0, acked: 0 });
    const [metadata] = await subscription.getMetadata();
    expect(metadata.deadLetterPolicy?.maxDeliveryAttempts).toBe(3);
  });

  it('never has more outstanding on a stream than its max_outstanding_messages', async () => {
    const emulator = await res.emulator({ data: entries(10) });
    const held: Message[] = [];
    let most = 0;
    const consumer = consume(res.subscription(emulator.endpoint, { flowControl: { maxMessages: 3 }, streamingOptions: { maxStreams: 1 } }), (m) => {
      most = Math.max(most, emulator.stats().outstanding);
      held.push(m);
    });
    await waitFor('3 messages', () => consumer.received.length === 3);
    await sleep(500);
    expect(consumer.received).toHaveLength(3);
    expect(emulator.stats()).toMatchObject({ outstanding: 3, ready: 7 });

    held.shift()!.ack();
    await waitFor('a fourth message', () => consumer.received.length === 4);
    await sleep(300);
    expect(consumer.received).toHaveLength(4);

    // then ack whatever comes, until everything is through
    while (emulator.stats().acked < 10) {
      held.splice(0).forEach((m) => m.ack());
      await sleep(20);
    }
    expect(new Set(ids(consumer.received)).size).toBe(10);
    expect(consumer.received).toHaveLength(10);
    expect(most).toBeLessThanOrEqual(3);
  });

  it('stops sending once a stream has max_outstanding_bytes outstanding', async () => {
    const data = entries(6);
    const sizes = new Set(data.map((e) => Buffer.byteLength(canonicalJson(e))));
    expect(sizes.size).toBe(1);
    const size = [...sizes][0]!;
    const emulator = await res.emulator({ data });
    const held: Message[] = [];
    const consumer = consume(res.subscription(emulator.endpoint, { flowControl: { maxBytes: size * 2, maxMessages: 100 }, streamingOptions: { maxStreams: 1 } }), (m) => held.push(m));
    await waitFor('2 messages', () => consumer.received.length === 2);
    await sleep(500);
    expect(consumer.received).toHaveLength(2);
    held.splice(0).forEach((m) => m.ack());
    await waitFor('2 more', () => consumer.received.length === 4);
    await sleep(300);
    expect(consumer.received).toHaveLength(4);
  });

  it('splits one subscription between two clients: each message to one of them at a time, none lost', async () => {
    const emulator = await res.emulator({ data: entries(200) });
    const holding = new Map<string, number>();
    const overlaps: string[] = [];
    const consumers = [0, 1].map((who) =>
      consume(res.subscription(emulator.endpoint), (m) => {
        if (holding.has(m.id)) overlaps.push(m.id);
        holding.set(m.id, who);
        setTimeout(() => {
          holding.delete(m.id);
          m.ack();
        }, Math.floor(Math.random() * 20));
      }),
    );
    await waitFor('200 acks', () => emulator.stats().acked === 200, 15_000);
    await sleep(300);

    const all = consumers.flatMap((c) => ids(c.received));
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
    expect(overlaps).toEqual([]);
    for (const c of consumers) {
      expect(c.received.length).toBeGreaterThan(40);
      expect(c.errors).toEqual([]);
    }
    expect(emulator.stats()).toMatchObject({ delivered: 200, redelivered: 0, streams: 10 });
  });

  it('delivers what is published while subscribers run, through publish() and the Publisher API', async () => {
    const emulator = await res.emulator();
    const consumer = consume(res.subscription(emulator.endpoint));
    await sleep(300);
    expect(consumer.received).toHaveLength(0);

    const late = entries(3, 'late');
    const published = emulator.publish(late);
    await waitFor('3 messages', () => consumer.received.length === 3);
    expect(ids(consumer.received).sort()).toEqual([...published].sort());
    expect(consumer.received.map((r) => entryOf(r.message).insertId).sort()).toEqual(['late000', 'late001', 'late002']);

    const topic = res.client(emulator.endpoint).topic(SUBSCRIPTION_ID);
    const one = entries(1, 'pub')[0]!;
    const id = await topic.publishMessage({ data: Buffer.from(JSON.stringify(one)), attributes: { [TIMESTAMP_ATTRIBUTE]: one.timestamp as string } });
    await waitFor('the published message', () => consumer.received.length === 4);
    const got = consumer.received[3]!.message;
    expect(got.id).toBe(id);
    expect(entryOf(got)).toEqual(one);
    expect(got.attributes).toEqual({ [TIMESTAMP_ATTRIBUTE]: one.timestamp });

    await expect(res.client(emulator.endpoint).topic('elsewhere').publishMessage({ data: Buffer.from('{}') })).rejects.toMatchObject({ code: 5 });
    await waitFor('4 acks', () => emulator.stats().acked === 4);
    expect(emulator.stats()).toMatchObject({ published: 4, delivered: 4 });
  });

  it('answers a subscriber of another subscription NOT_FOUND, which the client reports', async () => {
    const emulator = await res.emulator({ data: entries(1) });
    const subscription = res.client(emulator.endpoint).subscription('not-there');
    const consumer = consume(subscription);
    await waitFor('an error', () => consumer.errors.length > 0);
    expect(consumer.errors[0]).toMatchObject({ code: 5 });
    expect(consumer.received).toHaveLength(0);
    expect(emulator.stats().delivered).toBe(0);
  });
});

describe('pubsub emulator: unary calls with the generated v1 SubscriberClient', () => {
  async function subscriberClient(endpoint: string): Promise<v1.SubscriberClient> {
    // The same options the PubSub object hands its own clients in emulator mode (it casts them too).
    const config = (await res.client(endpoint).getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0];
    const client = new v1.SubscriberClient(config);
    onTestFinished(() => client.close());
    return client;
  }

  it('leases pulled messages for the subscription deadline; modacks extend, a zero modack nacks, stale ack ids are ignored', async () => {
    const emulator = await res.emulator({ data: entries(2), ackDeadlineSeconds: 1 });
    const client = await subscriberClient(emulator.endpoint);
    const [subscription] = await client.getSubscription({ subscription: SUBSCRIPTION });
    expect(subscription).toMatchObject({ name: SUBSCRIPTION, topic: `projects/test-project/topics/${SUBSCRIPTION_ID}`, ackDeadlineSeconds: 1 });

    const [first] = await client.pull({ subscription: SUBSCRIPTION, maxMessages: 1 });
    expect(first.receivedMessages).toHaveLength(1);
    const [second] = await client.pull({ subscription: SUBSCRIPTION, maxMessages: 10 });
    expect(second.receivedMessages).toHaveLength(1);
    const a = first.receivedMessages![0]!;
    const b = second.receivedMessages![0]!;
    expect(a.message!.messageId).not.toBe(b.message!.messageId);
    const [none] = await client.pull({ subscription: SUBSCRIPTION, maxMessages: 10 });
    expect(none.receivedMessages ?? []).toHaveLength(0);

    await client.modifyAckDeadline({ subscription: SUBSCRIPTION, ackIds: [a.ackId!], ackDeadlineSeconds: 4 });
    await sleep(1300);
    // b's 1 s lease ran out, a's was extended
    const [again] = await client.pull({ subscription: SUBSCRIPTION, maxMessages: 10 });
    expect(again.receivedMessages!.map((r) => r.message!.messageId)).toEqual([b.message!.messageId]);
    const b2 = again.receivedMessages![0]!;
    expect(b2.ackId).not.toBe(b.ackId);

    await client.acknowledge({ subscription: SUBSCRIPTION, ackIds: [b.ackId!] });
    expect(emulator.stats()).toMatchObject({ acked: 0, staleAcks: 1, outstanding: 2 });
    await client.acknowledge({ subscription: SUBSCRIPTION, ackIds: [b2.ackId!] });
    expect(emulator.stats()).toMatchObject({ acked: 1, outstanding: 1 });

    await client.modifyAckDeadline({ subscription: SUBSCRIPTION, ackIds: [a.ackId!], ackDeadlineSeconds: 0 });
    const [nacked] = await client.pull({ subscription: SUBSCRIPTION, maxMessages: 10 });
    expect(nacked.receivedMessages!.map((r) => r.message!.messageId)).toEqual([a.message!.messageId]);
    await client.acknowledge({ subscription: SUBSCRIPTION, ackIds: [nacked.receivedMessages![0]!.ackId!] });
    expect(emulator.stats()).toMatchObject({ acked: 2, outstanding: 0, ready: 0, nacked: 1, expired: 1 });
  });

  it('takes acks and modacks on the StreamingPull stream itself, and limits the stream without the client library', async () => {
    const emulator = await res.emulator({ data: entries(5) });
    const client = await subscriberClient(emulator.endpoint);
    const stream = client.streamingPull();
    onTestFinished(() => stream.cancel());
    const got: { ackId: string; id: string }[] = [];
    const errors: { code?: number }[] = [];
    stream.on('data', (response: { receivedMessages: { ackId: string; message: { messageId: string } }[] }) => {
      got.push(...response.receivedMessages.map((r) => ({ ackId: r.ackId, id: r.message.messageId })));
    });
    stream.on('error', (err: { code?: number }) => errors.push(err));
    stream.write({ subscription: SUBSCRIPTION, streamAckDeadlineSeconds: 1, maxOutstandingMessages: 2 });
    await waitFor('2 messages', () => got.length === 2);
    await sleep(300);
    expect(got).toHaveLength(2);

    // ack the first, extend the second, on the stream; the freed room brings a third
    stream.write({ ackIds: [got[0]!.ackId], modifyDeadlineAckIds: [got[1]!.ackId], modifyDeadlineSeconds: [5] });
    await waitFor('a third message', () => got.length === 3);
    await sleep(1300);
    // the third ran out on the stream's 1 s deadline, the second did not
    expect(emulator.stats()).toMatchObject({ acked: 1, staleAcks: 0 });
    expect(emulator.stats().expired).toBeGreaterThanOrEqual(1);
    stream.write({ ackIds: [got[1]!.ackId] });
    await waitFor('the second acked', () => emulator.stats().acked === 2);
    expect(emulator.stats().staleAcks).toBe(0);

    stream.write({ modifyDeadlineAckIds: [got[2]!.ackId], modifyDeadlineSeconds: [] });
    await waitFor('the stream to fail', () => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 3 });
    await waitFor('the stream to be gone', () => emulator.stats().streams === 0);
  });

  it('rejects what the service rejects: deadlines over 600 s, empty ack lists, other subscriptions', async () => {
    const emulator = await res.emulator({ data: entries(1) });
    const client = await subscriberClient(emulator.endpoint);
    const [pulled] = await client.pull({ subscription: SUBSCRIPTION, maxMessages: 1 });
    const ackId = pulled.receivedMessages![0]!.ackId!;
    await expect(client.modifyAckDeadline({ subscription: SUBSCRIPTION, ackIds: [ackId], ackDeadlineSeconds: 601 })).rejects.toMatchObject({ code: 3 });
    await expect(client.acknowledge({ subscription: SUBSCRIPTION, ackIds: [] })).rejects.toMatchObject({ code: 3 });
    await expect(client.pull({ subscription: SUBSCRIPTION, maxMessages: 0 })).rejects.toMatchObject({ code: 3 });
    await expect(client.getSubscription({ subscription: 'projects/test-project/subscriptions/other' })).rejects.toMatchObject({ code: 5 });
    await expect(client.acknowledge({ subscription: 'projects/test-project/subscriptions/other', ackIds: [ackId] })).rejects.toMatchObject({ code: 5 });
    // none of that touched the lease
    expect(emulator.stats()).toMatchObject({ outstanding: 1, acked: 0 });
  });
});
