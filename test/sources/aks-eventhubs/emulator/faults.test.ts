// Each --faults item of the Event Hubs emulator, seen through the real EventHubConsumerClient.
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEventHubsFaults, startEventHubsEmulator, type EventHubsEmulator, type EventHubsEmulatorOptions } from '../../../../src/sources/aks-eventhubs/emulator/index.js';
import { collect, countRecords, delay, FAST_RETRIES, recordsOf, sorted, syntheticRecords, type Collected, type Received } from './helpers.js';

const HUB = 'insights-logs-kube-audit';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(options: Partial<EventHubsEmulatorOptions>): Promise<{ em: EventHubsEmulator; client: EventHubConsumerClient }> {
  const em = await startEventHubsEmulator({ hub: HUB, ...options });
  cleanup.push(() => em.close());
  const client = new EventHubConsumerClient('$Default', em.connectionString, { retryOptions: FAST_RETRIES });
  cleanup.push(() => client.close());
  return { em, client };
}

const expected = (n: number, from = 0): string[] => sorted(syntheticRecords(n, from).map((r) => JSON.stringify(r)));

function deliveredTwice(events: readonly Received[]): number {
  const seen = new Set<string>();
  let twice = 0;
  for (const e of events) {
    const key = `${e.partitionId}:${e.sequenceNumber}`;
    if (seen.has(key)) twice++;
    seen.add(key);
  }
  return twice;
}

/** Errors the SDK reported and did not retry away; a dropped link or connection must not leave any. */
function fatal(collected: Collected): Error[] {
  return collected.errors.filter((e) => (e as { retryable?: boolean }).retryable !== true);
}

describe('Event Hubs emulator faults: the spec', () => {
  it('parses a comma list of name=N and names what it does not know', () => {
    expect(parseEventHubsFaults('duplicate-every=3, detach-every=10,disconnect-ms=500,slow-ms=20,malformed-every=7,foreign-every=8,klog-every=9,reset-every=11,detach-ms=1,disconnect-every=2')).toEqual({
      duplicateEvery: 3,
      detachEvery: 10,
      disconnectMs: 500,
      slowMs: 20,
      malformedEvery: 7,
      foreignEvery: 8,
      klogEvery: 9,
      resetEvery: 11,
      detachMs: 1,
      disconnectEvery: 2,
    });
    expect(parseEventHubsFaults(undefined)).toEqual({});
    expect(parseEventHubsFaults('')).toEqual({});
    expect(() => parseEventHubsFaults('throttle-every=3')).toThrow(/unknown fault "throttle-every"; known: duplicate-every/);
    expect(() => parseEventHubsFaults('slow-ms=fast')).toThrow(/slow-ms needs a whole number/);
    expect(() => parseEventHubsFaults('slow-ms')).toThrow(/slow-ms needs a whole number/);
    expect(() => parseEventHubsFaults('slow-ms=-1')).toThrow(/slow-ms needs a whole number/);
  });
});

describe('Event Hubs emulator faults: deliveries', () => {
  it('duplicate-every=N sends every Nth delivery twice, same sequence number and offset', async () => {
    const { em, client } = await setup({ partitions: 2, data: syntheticRecords(30), faults: 'duplicate-every=4' });
    const got = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => new Set(recordsOf(ev)).size >= 30 });
    expect(sorted([...new Set(recordsOf(got.events))])).toEqual(expected(30));
    const stats = em.stats();
    expect(stats.duplicates).toBeGreaterThanOrEqual(7);
    expect(got.events).toHaveLength(30 + stats.duplicates);
    expect(deliveredTwice(got.events)).toBe(stats.duplicates);
    // A duplicate follows its original directly.
    for (const id of ['0', '1']) {
      const seqs = got.events.filter((e) => e.partitionId === id).map((e) => e.sequenceNumber);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it('detach-every=N detaches the link after every Nth delivery; the SDK re-attaches after its last event: nothing lost or repeated', async () => {
    const { em, client } = await setup({ partitions: 4, data: syntheticRecords(40), faults: 'detach-every=7' });
    const got = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => countRecords(ev) >= 40 });
    expect(sorted(recordsOf(got.events))).toEqual(expected(40));
    expect(deliveredTwice(got.events)).toBe(0);
    const stats = em.stats();
    expect(stats.detached).toBeGreaterThanOrEqual(5);
    expect(stats.receivers.opened).toBeGreaterThanOrEqual(4 + stats.detached);
    expect(fatal(got)).toEqual([]);
  });

  it('disconnect-every=N closes the connection with amqp:connection:forced; the SDK reconnects and resumes', async () => {
    const { em, client } = await setup({ partitions: 2, data: syntheticRecords(30), faults: 'disconnect-every=8' });
    const got = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => countRecords(ev) >= 30, timeoutMs: 25_000 });
    expect(sorted(recordsOf(got.events))).toEqual(expected(30));
    expect(deliveredTwice(got.events)).toBe(0);
    const stats = em.stats();
    expect(stats.disconnected).toBeGreaterThanOrEqual(3);
    expect(stats.connections.opened).toBeGreaterThanOrEqual(1 + stats.disconnected);
    expect(fatal(got)).toEqual([]);
  });

  it('reset-every=N drops the TCP connection without a close; the SDK reconnects, or restarts the partition on its next loop', async () => {
    const { em } = await setup({ partitions: 2, data: syntheticRecords(24), faults: 'reset-every=7' });
    // A drop while a receiver is attaching makes rhea-promise reject with no error at all, which the
    // SDK reports as "Unknown error encountered." (not retryable) and answers by restarting that
    // partition's pump on its next loop (loadBalancingOptions.updateIntervalInMs, default 10 s),
    // from the start position when nothing was checkpointed.
    const client = new EventHubConsumerClient('$Default', em.connectionString, { retryOptions: FAST_RETRIES, loadBalancingOptions: { updateIntervalInMs: 200 } });
    cleanup.push(() => client.close());
    const got = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => new Set(recordsOf(ev)).size >= 24, timeoutMs: 25_000 });
    expect(sorted([...new Set(recordsOf(got.events))])).toEqual(expected(24));
    for (const err of fatal(got)) expect(err.message).toBe('Unknown error encountered.');
    if (fatal(got).length === 0) expect(deliveredTwice(got.events)).toBe(0);
    const stats = em.stats();
    expect(stats.resets).toBeGreaterThanOrEqual(2);
    expect(stats.connections.opened).toBeGreaterThanOrEqual(1 + stats.resets);
  });

  it('disconnect-ms and detach-ms drop connections and links on a timer while records keep arriving', async () => {
    const { em, client } = await setup({ partitions: 2, faults: 'disconnect-ms=700,detach-ms=300' });
    const pending = collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => countRecords(ev) >= 40, timeoutMs: 25_000 });
    for (let i = 0; i < 8; i++) {
      em.append(syntheticRecords(5, i * 5));
      await delay(250);
    }
    const got = await pending;
    expect(sorted(recordsOf(got.events))).toEqual(expected(40));
    expect(deliveredTwice(got.events)).toBe(0);
    const stats = em.stats();
    expect(stats.disconnected).toBeGreaterThanOrEqual(2);
    expect(stats.detached).toBeGreaterThanOrEqual(2);
    expect(fatal(got)).toEqual([]);
  });

  it('slow-ms=M spaces deliveries on a link M ms apart', async () => {
    const { client } = await setup({ partitions: 1, data: syntheticRecords(8), faults: 'slow-ms=60' });
    const times: number[] = [];
    const got = await collect(client, {
      partitionId: '0',
      subscribe: { startPosition: earliestEventPosition },
      until: (ev) => ev.length >= 8,
      onEvents: (batch) => void times.push(...batch.map(() => Date.now())),
    });
    expect(got.events.map((e) => e.sequenceNumber)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(times[7]! - times[0]!).toBeGreaterThanOrEqual(7 * 60 - 20);

    // Without the fault the same eight arrive together.
    const { client: fast } = await setup({ partitions: 1, data: syntheticRecords(8) });
    const fastTimes: number[] = [];
    await collect(fast, {
      partitionId: '0',
      subscribe: { startPosition: earliestEventPosition },
      until: (ev) => ev.length >= 8,
      quietMs: 0,
      onEvents: (batch) => void fastTimes.push(...batch.map(() => Date.now())),
    });
    expect(fastTimes[7]! - fastTimes[0]!).toBeLessThan((7 * 60) / 2);
  });
});

describe('Event Hubs emulator faults: messages', () => {
  it('malformed-every, foreign-every and klog-every add damaged messages before every Nth data message', async () => {
    const { em, client } = await setup({ partitions: 2, data: syntheticRecords(20), faults: 'malformed-every=3,foreign-every=4,klog-every=5' });
    expect(em.stats()).toMatchObject({ records: 20, malformed: 6, foreign: 5, klog: 4, messages: 35 });
    const got = await collect(client, { subscribe: { startPosition: earliestEventPosition, skipParsingBodyAsJson: true }, until: (ev) => ev.length >= 35 });
    expect(got.events).toHaveLength(35);
    const texts = got.events.map((e) => (e.body as Buffer).toString('utf8'));
    const parsed = texts.map((t) => {
      try {
        return JSON.parse(t) as { records: { category: string; properties: { log: string } }[] };
      } catch {
        return undefined;
      }
    });
    // Malformed: the first half of the data message that follows it, which is no JSON.
    const malformed = texts.filter((_, i) => parsed[i] === undefined);
    expect(malformed).toHaveLength(6);
    const bodies = texts.filter((_, i) => parsed[i] !== undefined);
    for (const m of malformed) expect(bodies.some((b) => b.startsWith(m) && b.length > m.length)).toBe(true);

    const records = parsed.flatMap((p) => p?.records ?? []);
    const foreign = records.filter((r) => r.category === 'kube-apiserver');
    expect(foreign).toHaveLength(5);
    const klog = records.filter((r) => r.category === 'kube-audit' && /^I\d{4} \d\d:\d\d:\d\d\.\d{6} +1 httplog\.go/.test(r.properties.log));
    expect(klog).toHaveLength(4);
    for (const r of [...foreign, ...klog]) expect(r.properties.log).toMatch(/^I\d{4} /);
    // Every data record is there once, besides the damage.
    const data = records.filter((r) => !foreign.includes(r) && !klog.includes(r)).map((r) => JSON.stringify(r));
    expect(sorted(data)).toEqual(expected(20));
    // Damage goes to the partition of the data message it precedes: data messages 3, 9, 15 to
    // partition 0 and 6, 12, 18 to partition 1 (round robin from 1 → "0").
    for (const id of ['0', '1']) {
      expect(got.events.filter((e, i) => e.partitionId === id && parsed[i] === undefined)).toHaveLength(3);
    }
  });

  it('applies message faults to records appended at run time too', async () => {
    const { em } = await setup({ partitions: 1, faults: 'malformed-every=2' });
    const first = em.append(syntheticRecords(1));
    const second = em.append(syntheticRecords(1, 1));
    expect(first.map((m) => m.kind)).toEqual(['records']);
    expect(second.map((m) => [m.kind, m.sequenceNumber])).toEqual([
      ['malformed', 1],
      ['records', 2],
    ]);
  });
});
