import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { eksSourceSchema } from '../../src/sources/eks/config.js';
import { EksEmulator, type EmulatorRecord } from '../../src/sources/eks/emulator/server.js';
import { normalizeEksRecord } from '../../src/sources/eks/normalize.js';
import { goJSON } from '../../src/event/encode.js';
import { isReject, type AuditEvent } from '../../src/event/event.js';
import { EksSource, eksQuotaKey } from '../../src/sources/eks/source.js';
import { systemClock } from '../../src/util/clock.js';
import { QuotaRegistry } from '../../src/util/token-bucket.js';
import { jsonCeiling, onceSourceContext, rate, withBaseline, type Figure, type Suite } from '../harness.js';

/** The EKS sample messages as `count` FilterLogEvents records, 10 per millisecond, distinct auditIDs. */
function benchRecords(count: number, startMs: number): EmulatorRecord[] {
  const file = join(process.cwd(), 'samples/eks/filterlogevents-records.json');
  const samples = (JSON.parse(readFileSync(file, 'utf8')) as { events: { message: string; logStreamName: string }[] }).events.filter(
    (e) => !e.message.endsWith('[Truncated...]'),
  );
  return Array.from({ length: count }, (_, i) => {
    const s = samples[i % samples.length]!;
    const event = JSON.parse(s.message) as AuditEvent;
    return { logStreamName: s.logStreamName, timestamp: startMs + Math.floor(i / 10), message: goJSON({ ...event, auditID: `bench-${i}` }) };
  });
}

export const eksSuite: Suite = {
  name: 'eks',
  description:
    'events/s from the CloudWatch Logs emulator through the AWS SDK, the EKS source (paging, eventId cursor) and normalization to /dev/null, vs JSON.parse + JSON.stringify of the same messages',
  async run(ctx) {
    const count = ctx.quick ? 5000 : 100_000;
    const minMs = ctx.quick ? 500 : 2000;
    const startMs = Date.now() - 3600_000;
    const records = benchRecords(count, startMs);
    const messages = records.map((r) => r.message);
    const ceiling = await jsonCeiling(messages, minMs);
    ctx.log(`JSON.parse + JSON.stringify: ${Math.round(ceiling.itemsPerSecond)} messages/s`);

    // Normalization alone: the record to an Event and back to the apiserver's bytes.
    const normalize = await rate(() => {
      let n = 0;
      for (const r of records) {
        const e = normalizeEksRecord(r, { cluster: 'bench', region: 'us-east-1', accountId: '123456789012' });
        if (!isReject(e)) n += goJSON(e).length;
      }
      return n;
    }, records.length, { minMs });
    ctx.log(`normalizeEksRecord + encode: ${Math.round(normalize.opsPerSecond)} events/s`);

    const emulator = await EksEmulator.start({ logGroup: '/aws/eks/bench/cluster', records });
    const devNull = openSync('/dev/null', 'w');
    try {
      const config = eksSourceSchema.parse({
        name: 'bench',
        type: 'eks',
        region: 'us-east-1',
        cluster: 'bench',
        accountId: '123456789012',
        endpoint: emulator.url,
        startFrom: new Date(startMs - 1000).toISOString(),
        settleLag: '1s',
      });
      const drainOnce = async (): Promise<number> => {
        const quotas = new QuotaRegistry(systemClock);
        // The bench measures the bridge, not AWS's 5 requests per second.
        quotas.bucket(eksQuotaKey(config), 1000, 1000);
        const source = new EksSource(config, {
          ...onceSourceContext(quotas),
          credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
        });
        let delivered = 0;
        for await (const batch of source.batches(undefined, new AbortController().signal)) {
          if (batch.events.length === 0) continue;
          writeSync(devNull, `${batch.events.map((e) => goJSON(e)).join('\n')}\n`);
          delivered += batch.events.length;
        }
        if (delivered !== count) throw new Error(`the source delivered ${delivered} of ${count} events`);
        return delivered;
      };
      const r = await rate(drainOnce, count, { minMs, warmup: 1 });
      ctx.log(`emulator → SDK → EKS source → /dev/null: ${Math.round(r.opsPerSecond)} events/s over ${r.iterations} drains of ${count}`);
      const figures: Figure[] = [
        withBaseline(
          { key: 'eks.source.events_per_s', label: 'EKS source: emulator → SDK → normalize → /dev/null', value: r.opsPerSecond, unit: 'events/s' },
          'JSON.parse+stringify',
          ceiling.itemsPerSecond,
        ),
        withBaseline(
          { key: 'eks.normalize.events_per_s', label: 'EKS normalize + encode', value: normalize.opsPerSecond, unit: 'events/s' },
          'JSON.parse+stringify',
          ceiling.itemsPerSecond,
        ),
      ];
      figures.push(...(await readAheadFigures(records.slice(0, ctx.quick ? 2000 : 20_000), startMs, (m) => ctx.log(m))));
      return figures;
    } finally {
      closeSync(devNull);
      await emulator.close();
    }
  },
};

/** A round trip of a real FilterLogEvents page, about (the emulator answers in a millisecond or two). */
const ROUND_TRIP_MS = 150;

/**
 * What reading a window's ranges at once (parallelReads) buys when each request takes a round trip:
 * the same backlog through an emulator that answers after ROUND_TRIP_MS, with 1, 2 and 4 ranges at
 * once, each as a ratio to 1 in the same run. The quota is lifted, as above: on AWS the 5 requests
 * a second bound all of them.
 */
async function readAheadFigures(records: EmulatorRecord[], startMs: number, log: (m: string) => void): Promise<Figure[]> {
  const emulator = await EksEmulator.start({ logGroup: '/aws/eks/bench/cluster', records, faults: `latency-ms=${ROUND_TRIP_MS}` });
  try {
    const rates = new Map<number, number>();
    for (const parallelReads of [1, 2, 4]) {
      const config = eksSourceSchema.parse({ name: 'bench', type: 'eks', region: 'us-east-1', cluster: 'bench', accountId: '123456789012', endpoint: emulator.url, startFrom: new Date(startMs - 1000).toISOString(), settleLag: '1s', parallelReads });
      const quotas = new QuotaRegistry(systemClock);
      quotas.bucket(eksQuotaKey(config), 1000, 1000);
      const source = new EksSource(config, { ...onceSourceContext(quotas), credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' } });
      const requestsBefore = emulator.requests.length;
      const started = performance.now();
      let delivered = 0;
      for await (const batch of source.batches(undefined, new AbortController().signal)) delivered += batch.events.length;
      const seconds = (performance.now() - started) / 1000;
      if (delivered !== records.length) throw new Error(`parallelReads ${parallelReads}: the source delivered ${delivered} of ${records.length} events`);
      rates.set(parallelReads, delivered / seconds);
      log(`parallelReads ${parallelReads}, ${ROUND_TRIP_MS} ms a request: ${delivered} events in ${seconds.toFixed(1)} s, ${emulator.requests.length - requestsBefore} requests`);
    }
    const one = rates.get(1)!;
    return [...rates].map(([n, r]) =>
      withBaseline({ key: `eks.read_ahead.parallel_${n}.events_per_s`, label: `EKS source, ${ROUND_TRIP_MS} ms a request, parallelReads ${n}`, value: r, unit: 'events/s' }, 'parallelReads 1', one),
    );
  } finally {
    await emulator.close();
  }
}
