import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gkeSourceSchema } from '../../src/sources/gke/config.js';
import { GkeEmulator } from '../../src/sources/gke/emulator/server.js';
import { goJSON } from '../../src/event/encode.js';
import { isReject } from '../../src/event/event.js';
import { normalizeGkeEntry } from '../../src/sources/gke/normalize.js';
import { GkeSource } from '../../src/sources/gke/source.js';
import { formatTimeNs } from '../../src/sources/gke/time.js';
import { decodeAuditLog, decodeAuditLogWithProtobufjs, encodeAuditLog } from '../../src/sources/gke/audit-log.js';
import { jsonCeiling, onceSourceContext, rate, withBaseline, type Figure, type Suite } from '../harness.js';
import { gkeEntries } from '../providers.js';

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

    const decoding = await decodeFigures(count, minMs, (m) => ctx.log(m));

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
        ...decoding,
      ];
      return figures;
    } finally {
      devNull.end();
      await emulator.stop();
    }
  },
};

/**
 * The AuditLog payload's bytes → JSON, with the decoder the source uses (it reads the wire into
 * plain values) and with the protobufjs one it replaced (message objects, then Struct → JSON),
 * alone and followed by normalize + encode; on the workload's entries (bodies of 1 to 20 KB), each
 * as a ratio to JSON.parse + JSON.stringify of the same payloads or entries, all in this run.
 */
async function decodeFigures(count: number, minMs: number, log: (m: string) => void): Promise<Figure[]> {
  const list = gkeEntries(count, Date.now() - 3_600_000);
  const payloads = list.map((e) => Buffer.from(encodeAuditLog(e.protoPayload as Record<string, unknown>)));
  const envelopes = list.map((e) => ({ ...e, protoPayload: undefined }));
  const payloadCeiling = await jsonCeiling(list.map((e) => JSON.stringify(e.protoPayload)), minMs);
  const entryCeiling = await jsonCeiling(list.map((e) => JSON.stringify(e)), minMs);
  const kb = payloads.reduce((sum, p) => sum + p.length, 0) / payloads.length / 1024;
  log(`decoding: ${count} AuditLog payloads, mean ${kb.toFixed(1)} KB on the wire; JSON.parse + stringify: ${Math.round(payloadCeiling.itemsPerSecond)} payloads/s, ${Math.round(entryCeiling.itemsPerSecond)} entries/s`);
  const figures: Figure[] = [];
  for (const [name, decode, what] of [
    ['decode', decodeAuditLog, 'wire → JSON (the source)'],
    ['decode_protobufjs', decodeAuditLogWithProtobufjs, 'protobufjs + Struct → JSON (before)'],
  ] as const) {
    const alone = await rate(() => {
      let n = 0;
      for (const p of payloads) n += Object.keys(decode(p)).length;
      return n;
    }, payloads.length, { minMs });
    const normalized = await rate(() => {
      let n = 0;
      for (let i = 0; i < payloads.length; i++) {
        const event = normalizeGkeEntry({ ...envelopes[i], protoPayload: decode(payloads[i]!) });
        if (!isReject(event)) n += goJSON(event).length;
      }
      return n;
    }, payloads.length, { minMs });
    figures.push(
      withBaseline({ key: `gke.${name}.payloads_per_s`, label: `gke: AuditLog ${what}`, value: alone.opsPerSecond, unit: 'payloads/s' }, 'JSON parse+stringify, same payloads', payloadCeiling.itemsPerSecond),
      withBaseline({ key: `gke.${name}_normalize.entries_per_s`, label: `  + normalize + encode`, value: normalized.opsPerSecond, unit: 'entries/s' }, 'JSON parse+stringify, same entries', entryCeiling.itemsPerSecond),
    );
  }
  return figures;
}
