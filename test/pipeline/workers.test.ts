// The bridge with worker threads against the bridge without: the same EKS backlog through the real
// SDK, the policy, a filter, a scrubbing webhook sink, a file sink that does not scrub and a rules
// sink must come out the same, byte for byte, with the same rejects and the same counts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { parseConfig } from '../../src/config/load.js';
import type { AuditEvent } from '../../src/event/event.js';
import { EksEmulator, type EmulatorRecord } from '../../src/sources/eks/emulator/server.js';
import { tempDir } from '../helpers/fs.js';
import { TestReceiver } from '../helpers/http-receiver.js';
import { captureLogger } from '../helpers/webhook.js';
import { sampleRecords } from '../sources/eks/helpers.js';

const GROUP = '/aws/eks/demo-eks/cluster';
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

/** 600 records an hour old: the samples with their own auditIDs, Secret creates, pod execs, and four malformed messages. */
function backlog(start: number): EmulatorRecord[] {
  const messages = sampleRecords()
    .map((r) => r.message)
    .filter((m) => !m.endsWith('[Truncated...]'));
  return Array.from({ length: 600 }, (_, i) => {
    const event = JSON.parse(messages[i % messages.length]!) as AuditEvent;
    event.auditID = `w-${i}`;
    if (i % 9 === 0) {
      Object.assign(event, {
        level: 'RequestResponse',
        verb: 'create',
        objectRef: { resource: 'secrets', namespace: 'prod', name: `db-${i}`, apiVersion: 'v1' },
        requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: `db-${i}` }, data: { password: SECRET_VALUE } },
      });
    }
    if (i % 11 === 0) Object.assign(event, { verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'prod', name: `web-${i}`, apiVersion: 'v1' } });
    const message = i % 150 === 77 ? `{"kind":"Event","auditID":"broken-${i}"` : JSON.stringify(event);
    return { logStreamName: 'kube-apiserver-audit-1', timestamp: start + i * 10, message, ingestionTime: start + i * 10 };
  });
}

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

async function runBridge(workers: number, start: number): Promise<Outcome> {
  const emulator = await EksEmulator.start({ logGroup: GROUP, records: backlog(start), faults: 'page-size=70' });
  closers.push(() => emulator.close());
  const receiver = await TestReceiver.start({ path: '/k8s-audit' });
  closers.push(() => receiver.close());
  const dir = await tempDir();
  const config = parseConfig(
    `
sources:
  - name: eks
    type: eks
    region: us-east-1
    cluster: demo-eks
    accountId: "123456789012"
    endpoint: ${emulator.url}
    startFrom: -2h
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
      .filter((l) => /^kube_audit_bridge_(events_(received|delivered|dropped|rejected|scrubbed)_total|dead_lettered_total|alerts_total)\{/.test(l)),
  };
}

describe('worker threads (pipeline.workers)', () => {
  it('deliver what the main thread alone delivers, byte for byte, with the same rejects and counts', async () => {
    const start = Date.now() - 3_600_000;
    const alone = await runBridge(0, start);
    const pooled = await runBridge(2, start);

    expect(alone.received.length).toBeGreaterThan(100);
    expect(pooled.received).toEqual(alone.received);
    expect(pooled.archive).toEqual(alone.archive);
    expect(pooled.alerts).toEqual(alone.alerts);
    expect(pooled.deadLetter).toEqual(alone.deadLetter);
    expect(pooled.metrics).toEqual(alone.metrics);
    // The workers did the work: a job a worker failed would have been done on the main thread, with an error logged.
    expect(pooled.problems.filter((l) => l.msg !== 'records rejected; kept in the dead-letter file')).toEqual([]);

    // And what they agree on is right: scrubbed for the webhook, not for the archive, rejects kept, alerts raised.
    expect(alone.received.some((t) => t.includes(SECRET_VALUE))).toBe(false);
    expect(alone.archive.some((t) => t.includes(SECRET_VALUE))).toBe(true);
    expect(alone.deadLetter.filter((d) => d.kind === 'reject')).toHaveLength(4);
    expect(alone.alerts.length).toBeGreaterThan(0);
    expect(alone.metrics.some((l) => l.startsWith('kube_audit_bridge_events_dropped_total{source="eks",stage="policy"}'))).toBe(true);
  });
});
