// Each provider's records for the end-to-end figures, built from that provider's real samples and
// grown to the workload's sizes (the same 1-20 KB, log-uniform draw), and the emulator that serves them.
import { readFileSync } from 'node:fs';
import { GkeEmulator } from '../src/emulators/gke/server.js';
import { formatTimeNs } from '../src/providers/gke/time.js';
import { padObject, prng, ROOT } from './workload.js';

export interface ProviderBench {
  provider: 'gke' | 'eks' | 'aks';
  /** The source's config block (name `bench`), pointed at the emulator. */
  source: Record<string, unknown>;
  /** Makes `count` more records visible now, timestamped now; returns the auditIDs they become. */
  addNow(count: number): string[];
  stop(): Promise<void>;
}

/** GKE entries: the real samples with request/response grown to 1-20 KB, distinct insertIds, 10 per ms. */
export function gkeEntries(count: number, startMs: number, seed = 2, idPrefix = 'bench'): Record<string, unknown>[] {
  const samples = JSON.parse(readFileSync(`${ROOT}samples/gke/entries.json`, 'utf8')) as Record<string, unknown>[];
  const random = prng(seed);
  const pool = samples.map((s) => s);
  return Array.from({ length: count }, (_, i) => {
    const s = pool[i % pool.length]!;
    const payload = { ...(s.protoPayload as Record<string, unknown>) };
    const target = Math.round(1024 * Math.exp(random() * Math.log(20)));
    if (payload.request) payload.request = padObject(payload.request as Record<string, unknown>, target / 2, random);
    if (payload.response) payload.response = padObject(payload.response as Record<string, unknown>, target / 2, random);
    const resource = s.resource as { type: string; labels: Record<string, string> };
    const ns = BigInt(startMs) * 1_000_000n + BigInt(i) * 100_000n;
    return {
      ...s,
      protoPayload: payload,
      insertId: `${idPrefix}-${i}`,
      logName: 'projects/bench/logs/cloudaudit.googleapis.com%2Factivity',
      resource: { type: resource.type, labels: { ...resource.labels, project_id: 'bench' } },
      timestamp: formatTimeNs(ns),
      receiveTimestamp: formatTimeNs(ns),
    };
  });
}

export async function gkeBench(count: number, startMs: number): Promise<ProviderBench> {
  const emulator = await GkeEmulator.start(gkeEntries(count, startMs));
  let live = 0;
  return {
    provider: 'gke',
    source: {
      name: 'bench',
      type: 'gke',
      projectId: 'bench',
      endpoint: emulator.endpoint,
      insecure: true,
      startFrom: new Date(startMs - 60_000).toISOString(),
      requestsPerMinute: 1_000_000, // the bridge is measured, not Cloud Logging's 60 per minute
    },
    addNow(n) {
      const entries = gkeEntries(n, Date.now(), 3 + live, `live${live++}`);
      emulator.add(entries);
      return entries.map((e) => e.insertId as string);
    },
    stop: () => emulator.stop(),
  };
}
