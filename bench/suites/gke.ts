import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gkeSourceSchema } from '../../src/sources/gke/config.js';
import { GkeEmulator } from '../../src/sources/gke/emulator/server.js';
import { goJSON } from '../../src/event/encode.js';
import { isReject } from '../../src/event/event.js';
import { normalizeGkeEntry } from '../../src/sources/gke/normalize.js';
import { GkeSource } from '../../src/sources/gke/source.js';
import { formatTimeNs } from '../../src/sources/gke/time.js';
import { jsonCeiling, onceSourceContext, rate, withBaseline, type Figure, type Suite } from '../harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The 24 GKE samples, repeated with distinct insertIds and increasing timestamps in one project. */
function entries(count: number, startMs: number): Record<string, unknown>[] {
  const samples = JSON.parse(readFileSync(`${ROOT}samples/gke/entries.json`, 'utf8')) as Record<string, unknown>[];
  return Array.from({ length: count }, (_, i) => {
    const s = samples[i % samples.length]!;
    const resource = s.resource as { type: string; labels: Record<string, string> };
    const ns = BigInt(startMs) * 1_000_000n + BigInt(i) * 1000n;
    return {
      ...s,
      insertId: `bench-${i}`,
      logName: 'projects/bench/logs/cloudaudit.googleapis.com%2Factivity',
      resource: { type: resource.type, labels: { ...resource.labels, project_id: 'bench' } },
      timestamp: formatTimeNs(ns),
      receiveTimestamp: formatTimeNs(ns),
    };
  });
}

export const gkeSuite: Suite = {
  name: 'gke',
  description: 'GKE entries/s: emulator → SDK over gRPC → AuditLog decoding → normalization → JSON lines to /dev/null, and normalization alone; vs JSON.parse + JSON.stringify of the same entries',
  async run(ctx) {
    const count = ctx.quick ? 2000 : 10_000;
    const minMs = ctx.quick ? 500 : 2000;
    const list = entries(count, Date.now() - 3_600_000);
    const texts = list.map((e) => JSON.stringify(e));
    const ceiling = await jsonCeiling(texts, minMs);
    ctx.log(`JSON.parse + JSON.stringify: ${Math.round(ceiling.itemsPerSecond)} entries/s`);

    const normalize = await rate(() => {
      let n = 0;
      for (const t of texts) {
        const result = normalizeGkeEntry(JSON.parse(t));
        if (!isReject(result)) n += goJSON(result).length;
      }
      return n;
    }, texts.length, { minMs });

    const emulator = await GkeEmulator.start(list);
    const devNull = createWriteStream('/dev/null');
    try {
      const config = gkeSourceSchema.parse({
        name: 'bench',
        type: 'gke',
        projectId: 'bench',
        endpoint: emulator.endpoint,
        insecure: true,
        startFrom: '-2h',
        requestsPerMinute: 1_000_000, // the quota is not what is measured
      });
      const drainOnce = async (): Promise<number> => {
        const source = new GkeSource(config, onceSourceContext());
        let delivered = 0;
        for await (const batch of source.batches(undefined, new AbortController().signal)) {
          if (batch.events.length === 0) continue;
          const text = batch.events.map((e) => `${goJSON(e)}\n`).join('');
          if (!devNull.write(text)) await new Promise<void>((r) => devNull.once('drain', () => r()));
          delivered += batch.events.length;
        }
        if (delivered !== count) throw new Error(`the source delivered ${delivered} of ${count} entries`);
        return delivered;
      };
      const sdk = await rate(drainOnce, count, { minMs, warmup: 1 });
      ctx.log(`SDK path: ${Math.round(sdk.opsPerSecond)} entries/s over ${sdk.iterations} drains of ${count}`);
      const figures: Figure[] = [
        withBaseline({ key: 'gke.sdk_to_devnull.entries_per_s', label: 'gke: emulator → SDK → normalize → /dev/null', value: sdk.opsPerSecond, unit: 'entries/s' }, 'JSON parse+stringify', ceiling.itemsPerSecond),
        withBaseline({ key: 'gke.normalize.entries_per_s', label: 'gke: parse + normalize + encode', value: normalize.opsPerSecond, unit: 'entries/s' }, 'JSON parse+stringify', ceiling.itemsPerSecond),
      ];
      return figures;
    } finally {
      devNull.end();
      await emulator.stop();
    }
  },
};
