import { stringOption, type EmulatorModule } from '../../../component/emulator.js';
import { parsePubsubFaults, type PubsubFaults } from './faults.js';
import { loadLogEntries } from './messages.js';
import { PubsubEmulator, type MessageInfo, type PubsubStats } from './server.js';

export { PubsubEmulator, type MessageInfo, type PubsubEmulatorOptions, type PubsubStats } from './server.js';
export { parsePubsubFaults, type PubsubFaults } from './faults.js';
export { canonicalJson, loadLogEntries, sinkMessage, TIMESTAMP_ATTRIBUTE } from './messages.js';

export interface StartPubsubEmulatorOptions {
  /** 0 or absent: any free port. */
  port?: number;
  /** A loopback address; default 127.0.0.1. */
  host?: string;
  subscription: string;
  topic?: string;
  /** LogEntries, published as a Log Router sink would before anyone subscribes. */
  data?: readonly unknown[];
  /** A fault spec ("redeliver-every=5,slow-ms=50") or its parsed form. */
  faults?: string | PubsubFaults;
  ackDeadlineSeconds?: number;
  maxDeliveryAttempts?: number;
}

export interface RunningPubsubEmulator {
  /** host:port for the client's apiEndpoint. */
  endpoint: string;
  subscription: string;
  topic: string;
  /** Publishes LogEntries as the sink would; returns the message ids. */
  publish(entries: readonly unknown[]): string[];
  stats(): PubsubStats;
  snapshot(): MessageInfo[];
  deadLetters(): MessageInfo[];
  close(): Promise<void>;
  emulator: PubsubEmulator;
}

export async function startPubsubEmulator(options: StartPubsubEmulatorOptions): Promise<RunningPubsubEmulator> {
  const emulator = await PubsubEmulator.start(options);
  return {
    endpoint: emulator.endpoint,
    subscription: emulator.subscription,
    topic: emulator.topic,
    publish: (entries) => emulator.publish(entries),
    stats: () => emulator.stats(),
    snapshot: () => emulator.snapshot(),
    deadLetters: () => emulator.deadLetters(),
    close: () => emulator.close(),
    emulator,
  };
}

export interface PubsubEmulatorCommandOptions {
  port: number;
  /** A file of LogEntries: a JSON array (gcloud's output), JSON lines, or one entry. */
  data: string;
  subscription: string;
  topic?: string;
  faults?: string;
  ackDeadlineSeconds?: number;
}

/**
 * `kube-audit-bridge emulator pubsub`: serves until the signal aborts (without one, until SIGINT
 * or SIGTERM). Prints one JSON line on stdout when ready, endpoint first. Throws on a bad data
 * file, fault spec, subscription name or a busy port: the caller prints the message.
 */
export async function runPubsubEmulatorCommand(options: PubsubEmulatorCommandOptions, signal?: AbortSignal): Promise<void> {
  const faults = parsePubsubFaults(options.faults);
  const data = await loadLogEntries(options.data);
  const emulator = await PubsubEmulator.start({
    port: options.port,
    subscription: options.subscription,
    data,
    faults,
    ...(options.topic === undefined ? {} : { topic: options.topic }),
    ...(options.ackDeadlineSeconds === undefined ? {} : { ackDeadlineSeconds: options.ackDeadlineSeconds }),
  });
  process.stdout.write(`${JSON.stringify({ endpoint: emulator.endpoint, subscription: emulator.subscription, topic: emulator.topic, messages: data.length })}\n`);
  await new Promise<void>((resolve) => {
    if (signal) {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await emulator.close();
}

/** `kube-audit-bridge emulator pubsub`: the CLI's options (src/cli/emulator.ts) to runPubsubEmulatorCommand's. */
export const pubsubEmulatorModule: EmulatorModule = {
  runFromCli(options, signal) {
    const subscription = stringOption(options, 'subscription');
    if (subscription === undefined) throw new Error('--subscription projects/P/subscriptions/S is required');
    return runPubsubEmulatorCommand(
      { port: options.port, data: options.data, subscription, ...(options.faults === undefined ? {} : { faults: options.faults }) },
      signal,
    );
  },
};
