// Each fault of the Pub/Sub emulator, seen through the official streaming subscriber.

import { afterEach, describe, expect, it } from 'vitest';
import { normalizeGkeEntry } from '../../../../src/sources/gke/normalize.js';
import { canonicalJson, parsePubsubFaults, TIMESTAMP_ATTRIBUTE } from '../../../../src/sources/gke-pubsub/emulator/index.js';
import { consume, deadlines, entries, ids, Resources, sleep, tally, waitFor } from './helpers.js';

const res = new Resources();
afterEach(() => res.closeAll());

describe('parsePubsubFaults', () => {
  it('reads every fault of the README table', () => {
    expect(parsePubsubFaults('redeliver-every=3, deadline-ms=1000,ignore-modacks,drop-every=5,drop-after-ms=300,slow-ms=150,malformed-every=4,foreign-every=6')).toEqual({
      redeliverEvery: 3,
      deadlineMs: 1000,
      ignoreModacks: true,
      dropEvery: 5,
      dropAfterMs: 300,
      slowMs: 150,
      malformedEvery: 4,
      foreignEvery: 6,
    });
    expect(parsePubsubFaults('ignore-modacks=0')).toEqual({ ignoreModacks: false });
    expect(parsePubsubFaults(undefined)).toEqual({});
    expect(parsePubsubFaults('')).toEqual({});
  });

  it('names what it cannot read', () => {
    expect(() => parsePubsubFaults('throttle-every=5')).toThrow(/unknown fault "throttle-every"; known: redeliver-every/);
    expect(() => parsePubsubFaults('drop-every=two')).toThrow(/drop-every: expected a whole number, got "two"/);
    expect(() => parsePubsubFaults('slow-ms=-1')).toThrow(/slow-ms: expected a whole number/);
    expect(() => parsePubsubFaults('slow-ms')).toThrow(/slow-ms: expected a whole number, got ""/);
    expect(() => parsePubsubFaults('ignore-modacks=yes')).toThrow(/ignore-modacks: expected 0 or 1/);
  });
});

describe('pubsub emulator faults', () => {
  it('redeliver-every=N: every Nth message comes back once after its ack, with a new ack id', async () => {
    const emulator = await res.emulator({ data: entries(9), faults: 'redeliver-every=3' });
    const consumer = consume(res.subscription(emulator.endpoint));
    await waitFor('9 acks and 3 redeliveries', () => emulator.stats().acked === 9 && emulator.stats().redelivered === 3);
    await sleep(300);

    const seqOf = new Map(emulator.snapshot().map((m) => [m.messageId, m.seq]));
    const twice = [...tally(consumer.received)].filter(([, n]) => n === 2).map(([id]) => seqOf.get(id)).sort();
    expect(twice).toEqual([3, 6, 9]);
    expect(consumer.received).toHaveLength(12);
    for (const seq of [3, 6, 9]) {
      const deliveries = consumer.received.filter((r) => seqOf.get(r.message.id) === seq);
      expect(deliveries[0]!.message.ackId).not.toBe(deliveries[1]!.message.ackId);
    }
    expect(emulator.stats()).toMatchObject({ delivered: 12, outstanding: 0, expired: 0 });
  });

  it('deadline-ms=N: a lease runs out after N ms though the client extends it; the late ack is ignored', async () => {
    const emulator = await res.emulator({ data: entries(1), faults: 'deadline-ms=1000' });
    const consumer = consume(res.subscription(emulator.endpoint, { streamingOptions: { maxStreams: 1 } }), (m, c) => {
      // holds the first delivery for 2.5 s (extending it all along), acks the next at once
      if (c.received.length === 1) setTimeout(() => m.ack(), 2500);
      else m.ack();
    });
    await waitFor('a redelivery', () => consumer.received.length === 2, 5000);
    expect(consumer.received[1]!.at - consumer.received[0]!.at).toBeGreaterThanOrEqual(900);
    await waitFor('the late ack', () => emulator.stats().staleAcks > 0, 5000);
    const stats = emulator.stats();
    expect(stats).toMatchObject({ acked: 1, expired: 1, redelivered: 1, outstanding: 0 });
    expect(consumer.received).toHaveLength(2);
  });

  it('ignore-modacks: extensions have no effect, so a held message comes back; nacks still work', async () => {
    const emulator = await res.emulator({ data: entries(2), faults: 'ignore-modacks' });
    let nacked = false;
    const consumer = consume(res.subscription(emulator.endpoint, { ...deadlines(1), streamingOptions: { maxStreams: 1 } }), (m, c) => {
      const deliveries = c.received.filter((r) => r.message.id === m.id).length;
      if (m.id === emulator.snapshot()[1]!.messageId && !nacked) {
        nacked = true;
        m.nack();
      } else if (deliveries === 1) setTimeout(() => m.ack(), 2500);
      else m.ack();
    });
    await waitFor('2 acks', () => emulator.stats().acked === 2, 8000);
    const stats = emulator.stats();
    expect(stats.ignoredModacks).toBeGreaterThan(0);
    expect(stats.nacked).toBe(1);
    expect(stats.expired).toBeGreaterThanOrEqual(1);
    const first = emulator.snapshot()[0]!.messageId;
    expect(tally(consumer.received).get(first)).toBeGreaterThanOrEqual(2);
  });

  it('drop-every=N: each stream ends with UNAVAILABLE after N messages; the client reconnects and nothing is lost or repeated', async () => {
    const emulator = await res.emulator({ data: entries(20), faults: 'drop-every=5' });
    const consumer = consume(res.subscription(emulator.endpoint, { streamingOptions: { maxStreams: 1 } }));
    await waitFor('20 acks', () => emulator.stats().acked === 20, 15_000);
    await waitFor('the fifth stream', () => emulator.stats().streamsOpened === 5, 5000);
    expect([...tally(consumer.received).values()]).toEqual(Array(20).fill(1));
    expect(emulator.stats()).toMatchObject({ dropped: 4, redelivered: 0, delivered: 20 });
    expect(consumer.errors).toEqual([]);
  });

  it('drop-after-ms=N: streams end with UNAVAILABLE after N ms; a slow consumer still gets everything once', async () => {
    const emulator = await res.emulator({ data: entries(10), faults: 'drop-after-ms=300' });
    const consumer = consume(res.subscription(emulator.endpoint, { flowControl: { maxMessages: 2 }, streamingOptions: { maxStreams: 1 } }), (m) => {
      setTimeout(() => m.ack(), 100);
    });
    await waitFor('10 acks', () => emulator.stats().acked === 10, 15_000);
    expect(new Set(ids(consumer.received)).size).toBe(10);
    expect(emulator.stats().dropped).toBeGreaterThanOrEqual(1);
    expect(emulator.stats().streamsOpened).toBeGreaterThanOrEqual(2);
    expect(consumer.errors).toEqual([]);
  });

  it('slow-ms=N: one message per response, N ms apart', async () => {
    const emulator = await res.emulator({ data: entries(5), faults: 'slow-ms=150' });
    const consumer = consume(res.subscription(emulator.endpoint, { streamingOptions: { maxStreams: 1 } }));
    await waitFor('5 messages', () => consumer.received.length === 5, 5000);
    const at = consumer.received.map((r) => r.at);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(100);
    expect(at[4]! - at[0]!).toBeGreaterThanOrEqual(4 * 140);
  });

  it('malformed-every=N: every Nth message carries data that is not JSON', async () => {
    const data = entries(8);
    const emulator = await res.emulator({ data, faults: 'malformed-every=4' });
    const consumer = consume(res.subscription(emulator.endpoint));
    await waitFor('8 acks', () => emulator.stats().acked === 8);
    const seqOf = new Map(emulator.snapshot().map((m) => [m.messageId, m.seq]));
    for (const { message } of consumer.received) {
      const seq = seqOf.get(message.id)!;
      const text = message.data.toString('utf8');
      expect(message.attributes[TIMESTAMP_ATTRIBUTE]).toBe(data[seq - 1]!.timestamp);
      if (seq % 4 === 0) {
        expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
        expect(canonicalJson(data[seq - 1])).toContain(text);
      } else expect(text).toBe(canonicalJson(data[seq - 1]));
    }
    expect(consumer.received).toHaveLength(8);
  });

  it('foreign-every=N: every Nth message is a LogEntry the GKE normalizer rejects as not a Kubernetes audit entry', async () => {
    const data = entries(6);
    const emulator = await res.emulator({ data, faults: 'foreign-every=3' });
    const consumer = consume(res.subscription(emulator.endpoint));
    await waitFor('6 acks', () => emulator.stats().acked === 6);
    const seqOf = new Map(emulator.snapshot().map((m) => [m.messageId, m.seq]));
    const rejected: number[] = [];
    for (const { message } of consumer.received) {
      const seq = seqOf.get(message.id)!;
      const result = normalizeGkeEntry(JSON.parse(message.data.toString('utf8')));
      if ('reason' in result) {
        expect(result.reason).toMatch(/^not a Kubernetes API audit entry/);
        rejected.push(seq);
      } else expect(result.auditID).toBe(data[seq - 1]!.insertId);
    }
    expect(rejected.sort()).toEqual([3, 6]);
  });
});
