import { goJSON } from '../../src/event/encode.js';
import { isReject, type AuditEvent, type Reject } from '../../src/event/event.js';
import { normalizeAksRow } from '../../src/sources/aks/normalize.js';
import { normalizeEksRecord } from '../../src/sources/eks/normalize.js';
import { encodeAuditLog } from '../../src/sources/gke/audit-log.js';
import { fromWireEntry } from '../../src/sources/gke/entry.js';
import { normalizeGkeEntry } from '../../src/sources/gke/normalize.js';
import { parseTimeNs } from '../../src/sources/gke/time.js';
import { jsonCeiling, rate, withBaseline, type Figure, type Suite } from '../harness.js';
import { aksRows, eksRecords, gkeEntries } from '../providers.js';
import { workload } from '../workload.js';

interface Case {
  name: string;
  /** What is timed, for the label. */
  what: string;
  /** What the SDK hands the bridge, prepared outside the timed part. */
  inputs: unknown[];
  /** The JSON text of the same records: the bytes the ceiling parses and stringifies. */
  texts: string[];
  normalize(input: unknown): AuditEvent | Reject;
}

/** A LogEntry in the shape the logging SDK returns it (Timestamps, protoPayload an Any of AuditLog bytes). */
function wireEntry(entry: Record<string, unknown>): Record<string, unknown> {
  const timestamp = (text: unknown): { seconds: number; nanos: number } => {
    const ns = parseTimeNs(text as string)!;
    return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
  };
  const payload = entry.protoPayload as Record<string, unknown>;
  return {
    ...entry,
    timestamp: timestamp(entry.timestamp),
    receiveTimestamp: timestamp(entry.receiveTimestamp),
    protoPayload: { type_url: payload['@type'], value: Buffer.from(encodeAuditLog(payload)) },
  };
}

/** The GKE source's work on an entry: the payload decoded into the gcloud JSON shape, then normalized. */
function normalizeWireEntry(raw: unknown): AuditEvent | Reject {
  const wire = fromWireEntry(raw);
  return wire.ok ? normalizeGkeEntry(wire.json) : { reason: wire.reason, raw: wire.raw };
}

/**
 * (b): each provider's normalizer alone, on records built from the workload (1-20 KB), from what the
 * SDK hands over (for GKE, the AuditLog still in protobuf bytes) to the apiserver's bytes (decode,
 * normalize, encode), against JSON.parse + JSON.stringify of the same records' JSON measured in the
 * same run.
 */
export const normalizersSuite: Suite = {
  name: 'normalizers',
  description: 'each normalizer alone (record → Event → JSON), vs JSON.parse + JSON.stringify of the same records',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const n = ctx.quick ? 2000 : 10_000;
    const minMs = ctx.quick ? 500 : 2000;
    const startMs = Date.now() - 3_600_000;
    const gke = gkeEntries(n, startMs);
    const eks = eksRecords(w.templates, 0, n, startMs).map((r, i) => ({ ...r, ingestionTime: r.timestamp, eventId: String(i).padStart(56, '0') }));
    const aks = aksRows(w.templates, 0, n, startMs);
    const cases: Case[] = [
      // What the SDK hands the GKE source: the LogEntry with its AuditLog payload still in wire bytes.
      { name: 'gke', what: 'AuditLog bytes → Event → JSON', inputs: gke.map(wireEntry), texts: gke.map((e) => JSON.stringify(e)), normalize: normalizeWireEntry },
      { name: 'eks', what: '+ encode', inputs: eks, texts: eks.map((r) => r.message), normalize: (r) => normalizeEksRecord(r, { cluster: 'bench', region: 'us-east-1', accountId: '123456789012' }) },
      { name: 'aks', what: '+ encode', inputs: aks, texts: aks.map((r) => r.log_s as string), normalize: (r) => normalizeAksRow(r) },
    ];
    const figures: Figure[] = [];
    for (const c of cases) {
      const rejects = c.inputs.filter((i) => isReject(c.normalize(i))).length;
      if (rejects > 0) throw new Error(`${c.name}: ${rejects} of ${c.inputs.length} bench records were rejected`);
      const ceiling = await jsonCeiling(c.texts, minMs);
      const r = await rate(() => {
        let bytes = 0;
        for (const input of c.inputs) bytes += goJSON(c.normalize(input)).length;
        return bytes;
      }, c.inputs.length, { minMs });
      const kb = c.texts.reduce((s, t) => s + t.length, 0) / c.texts.length / 1024;
      ctx.log(`${c.name}: ${c.inputs.length} records, mean ${kb.toFixed(1)} KB`);
      figures.push(
        withBaseline(
          { key: `normalize.${c.name}.events_per_s`, label: `normalizer alone, ${c.name} (${c.what})`, value: r.opsPerSecond, unit: 'events/s' },
          'JSON.parse+stringify, same records',
          ceiling.itemsPerSecond,
        ),
      );
    }
    return figures;
  },
};
