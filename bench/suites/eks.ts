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
      return figures;
    } finally {
      closeSync(devNull);
      await emulator.close();
    }
  },
};
