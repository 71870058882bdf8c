// The built CLI (dist/cli/main.js) with an aks-eventhubs source: `run` processes reading the
// Event Hubs emulator in the test process through the real SDK, delivering to a webhook receiver
// on 127.0.0.1; restarts, SIGKILL, two replicas sharing partitions through Azurite.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateEvent, type AuditEvent } from '../../../src/event/event.js';
import type { EventHubsEmulator } from '../../../src/sources/aks-eventhubs/emulator/index.js';
import { CLI, REPO, runCli, startCli, exitOf } from '../../helpers/cli.js';
import { SAMPLES } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { TestReceiver } from '../../helpers/http-receiver.js';
import { journaledDedupeKeys } from '../../helpers/pipeline.js';
import { dedupeKey } from '../../../src/pipeline/dedupe.js';
import { auditRecords, blobContainer, connectionStringFile, emulator, eventually, HUB, keysOf, onCleanup, startAzurite, type Azurite } from './helpers.js';

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** The events of a webhook body: an EventList, an array, one event or JSON lines. */
function eventsIn(text: string): AuditEvent[] {
  try {
    const body = JSON.parse(text) as unknown;
    if (Array.isArray(body)) return body as AuditEvent[];
    const list = body as { kind?: string; items?: AuditEvent[] };
    return list.kind === 'EventList' ? (list.items ?? []) : [body as AuditEvent];
  } catch {
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
  }
}

/** What the receiver acknowledged, as auditID/stage keys in arrival order. */
function received(receiver: TestReceiver): string[] {
  return receiver.requests.flatMap((r) => eventsIn(r.text)).map((e) => `${e.auditID}/${e.stage}`);
}

function duplicates(keys: readonly string[]): number {
  return keys.length - new Set(keys).size;
}

async function receiverSlowBy(ms: number): Promise<TestReceiver> {
  const receiver = await TestReceiver.start();
  receiver.respond = async () => {
    await new Promise((r) => setTimeout(r, ms));
    return { status: 200 };
  };
  onCleanup(() => receiver.close());
  return receiver;
}

/** A bridge config with one aks-eventhubs source and a webhook sink to the receiver; its files in `dir`. */
async function bridgeConfig(dir: string, source: Record<string, unknown>, receiver: TestReceiver, extra: Record<string, unknown> = {}, url = receiver.url): Promise<string> {
  const file = join(dir, 'config.yaml');
  const config = {
    sources: [{ name: 'aks-stream', type: 'aks-eventhubs', startPosition: 'earliest', maxWaitTime: '200ms', ...source }],
    sinks: [{ name: 'receiver', type: 'webhook', url, batchMaxSize: 10, batchMaxWait: '10ms' }],
    checkpoint: { path: join(dir, 'checkpoints.json'), dedupeSaveInterval: '10s' },
    deadLetter: { path: join(dir, 'dead-letter.jsonl') },
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    ...extra,
  };
  await writeFile(file, stringify(config));
  return file;
}

/** `run` as a child process, resolved once the source has subscribed. */
async function startBridge(config: string): Promise<ChildProcessWithoutNullStreams> {
  const { child } = await startCli(['run', '--config', config], (log) => log.msg === 'subscribed to the Event Hub');
  children.push(child);
  return child;
}

async function stopBridge(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const exited = exitOf(child);
  child.kill(signal);
  return exited;
}

describe('kube-audit-bridge with aks-eventhubs: the CLI', () => {
  it('emulator eventhubs prints its endpoint and connection string first; run --once drains the hub, exits 0 after the quiet period, and a second run finds nothing new', async () => {
    const child = spawn(process.execPath, [CLI, 'emulator', 'eventhubs', '--port', '0', '--data', join(SAMPLES, 'aks', 'azurediagnostics-rows.json'), '--hub', HUB, '--partitions', '3'], { cwd: REPO, env: process.env });
    children.push(child);
    const ready = await new Promise<{ endpoint: string; connectionString: string; partitions: number; records: number }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as never);
      });
      child.once('exit', (code) => reject(new Error(`emulator exited ${code}`)));
    });
    expect(ready).toMatchObject({ endpoint: expect.stringMatching(/^sb:\/\/127\.0\.0\.1:\d+$/) as unknown, partitions: 3, records: 49 });
    expect(ready.connectionString).toMatch(/;UseDevelopmentEmulator=true$/);

    const dir = await tempDir();
    const secret = join(dir, 'connection-string');
    await writeFile(secret, ready.connectionString);
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      stringify({
        sources: [{ name: 'aks-stream', type: 'aks-eventhubs', connectionStringFile: secret, startPosition: 'earliest', quietPeriod: '1500ms', maxWaitTime: '200ms' }],
        sinks: [{ name: 'archive', type: 'file', path: join(dir, 'audit.jsonl') }],
        checkpoint: { path: join(dir, 'checkpoints.json') },
        deadLetter: { path: join(dir, 'dead-letter.jsonl') },
        server: { host: '127.0.0.1', port: 0 },
      }),
    );
    const started = Date.now();
    const first = await runCli(['run', '--config', config, '--once'], { timeoutMs: 30_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const events = (await readFile(join(dir, 'audit.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(events).toHaveLength(45);
    for (const e of events) expect(validateEvent(e)).toEqual([]);
    const deadLetters = (await readFile(join(dir, 'dead-letter.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(deadLetters).toHaveLength(1);
    // The connection string never reaches the log.
    expect(first.stderr).not.toContain(ready.connectionString.split('SharedAccessKey=')[1]!.split(';')[0]!);

    const second = await runCli(['run', '--config', config, '--once'], { timeoutMs: 30_000 });
    expect(second.code, second.stderr).toBe(0);
    expect((await readFile(join(dir, 'audit.jsonl'), 'utf8')).trimEnd().split('\n')).toHaveLength(45);
    child.kill('SIGTERM');
  }, 60_000);

  it('convert --from aks-eventhubs reads diagnostic records and messages; a foreign category is a reject (exit 3)', async () => {
    // The sample starts with a byte-order mark, as PowerShell writes files: convert reads past it.
    const dir = await tempDir();
    const sample = join(SAMPLES, 'aks', 'sysdig-aks-eventhub-single-record.json');
    expect((await readFile(sample, 'utf8')).charCodeAt(0)).toBe(0xfeff);
    const one = await runCli(['convert', '--from', 'aks-eventhubs', sample]);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout) as AuditEvent).toMatchObject({ auditID: '4e2a4193-cb3d-4ff7-bf37-32c392fbc23b', annotations: { cluster_name: 'kubeauditlogtestcluster' } });
    const file = join(dir, 'messages.jsonl');
    const foreign = { ...auditRecords(1)[0], category: 'kube-apiserver' };
    await writeFile(file, `${JSON.stringify({ records: auditRecords(2) })}\n${JSON.stringify({ records: [foreign] })}\n`);
    const mixed = await runCli(['convert', '--from', 'aks-eventhubs', file]);
    expect(mixed.code).toBe(3);
    expect(mixed.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(mixed.stderr).toMatch(/category "kube-apiserver" is not kube-audit or kube-audit-admin/);
  });
});

describe('kube-audit-bridge with aks-eventhubs: restarts', () => {
  const RECORDS = 200;

  async function streaming(em: EventHubsEmulator, receiver: TestReceiver): Promise<{ dir: string; config: string }> {
    const dir = await tempDir();
    const config = await bridgeConfig(dir, { connectionStringFile: await connectionStringFile(em, dir), maxBatchSize: 5, maxInFlightBatches: 2 }, receiver);
    return { dir, config };
  }

  it('exactly once across a graceful restart (SIGTERM mid-stream)', async () => {
    const em = await emulator({ partitions: 4, data: auditRecords(RECORDS) });
    const receiver = await receiverSlowBy(20);
    const { config } = await streaming(em, receiver);
    const first = await startBridge(config);
    await eventually(() => received(receiver).length >= 60, 20_000, '60 events');
    expect(await stopBridge(first)).toBe(0);
    const before = received(receiver).length;
    expect(before).toBeLessThan(RECORDS);

    const second = await startBridge(config);
    await eventually(() => new Set(received(receiver)).size >= RECORDS, 30_000, 'every event');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stopBridge(second)).toBe(0);
    const keys = received(receiver);
    expect(new Set(keys)).toEqual(new Set(keysOf(auditRecords(RECORDS))));
    expect(duplicates(keys)).toBe(0);
  }, 60_000);

  it('after SIGKILL nothing is lost, and what repeats is only what was delivered after the last committed checkpoint', async () => {
    const em = await emulator({ partitions: 4 });
    const position = new Map<string, { partition: string; sequenceNumber: number }>();
    em.append(auditRecords(RECORDS)).forEach((m, i) => position.set(`ev-${i}/ResponseComplete`, { partition: m.partitionId, sequenceNumber: m.sequenceNumber }));
    const receiver = await receiverSlowBy(20);
    const { dir, config } = await streaming(em, receiver);
    const first = await startBridge(config);
    await eventually(() => received(receiver).length >= 80, 20_000, '80 events');
    await stopBridge(first, 'SIGKILL');
    const deliveredBefore = new Set(received(receiver));
    const committed = (JSON.parse(await readFile(join(dir, 'checkpoints.json'), 'utf8')) as { sources: Record<string, { cursor: { partitions: Record<string, { sequenceNumber: number }> } }> }).sources['aks-stream']!.cursor.partitions;
    const afterCommit = [...deliveredBefore].filter((k) => position.get(k)!.sequenceNumber > (committed[position.get(k)!.partition]?.sequenceNumber ?? -1));
    const journaled = await journaledDedupeKeys(dir, 'aks-stream');

    const second = await startBridge(config);
    await eventually(() => new Set(received(receiver)).size >= RECORDS, 30_000, 'every event');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stopBridge(second)).toBe(0);
    const keys = received(receiver);
    expect(new Set(keys)).toEqual(new Set(keysOf(auditRecords(RECORDS))));
    // The README's bound: a restart resumes right after the committed positions, so what repeats
    // is what was delivered after them (the batches in flight, and those delivered while the last
    // checkpoint write was under way), less what the dedupe window had saved.
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
    expect(repeated.every((k) => afterCommit.includes(k))).toBe(true);
    // ... and of those, only what the journal had not yet recorded when the process died.
    expect(repeated.filter((k) => journaled.has(dedupeKey({ auditID: k.split('/')[0]!, stage: 'ResponseComplete' })))).toEqual([]);
    expect(duplicates(keys)).toBe(repeated.length);
    process.stdout.write(
      `aks-eventhubs SIGKILL: ${repeated.length} of ${RECORDS} events delivered twice; ${afterCommit.length} had been delivered after the last committed checkpoint, ${journaled.size} keys journaled (${deliveredBefore.size} before the kill)\n`,
    );
  }, 60_000);
});

describe('kube-audit-bridge with aks-eventhubs: replicas with a Blob checkpoint store', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  }, 30_000);
  afterAll(async () => {
    await azurite?.stop();
  });

  it('two bridge processes on one consumer group share the partitions; when one is killed the other takes its partitions over; nothing is lost', async () => {
    const em = await emulator({ partitions: 4 });
    const blob = await blobContainer(azurite);
    const receiver = await receiverSlowBy(5);
    let replicas = 0;
    const replica = async (): Promise<string> => {
      const dir = await tempDir();
      const url = `${receiver.url}?replica=${replicas++}`;
      return bridgeConfig(
        dir,
        {
          connectionStringFile: await connectionStringFile(em, dir),
          maxBatchSize: 5,
          maxInFlightBatches: 2,
          checkpointStore: { connectionStringFile: blob.connectionStringFile, containerName: blob.name },
          loadBalancing: { updateInterval: '250ms', ownershipExpiration: '3s' },
        },
        receiver,
        {},
        url,
      );
    };
    const a = await startBridge(await replica());
    const b = await startBridge(await replica());
    const owners = async (): Promise<Map<string, string[]>> => {
      const map = new Map<string, string[]>();
      for (const o of await blob.store.listOwnership(em.host, HUB, '$Default')) if (o.ownerId) map.set(o.ownerId, [...(map.get(o.ownerId) ?? []), o.partitionId]);
      return map;
    };
    await eventually(async () => [...(await owners()).values()].map((p) => p.length).sort().join() === '2,2', 30_000, 'two partitions each');
    // A claim is written before its reader attaches: let the moved partitions change hands.
    await new Promise((r) => setTimeout(r, 1500));

    let sent = 0;
    const send = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += 10) {
        em.append(auditRecords(10, sent));
        sent += 10;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await send(120);
    await eventually(() => new Set(received(receiver)).size >= 120, 30_000, 'the first 120');
    // Both replicas delivered (each posts to its own path). Nothing repeats while no partition moves;
    // a claim that lapses under load moves one, repeating at most its batches in flight (2 of 5).
    expect(new Set(receiver.requests.map((r) => r.path))).toEqual(new Set(['/ingest?replica=0', '/ingest?replica=1']));
    expect(duplicates(received(receiver))).toBeLessThanOrEqual(2 * 5);

    // One replica dies mid-stream; the other claims its partitions once its claims expire.
    const killedAt = received(receiver).length;
    const more = send(120);
    await eventually(() => received(receiver).length >= killedAt + 20, 20_000, 'deliveries after the first 120');
    await stopBridge(a, 'SIGKILL');
    await more;
    await eventually(() => new Set(received(receiver)).size >= 240, 40_000, 'all 240 events');
    await eventually(async () => [...(await owners()).values()].map((p) => p.length).join() === '4', 20_000, 'the survivor owns every partition');
    const keys = received(receiver);
    expect(new Set(keys)).toEqual(new Set(keysOf(auditRecords(240))));
    // What the killed replica had delivered without its checkpoint written is read again by the
    // survivor: per partition it owned (2), its batches in flight (2 of 5 messages).
    const repeated = duplicates(keys);
    expect(repeated).toBeLessThanOrEqual(2 * 2 * 5);
    process.stdout.write(`aks-eventhubs two replicas, one SIGKILLed: ${repeated} of 240 events delivered twice (bound 20)\n`);
    expect(await stopBridge(b)).toBe(0);
    const checkpoints = await blob.store.listCheckpoints(em.host, HUB, '$Default');
    expect(Object.fromEntries(checkpoints.map((c) => [c.partitionId, c.sequenceNumber]))).toEqual(Object.fromEntries(em.stats().partitions.map((p) => [p.id, p.lastSequenceNumber])));
  }, 90_000);
});
