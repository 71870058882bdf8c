import { readFileSync } from 'node:fs';
import { Duration, PubSub, type Message, type Subscription, type SubscriberOptions } from '@google-cloud/pubsub';
import { startPubsubEmulator, type RunningPubsubEmulator, type StartPubsubEmulatorOptions } from '../../../../src/sources/gke-pubsub/emulator/index.js';
import { gkeEntry } from '../../gke/helpers.js';

export const PROJECT = 'test-project';
export const SUBSCRIPTION_ID = 'kube-audit';
export const SUBSCRIPTION = `projects/${PROJECT}/subscriptions/${SUBSCRIPTION_ID}`;

/** The 24 GKE sample LogEntries (samples/gke/README.md gives their origin). */
export function sampleEntries(): Record<string, unknown>[] {
  return JSON.parse(readFileSync(new URL('../../../../samples/gke/entries.json', import.meta.url), 'utf8')) as Record<string, unknown>[];
}

/** n synthetic audit entries a second apart, ids e000..: all of one size. */
export function entries(n: number, prefix = 'e'): Record<string, unknown>[] {
  const t0 = Date.parse('2026-09-15T12:00:00Z');
  return Array.from({ length: n }, (_, i) => gkeEntry(`${prefix}${String(i).padStart(3, '0')}`, t0 + i * 1000));
}

/** Emulators and clients a test opened, closed after it whatever happened. */
export class Resources {
  private readonly closers: (() => Promise<unknown>)[] = [];

  async emulator(options: Partial<StartPubsubEmulatorOptions> = {}): Promise<RunningPubsubEmulator> {
    const emulator = await startPubsubEmulator({ subscription: SUBSCRIPTION, ...options });
    this.closers.push(() => emulator.close());
    return emulator;
  }

  /**
   * The official client pointed at the emulator: apiEndpoint host:port, and emulatorMode so it
   * uses plaintext and no credentials whatever the host looks like.
   */
  client(endpoint: string): PubSub {
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: endpoint, emulatorMode: true });
    this.closers.push(() => pubsub.close());
    return pubsub;
  }

  subscription(endpoint: string, options: SubscriberOptions = {}): Subscription {
    const subscription = this.client(endpoint).subscription(SUBSCRIPTION_ID, options);
    this.closers.push(() => subscription.close());
    return subscription;
  }

  async closeAll(): Promise<void> {
    // Subscriptions before their clients before the emulator: the reverse of opening.
    for (const close of this.closers.splice(0).reverse()) await close().catch(() => undefined);
  }
}

/** Lease lengths the client keeps to (and extends by) when a test wants deadlines in seconds. */
export function deadlines(seconds: number): Pick<SubscriberOptions, 'minAckDeadline' | 'maxAckDeadline'> {
  return { minAckDeadline: Duration.from({ seconds }), maxAckDeadline: Duration.from({ seconds }) };
}

export interface Received {
  message: Message;
  at: number;
}

export interface Consumer {
  received: Received[];
  /** What the subscription emitted as 'error'; a test that expects none checks it is empty. */
  errors: Error[];
}

/** Records every message a subscription hands over, and passes it to `handle` (default: ack). */
export function consume(subscription: Subscription, handle: (message: Message, consumer: Consumer) => void = (m) => m.ack()): Consumer {
  const consumer: Consumer = { received: [], errors: [] };
  subscription.on('message', (message: Message) => {
    consumer.received.push({ message, at: Date.now() });
    handle(message, consumer);
  });
  subscription.on('error', (err: Error) => consumer.errors.push(err));
  return consumer;
}

export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function ids(received: readonly Received[]): string[] {
  return received.map((r) => r.message.id);
}

/** How many times each message id came. */
export function tally(received: readonly Received[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of received) counts.set(r.message.id, (counts.get(r.message.id) ?? 0) + 1);
  return counts;
}
