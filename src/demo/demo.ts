import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Bridge } from '../bridge.js';
import { configSchema } from '../config/schema.js';
import { formatMicroTime, type AuditEvent } from '../normalize/event.js';
import type { Logger } from '../telemetry/logger.js';
import { abortReason } from '../util/clock.js';
import { AuditWebhookClient } from './apiserver-client.js';
import { loadSampleEvents } from './samples.js';

export interface DemoOptions {
  /** Stop after this long; undefined runs until the signal aborts. */
  durationMs?: number;
  port?: number;
  /** Pause between replays of the sample set. */
  replayIntervalMs?: number;
  logger: Logger;
  stdout?: Writable;
  signal?: AbortSignal;
}

export interface DemoSummary {
  posted: number;
  replays: number;
  url: string;
}

/**
 * The bridge end to end on an embedded default: an inbound webhook source fed by a replayer that
 * posts the sample audit events as a kube-apiserver does, delivered to the stdout sink. Each
 * replay gives the events fresh auditIDs and timestamps, as new requests would have.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { logger } = options;
  const workDir = await mkdtemp(join(tmpdir(), 'kube-audit-bridge-demo-'));
  const config = configSchema.parse({
    sources: [{ name: 'demo-apiserver', type: 'webhook', cluster: 'demo' }],
    sinks: [{ name: 'stdout', type: 'stdout' }],
    checkpoint: { path: join(workDir, 'checkpoints.json') },
    deadLetter: { path: join(workDir, 'dead-letter.jsonl') },
    server: { host: '127.0.0.1', port: options.port ?? 0 },
  });
  const bridge = await Bridge.create(config, { logger, stdout: options.stdout });
  const address = await bridge.start();
  const base = `http://127.0.0.1:${address.port}`;
  logger.info({ webhook: `${base}/audit/demo-apiserver`, metrics: `${base}/metrics` }, 'demo bridge running');

  const samples = await loadSampleEvents();
  const client = new AuditWebhookClient({ url: `${base}/audit/demo-apiserver`, initialBackoffMs: 500 });
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(abortReason(options.signal!));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.durationMs !== undefined ? setTimeout(() => stop.abort(), options.durationMs) : undefined;

  const summary: DemoSummary = { posted: 0, replays: 0, url: base };
  try {
    while (!stop.signal.aborted) {
      const events = summary.replays === 0 ? samples : freshCopies(samples, Date.now());
      const result = await client.post(events);
      summary.posted += result.delivered;
      summary.replays++;
      logger.info({ replay: summary.replays, delivered: result.delivered, dropped: result.dropped }, 'replayed sample events');
      await sleepUnlessAborted(options.replayIntervalMs ?? 5000, stop.signal);
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await bridge.stop('demo finished');
    await rm(workDir, { recursive: true, force: true });
  }
  return summary;
}

/** New requests: new auditIDs, timestamps moved to now with the original spacing kept. */
function freshCopies(events: readonly AuditEvent[], nowMs: number): AuditEvent[] {
  const ids = new Map<string, string>();
  return events.map((e, i) => {
    const t = formatMicroTime(BigInt(nowMs + i) * 1000n);
    if (!ids.has(e.auditID)) ids.set(e.auditID, randomUUID());
    return { ...e, auditID: ids.get(e.auditID)!, requestReceivedTimestamp: t, stageTimestamp: t };
  });
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
