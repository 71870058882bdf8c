// Each provider's records for the end-to-end figures, built from that provider's real samples and
// grown to the workload's sizes (the same 1-20 KB, log-uniform draw), and the emulator that serves them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AksEmulator } from '../src/sources/aks/emulator/server.js';
import { EksEmulator, type EmulatorRecord } from '../src/sources/eks/emulator/server.js';
import { GkeEmulator } from '../src/sources/gke/emulator/server.js';
import { kustoTime } from '../src/sources/aks/kusto-time.js';
import { formatTimeNs } from '../src/sources/gke/time.js';
import { auditId, eventText, padObject, prng, ROOT, type WorkloadTemplate } from './workload.js';

export interface ProviderBench {
  provider: 'gke' | 'eks' | 'aks';
  /** Environment for the bridge process (credentials the default chain finds without a network). */
  env?: Record<string, string>;
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

export async function gkeBench(count: number, startMs: number, _templates: readonly WorkloadTemplate[]): Promise<ProviderBench> {
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

/** EKS records: the workload's native events as FilterLogEvents messages, `perSecond` of cluster time each second. */
export function eksRecords(templates: readonly WorkloadTemplate[], first: number, count: number, startMs: number, perSecond = 10_000): EmulatorRecord[] {
  return Array.from({ length: count }, (_, k) => {
    const i = first + k;
    return { logStreamName: `kube-apiserver-audit-${i % 3}`, timestamp: startMs + Math.floor((k * 1000) / perSecond), message: eventText(templates, i) };
  });
}

/** `perSecond`: how busy the cluster was; it sets how many eventIds the cursor keeps for its overlap. */
export async function eksBench(count: number, startMs: number, templates: readonly WorkloadTemplate[], perSecond = 10_000): Promise<ProviderBench> {
  const emulator = await EksEmulator.start({ logGroup: '/aws/eks/bench/cluster', records: eksRecords(templates, 0, count, startMs, perSecond) });
  let next = count;
  return {
    provider: 'eks',
    env: { AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' },
    source: { name: 'bench', type: 'eks', region: 'us-east-1', cluster: 'bench', accountId: '123456789012', endpoint: emulator.url, startFrom: new Date(startMs - 60_000).toISOString() },
    addNow(n) {
      const records = eksRecords(templates, next, n, Date.now());
      next += n;
      emulator.add(records);
      return records.map((_, k) => auditId(next - n + k));
    },
    stop: () => emulator.close(),
  };
}

/** AKS rows: the workload's events in AzureDiagnostics log_s, on the real sample row's other columns. */
export function aksRows(templates: readonly WorkloadTemplate[], first: number, count: number, startMs: number): Record<string, unknown>[] {
  const sample = (JSON.parse(readFileSync(`${ROOT}samples/aks/azurediagnostics-rows.json`, 'utf8')) as { rows: Record<string, unknown>[] }).rows.find((r) => r.Category === 'kube-audit')!;
  return Array.from({ length: count }, (_, k) => {
    const at = startMs + Math.floor(k / 10);
    return { ...sample, log_s: eventText(templates, first + k), TimeGenerated: kustoTime(at), _TimeReceived: kustoTime(at) };
  });
}

export async function aksBench(count: number, startMs: number, templates: readonly WorkloadTemplate[]): Promise<ProviderBench> {
  const emulator = await AksEmulator.start(aksRows(templates, 0, count, startMs), { table: 'AzureDiagnostics' });
  const dir = mkdtempSync(join(tmpdir(), 'kab-bench-aks-'));
  writeFileSync(join(dir, 'ca.pem'), emulator.caPem);
  writeFileSync(join(dir, 'secret'), 'bench-secret');
  let next = count;
  return {
    provider: 'aks',
    source: {
      name: 'bench',
      type: 'aks',
      workspaceId: '7d0a3e59-2c1f-4b8e-9a64-0f3c5b1d2e01',
      table: 'AzureDiagnostics',
      endpoint: emulator.endpoint,
      caFile: join(dir, 'ca.pem'),
      credential: { type: 'clientSecret', tenantId: 'bench', clientId: 'bench', clientSecretFile: join(dir, 'secret'), authorityHost: emulator.authorityHost },
      startFrom: new Date(startMs - 60_000).toISOString(),
    },
    addNow(n) {
      const rows = aksRows(templates, next, n, Date.now());
      next += n;
      emulator.append(rows);
      return rows.map((_, k) => auditId(next - n + k));
    },
    stop: async () => {
      await emulator.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
