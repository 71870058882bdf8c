// Helpers for the Event Hubs emulator tests: the sample records, a subscribe-and-collect loop
// around the real EventHubConsumerClient, and Azurite (Microsoft's Azure Storage emulator) as a
// child process on 127.0.0.1 for the Blob checkpoint store.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventHubConsumerClient, ReceivedEventData, SubscribeOptions, Subscription } from '@azure/event-hubs';
import { loadRecords, type DiagnosticRecord } from '../../../../src/sources/aks-eventhubs/emulator/index.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** The AKS sample records in the repository: 49 AzureDiagnostics rows turned back into records, and two raw records. */
export async function sampleRecords(): Promise<DiagnosticRecord[]> {
  return [
    ...(await loadRecords(join(REPO, 'samples/aks/azurediagnostics-rows.json'))),
    ...(await loadRecords(join(REPO, 'samples/aks/sysdig-aks-eventhub-single-record.json'))),
    ...(await loadRecords(join(REPO, 'samples/aks/elastic-kube-audit-diagnostic-record-2025.log'))),
  ];
}

/** Small synthetic records, each one unique by its n. */
export function syntheticRecords(count: number, from = 0): DiagnosticRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
    category: 'kube-audit',
    resourceId: `/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C${(from + i) % 3}`,
    properties: { log: JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: `id-${from + i}`, stage: 'ResponseComplete' }), stream: 'stdout', pod: 'kube-apiserver-0' },
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, from + i)).toISOString(),
  }));
}

export interface Received {
  partitionId: string;
  sequenceNumber: number;
  offset: string;
  enqueuedTimeUtc: Date;
  partitionKey: string | null | undefined;
  body: unknown;
}

export interface Collected {
  events: Received[];
  errors: Error[];
}

/** Fast retries so a test sees faults handled in milliseconds, not the SDK's default 30 s delays. */
export const FAST_RETRIES = { maxRetries: 6, retryDelayInMs: 20, maxRetryDelayInMs: 200 };

/**
 * Subscribes (to one partition or all) and collects events until `until` holds, then waits
 * `quietMs` more so anything delivered twice shows up, and closes the subscription.
 */
export async function collect(
  client: EventHubConsumerClient,
  options: {
    until: (events: readonly Received[]) => boolean;
    partitionId?: string;
    subscribe?: SubscribeOptions;
    quietMs?: number;
    timeoutMs?: number;
    onEvents?: (events: ReceivedEventData[], partitionId: string) => Promise<void> | void;
  },
): Promise<Collected> {
  const events: Received[] = [];
  const errors: Error[] = [];
  let subscription: Subscription | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`collect: ${events.length} events after ${options.timeoutMs ?? 15_000} ms; errors: ${errors.map((e) => e.message).join(' | ')}`));
    }, options.timeoutMs ?? 15_000);
    let finishing = false;
    const handlers = {
      processEvents: async (batch: ReceivedEventData[], context: { partitionId: string }) => {
        for (const e of batch) {
          events.push({
            partitionId: context.partitionId,
            sequenceNumber: e.sequenceNumber,
            offset: e.offset,
            enqueuedTimeUtc: e.enqueuedTimeUtc,
            partitionKey: e.partitionKey,
            body: e.body,
          });
        }
        await options.onEvents?.(batch, context.partitionId);
        if (!finishing && options.until(events)) {
          finishing = true;
          setTimeout(() => {
            clearTimeout(timer);
            resolve();
          }, options.quietMs ?? 300);
        }
      },
      processError: async (err: Error) => {
        errors.push(err);
      },
    };
    const subscribeOptions: SubscribeOptions = { maxBatchSize: 20, maxWaitTimeInSeconds: 0.2, ...options.subscribe };
    subscription =
      options.partitionId !== undefined
        ? client.subscribe(options.partitionId, handlers, subscribeOptions)
        : client.subscribe(handlers, subscribeOptions);
  });
  try {
    await done;
  } finally {
    await subscription?.close();
  }
  return { events, errors };
}

/** The records carried by received {"records": [...]} bodies, as JSON text. */
export function recordsOf(events: readonly Received[]): string[] {
  return events.flatMap((e) => {
    const body = e.body as { records?: unknown[] } | undefined;
    return Array.isArray(body?.records) ? body.records.map((r) => JSON.stringify(r)) : [];
  });
}

export function countRecords(events: readonly Received[]): number {
  return recordsOf(events).length;
}

export function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

// Azurite's published development account: the same name and key in every Azurite.
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  pid: number;
  port: number;
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  url: string;
  stop(): Promise<void>;
}

/**
 * Azurite's Blob service in memory on a free loopback port, telemetry off (it would otherwise
 * report to the internet). Run with node directly so the pid is Azurite's own.
 */
export async function startAzurite(): Promise<Azurite> {
  const main = join(REPO, 'node_modules/azurite/dist/src/blob/main.js');
  const cwd = await mkdtemp(join(tmpdir(), 'kab-azurite-'));
  const child = spawn(
    process.execPath,
    [main, '--inMemoryPersistence', '--blobHost', '127.0.0.1', '--blobPort', '0', '--disableTelemetry', '--skipApiVersionCheck'],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('azurite: no pid');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`azurite did not start within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited (${code}) before listening:\n${output}`));
    });
  }).catch(async (err: unknown) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await rm(cwd, { recursive: true, force: true });
    throw err;
  });
  return {
    pid,
    port,
    url: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    async stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
      if (!killed) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
      await rm(cwd, { recursive: true, force: true });
    },
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` holds or the time is up. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}
