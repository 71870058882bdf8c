// The bridge with worker threads against the bridge without: the same backlog of each source that
// hands its records to the workers (EKS, AKS polled, AKS through Event Hubs, GKE polled) through the real SDK,
// the policy, a filter, a scrubbing webhook sink, a file sink that does not scrub and a rules sink
// must come out the same, byte for byte, with the same rejects and the same counts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { PooledPreparer } from '../../src/pipeline/prepare.js';
import { parseConfig } from '../../src/config/load.js';
import { AksEmulator } from '../../src/sources/aks/emulator/server.js';
import { startEventHubsEmulator } from '../../src/sources/aks-eventhubs/emulator/index.js';
import { EksEmulator, type EmulatorRecord } from '../../src/sources/eks/emulator/server.js';
import { GkeEmulator } from '../../src/sources/gke/emulator/server.js';
import { SAMPLES_DIR } from '../../src/component/samples.js';
import { tempDir } from '../helpers/fs.js';
import { TestReceiver } from '../helpers/http-receiver.js';
import { captureLogger } from '../helpers/webhook.js';
import { asSecretCreate, sampleEvents } from '../sources/eks/helpers.js';

const GROUP = '/aws/eks/demo-eks/cluster';
const HUB = 'insights-logs-kube-audit';
const AKS_ROWS = `${SAMPLES_DIR}aks/azurediagnostics-rows.json`;
const SECRET_VALUE = 'd29ya2Vycy1zZWNyZXQ=';
const POLICY = new URL('../../config/audit-policy.yaml', import.meta.url).pathname;
const LIBRARY = new URL('../../config/rules/library.yaml', import.meta.url).pathname;
const closers: (() => Promise<void>)[] = [];

beforeEach(() => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDWORKERS');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'workers-secret');
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  for (const close of closers.splice(0).reverse()) await close();
});

/** 600 audit event texts: the samples with their own auditIDs, Secret creates, pod execs, and four malformed. */
function eventTexts(): string[] {
  return sampleEvents(600, 'w').map((event, i) => {
    if (i % 9 === 0) asSecretCreate(event, 'prod', `db-${i}`, SECRET_VALUE);
    if (i % 11 === 0) Object.assign(event, { verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'prod', name: `web-${i}`, apiVersion: 'v1' } });
    return i % 150 === 77 ? `{"kind":"Event","auditID":"broken-${i}"` : JSON.stringify(event);
  });
}

/** A source on its emulator, as YAML for the sources list, and how to stop the emulator. */
interface SourceUnderTest {
  yaml: string;
  close(): Promise<void>;
}

type SourceFactory = (start: number, dir: string) => Promise<SourceUnderTest>;

const eks: SourceFactory = async (start) => {
  const records: EmulatorRecord[] = eventTexts().map((message, i) => ({ logStreamName: 'kube-apiserver-audit-1', timestamp: start + i * 10, message, ingestionTime: start + i * 10 }));
  const emulator = await EksEmulator.start({ logGroup: GROUP, records, faults: 'page-size=70' });
  return {
    yaml: `{ name: eks, type: eks, region: us-east-1, cluster: demo-eks, accountId: "123456789012", endpoint: "${emulator.url}", startFrom: -2h }`,
    close: () => emulator.close(),
  };
};

const aks: SourceFactory = async (start, dir) => {
  const sample = (JSON.parse(readFileSync(AKS_ROWS, 'utf8')) as { rows: Record<string, unknown>[] }).rows.find((r) => r.Category === 'kube-audit')!;
  const rows = eventTexts().map((log, i) => ({ ...sample, log_s: log, TimeGenerated: new Date(start + i * 10).toISOString(), _TimeReceived: new Date(start + i * 10 + 500).toISOString() }));
  const emulator = await AksEmulator.start(rows, { table: 'AzureDiagnostics' });
  writeFileSync(join(dir, 'ca.pem'), emulator.caPem);
  writeFileSync(join(dir, 'secret'), 'workers-test-secret');
  return {
    yaml: `{ name: aks, type: aks, workspaceId: 7d0a3e59-2c1f-4b8e-9a64-0f3c5b1d2e01, table: AzureDiagnostics, clusterName: demo-aks, endpoint: "${emulator.endpoint}", caFile: ${join(dir, 'ca.pem')}, startFrom: -2h, credential: { type: clientSecret, tenantId: t, clientId: c, clientSecretFile: ${join(dir, 'secret')}, authorityHost: "${emulator.authorityHost}" } }`,
    close: () => emulator.close(),
  };
};

const aksEventHubs: SourceFactory = async (_start, dir) => {
  const emulator = await startEventHubsEmulator({ hub: HUB, partitions: 2, recordsPerMessage: 7 });
  const texts = eventTexts();
  emulator.append(
    texts.map((log, i) => ({
      category: i % 97 === 5 ? 'kube-apiserver' : 'kube-audit',
      resourceId: '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/DEMO-AKS',
      properties: { log: `${log}\n`, stream: 'stdout', pod: 'kube-apiserver-0' },
      time: '2026-12-06T00:00:00Z',
    })),
  );
  writeFileSync(join(dir, 'connection-string'), emulator.connectionString, { mode: 0o600 });
  return {
    yaml: `{ name: hub, type: aks-eventhubs, eventHub: ${HUB}, connectionStringFile: ${join(dir, 'connection-string')}, startPosition: earliest, quietPeriod: 1s }`,
    close: () => emulator.close(),
  };
};

const gke: SourceFactory = async (start) => {
  const samples = JSON.parse(readFileSync(`${SAMPLES_DIR}gke/entries.json`, 'utf8')) as Record<string, unknown>[];
  const entries = Array.from({ length: 600 }, (_, i) => {
    const sample = samples[i % 9 === 0 ? 6 : i % samples.length]!; // 6: a configmaps create
    const payload = { ...(sample.protoPayload as Record<string, unknown>) };
    const secret = { kind: 'Secret', apiVersion: 'v1', metadata: { name: `db-${i}`, namespace: 'prod' }, data: { password: SECRET_VALUE } };
    if (i % 18 === 0) {
      // A Secret create: the policy keeps it at Metadata.
      Object.assign(payload, { methodName: 'io.k8s.core.v1.secrets.create', resourceName: `core/v1/namespaces/prod/secrets/db-${i}`, request: { '@type': 'core.k8s.io/v1.Secret', ...secret } });
    } else if (i % 18 === 9) {
      // A body that carries a Secret on another resource: kept by the policy, scrubbed for the webhook sink.
      Object.assign(payload, { methodName: 'io.k8s.core.v1.configmaps.create', resourceName: `core/v1/namespaces/prod/configmaps/cm-${i}`, request: { '@type': 'core.k8s.io/v1.List', kind: 'List', apiVersion: 'v1', items: [secret] } });
    }
    const resource = sample.resource as { type: string; labels: Record<string, string> };
    const ns = BigInt(start) * 1_000_000n + BigInt(i) * 10_000_000n;
    const time = new Date(Number(ns / 1_000_000n)).toISOString().replace('Z', `${String(ns % 1_000_000n).padStart(6, '0')}Z`);
    return {
      ...sample,
      protoPayload: payload,
      insertId: `w-${i}`,
      logName: 'projects/demo/logs/cloudaudit.googleapis.com%2Factivity',
      resource: { type: resource.type, labels: { ...resource.labels, project_id: 'demo' } },
      timestamp: time,
      receiveTimestamp: time,
    };
  });
  const emulator = await GkeEmulator.start(entries, { faults: { malformedEvery: 150 } });
  return {
    yaml: `{ name: gke, type: gke, projectId: demo, endpoint: "${emulator.endpoint}", insecure: true, startFrom: -2h, pageSize: 70, requestsPerMinute: 6000 }`,
    close: () => emulator.stop(),
  };
};

interface Outcome {
  /** Items of every body the receiver got, in order. */
  received: string[];
  archive: string[];
  alerts: string[];
  deadLetter: { kind: string; reason: string; ref?: string }[];
  metrics: string[];
  /** Log lines at warn or above. */
  problems: Record<string, unknown>[];
}

async function runBridge(factory: SourceFactory, workers: number, start: number): Promise<Outcome> {
  const dir = await tempDir();
  const source = await factory(start, dir);
  closers.push(() => source.close());
  const receiver = await TestReceiver.start({ path: '/k8s-audit' });
  closers.push(() => receiver.close());
  const config = parseConfig(
    `
sources:
  - ${source.yaml}
pipeline: { workers: ${workers} }
process:
  policy: ${POLICY}
  drop: ['jpath("verb") = "watch"']
sinks:
  - { name: falco, type: webhook, preset: falco, url: "${receiver.url}", batchMaxWait: 20ms }
  - { name: archive, type: file, path: ${join(dir, 'archive.jsonl')}, scrubSecrets: false }
  - { name: detections, type: rules, rules: [${LIBRARY}], enable: [all] }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead-letter.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
    'workers.yaml',
    {},
  );
  const stdout = new PassThrough();
  const alerts: string[] = [];
  stdout.on('data', (chunk: Buffer) => alerts.push(...chunk.toString().split('\n').filter(Boolean)));
  const { logger, lines: logLines } = captureLogger('info');
  const bridge = await Bridge.create(config, { logger, stdout, once: true });
  await bridge.start();
  await bridge.done;
  const metrics = await bridge.metrics.registry.metrics();
  const lines = (file: string): string[] => readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean);
  return {
    received: receiver.requests.flatMap((r) => (JSON.parse(r.text) as { items: unknown[] }).items.map((item) => JSON.stringify(item))),
    archive: lines('archive.jsonl'),
    // An alert's time is when it was raised.
    alerts: alerts.map((a) => a.replace(/"(time|alertTime)":"[^"]*"/g, '"$1":"…"')),
    deadLetter: lines('dead-letter.jsonl').map((l) => {
      const entry = JSON.parse(l) as { kind: string; reason: string; ref?: string };
      return { kind: entry.kind, reason: entry.reason, ...(entry.ref !== undefined ? { ref: entry.ref } : {}) };
    }),
    problems: logLines().filter((l) => typeof l.level === 'number' ? l.level >= 40 : l.level === 'warn' || l.level === 'error'),
    metrics: metrics
      .split('\n')
      .filter((l) => /^kube_audit_bridge_(events_(received|delivered|dropped|rejected|scrubbed)_total|dead_lettered_total|alerts_total)\{/.test(l))
      // A label set is listed where it was first counted, which is not part of what is compared.
      .sort(),
  };
}

describe('worker threads (pipeline.workers)', () => {
  it.each([
    ['eks', eks, 4],
    ['aks (polled)', aks, 4],
    ['aks-eventhubs', aksEventHubs, 11],
    ['gke (polled)', gke, 4],
  ] as const)('deliver what the main thread alone delivers from %s, byte for byte, with the same rejects and counts', async (_name, factory, rejects) => {
    const start = Date.now() - 3_600_000;
    const alone = await runBridge(factory, 0, start);
    const handedOver = vi.spyOn(PooledPreparer.prototype, 'prepare');
    const pooled = await runBridge(factory, 2, start);
    // The source handed its records to the workers (it would deliver the same doing it all itself).
    expect(handedOver.mock.calls.length).toBeGreaterThan(0);
    handedOver.mockRestore();

    expect(alone.received.length).toBeGreaterThan(100);
    // Bodies go out up to maxConcurrentRequests at a time, so they may arrive in either order; the
    // file sink writes in order, so its lines show the order batches reach the sinks.
    expect([...pooled.received].sort()).toEqual([...alone.received].sort());
    expect(pooled.archive).toEqual(alone.archive);
    expect(pooled.alerts).toEqual(alone.alerts);
    expect(pooled.deadLetter).toEqual(alone.deadLetter);
    expect(pooled.metrics).toEqual(alone.metrics);
    // The workers did the work: a job a worker failed would have been done on the main thread, with an error logged.
    expect(pooled.problems.filter((l) => l.msg !== 'records rejected; kept in the dead-letter file')).toEqual([]);

    // And what they agree on is right: scrubbed for the webhook, not for the archive, rejects kept, alerts raised.
    expect(alone.received.some((t) => t.includes(SECRET_VALUE))).toBe(false);
    expect(alone.archive.some((t) => t.includes(SECRET_VALUE))).toBe(true);
    expect(alone.deadLetter.filter((d) => d.kind === 'reject')).toHaveLength(rejects);
    expect(alone.alerts.length).toBeGreaterThan(0);
    expect(alone.metrics.some((l) => /^kube_audit_bridge_events_dropped_total\{source="\w+",stage="policy"\}/.test(l))).toBe(true);
  });
});
