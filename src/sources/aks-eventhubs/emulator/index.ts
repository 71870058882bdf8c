// An Azure Event Hubs namespace with one hub on 127.0.0.1, for the aks-eventhubs source's tests
// and `kube-audit-bridge emulator eventhubs`. README.md in this folder says what it serves.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { EmulatorCliOptions, EmulatorModule } from '../../../component/emulator.js';
import { parseEventHubsFaults, type EventHubsFaults } from './faults.js';
import { Hub, type AppendedMessage } from './hub.js';
import { parseRecordsText, type DiagnosticRecord } from './records.js';
import { EventHubsServer, type ReceiverInfo } from './server.js';

export { parseEventHubsFaults, type EventHubsFaults } from './faults.js';
export type { AppendedMessage } from './hub.js';
export { parseRecordsText, recordFromAzureDiagnosticsRow, type DiagnosticRecord } from './records.js';
export { createSasToken } from './sas.js';
export type { ReceiverInfo } from './server.js';

/** The key name a diagnostic setting's authorization rule commonly has; any name works. */
export const DEFAULT_KEY_NAME = 'RootManageSharedAccessKey';
export const DEFAULT_PARTITIONS = 4;
export const DEFAULT_CONSUMER_GROUP = '$Default';

export interface EventHubsEmulatorOptions {
  /** Default 0: any free port. */
  port?: number;
  /** A loopback address; default 127.0.0.1. */
  host?: string;
  /** The hub's name (an AKS diagnostic setting writes to insights-logs-kube-audit unless told otherwise). */
  hub: string;
  /** Number of partitions, ids "0".."K-1"; default 4. */
  partitions?: number;
  /** Diagnostic records to serve from the start (see records.ts for the shapes a file may have). */
  data?: readonly DiagnosticRecord[];
  /** A --faults spec or parsed faults. */
  faults?: string | EventHubsFaults;
  /** Consumer groups that exist; default ["$Default"]. */
  consumerGroups?: readonly string[];
  /** Records per {"records": [...]} message; default 1. */
  recordsPerMessage?: number;
  /** A dotted record path ("resourceId") whose value picks the partition; default round robin by message. */
  partitionKey?: string;
  /** The shared access key's name and value; default RootManageSharedAccessKey and a random key. */
  keyName?: string;
  key?: string;
  /** Clock for enqueued times and token expiry; default Date.now. */
  now?: () => number;
}

export interface EventHubsEmulatorStats {
  partitions: { id: string; events: number; lastSequenceNumber: number; lastOffset: string }[];
  /** Messages stored (data messages, injected damaged ones and produced events). */
  messages: number;
  /** Diagnostic records stored in data messages. */
  records: number;
  malformed: number;
  foreign: number;
  klog: number;
  /** Events sent by producers. */
  sent: number;
  /** Transfers to receivers, duplicates included. */
  deliveries: number;
  deliveredByPartition: Record<string, number>;
  duplicates: number;
  /** Links detached and connections closed or reset by faults. */
  detached: number;
  disconnected: number;
  resets: number;
  connections: { opened: number; open: number };
  tokens: { accepted: number; refused: number };
  managementRequests: number;
  receivers: { opened: number; open: number; refused: number; stolen: number };
}

export interface EventHubsEmulator {
  /** sb://127.0.0.1:PORT */
  endpoint: string;
  host: string;
  port: number;
  hub: string;
  keyName: string;
  key: string;
  /** For EventHubConsumerClient/EventHubProducerClient: Endpoint, key, EntityPath and UseDevelopmentEmulator=true. */
  connectionString: string;
  /** Adds records at run time; to one partition when given. Returns the messages stored. */
  append(records: readonly DiagnosticRecord[], partition?: string): AppendedMessage[];
  stats(): EventHubsEmulatorStats;
  /** The receivers attached now. */
  receivers(): ReceiverInfo[];
  /** Drops every TCP connection without an AMQP close. */
  resetConnections(): void;
  close(): Promise<void>;
}

export function connectionStringFor(endpoint: string, keyName: string, key: string, hub?: string): string {
  return [`Endpoint=${endpoint}/`, `SharedAccessKeyName=${keyName}`, `SharedAccessKey=${key}`, ...(hub ? [`EntityPath=${hub}`] : []), 'UseDevelopmentEmulator=true'].join(';');
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export async function startEventHubsEmulator(options: EventHubsEmulatorOptions): Promise<EventHubsEmulator> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new Error(`host ${host}: the emulator listens on loopback only`);
  if (!options.hub || /[/\s]/.test(options.hub)) throw new Error(`hub ${JSON.stringify(options.hub)}: expected an Event Hub name`);
  const faults = typeof options.faults === 'string' || options.faults === undefined ? parseEventHubsFaults(options.faults) : options.faults;
  const keyName = options.keyName ?? DEFAULT_KEY_NAME;
  // Event Hubs keys are 32 random bytes in base64; the emulator signs with the text as the SDK does.
  const key = options.key ?? randomBytes(32).toString('base64');
  const now = options.now ?? Date.now;
  const hub = new Hub({
    name: options.hub,
    partitionCount: options.partitions ?? DEFAULT_PARTITIONS,
    faults,
    now,
    ...(options.recordsPerMessage !== undefined ? { recordsPerMessage: options.recordsPerMessage } : {}),
    ...(options.partitionKey !== undefined ? { partitionKey: options.partitionKey } : {}),
  });
  if (options.data) hub.appendRecords(options.data);
  const consumerGroups = options.consumerGroups && options.consumerGroups.length > 0 ? options.consumerGroups : [DEFAULT_CONSUMER_GROUP];
  const server = new EventHubsServer({ hub, consumerGroups, keys: new Map([[keyName, key]]), faults, now });
  await server.listen(options.port ?? 0, host);
  const port = server.address.port;
  const endpoint = `sb://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    endpoint,
    host,
    port,
    hub: options.hub,
    keyName,
    key,
    connectionString: connectionStringFor(endpoint, keyName, key, options.hub),
    append: (records, partition) => hub.appendRecords(records, partition),
    stats: () => ({
      partitions: hub.partitions.map((p) => ({ id: p.id, events: p.events.length, lastSequenceNumber: p.last?.sequenceNumber ?? -1, lastOffset: p.last?.offset ?? '-1' })),
      ...hub.counters,
      deliveries: server.counters.deliveries,
      deliveredByPartition: { ...server.counters.deliveredByPartition },
      duplicates: server.counters.duplicates,
      detached: server.counters.detached,
      disconnected: server.counters.disconnected,
      resets: server.counters.resets,
      connections: { opened: server.counters.connectionsOpened, open: server.connectionCount },
      tokens: { accepted: server.counters.tokensAccepted, refused: server.counters.tokensRefused },
      managementRequests: server.counters.managementRequests,
      receivers: {
        opened: server.counters.receiversOpened,
        open: server.receivers().length,
        refused: server.counters.receiversRefused,
        stolen: server.counters.receiversStolen,
      },
    }),
    receivers: () => server.receivers(),
    resetConnections: () => server.resetConnections(),
    close: () => server.close(),
  };
}

/** Diagnostic records from a file: JSON (an array, one record, {"records": [...]}, a row file) or JSON lines. */
export async function loadRecords(file: string): Promise<DiagnosticRecord[]> {
  const text = await readFile(file, 'utf8');
  try {
    return parseRecordsText(text);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
}

export interface EventHubsEmulatorCommandOptions {
  port: number;
  /** A file of diagnostic records. */
  data: string;
  hub: string;
  partitions?: number;
  faults?: string;
  consumerGroups?: readonly string[];
  recordsPerMessage?: number;
  partitionKey?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Set for a fixed key (scripts); default a random one, printed in the connection string. */
  key?: string;
}

/**
 * `kube-audit-bridge emulator eventhubs`: serves until SIGTERM or SIGINT (or `signal`), after
 * printing {"endpoint", "connectionString", ...} as the first line on stdout.
 */
export async function runEventHubsEmulatorCommand(options: EventHubsEmulatorCommandOptions, signal?: AbortSignal): Promise<void> {
  const faults = parseEventHubsFaults(options.faults);
  const data = await loadRecords(options.data);
  const emulator = await startEventHubsEmulator({
    port: options.port,
    hub: options.hub,
    data,
    faults,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
    ...(options.consumerGroups !== undefined ? { consumerGroups: options.consumerGroups } : {}),
    ...(options.recordsPerMessage !== undefined ? { recordsPerMessage: options.recordsPerMessage } : {}),
    ...(options.partitionKey !== undefined ? { partitionKey: options.partitionKey } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
  });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  try {
    const stats = emulator.stats();
    process.stdout.write(
      `${JSON.stringify({
        endpoint: emulator.endpoint,
        connectionString: emulator.connectionString,
        hub: emulator.hub,
        partitions: stats.partitions.length,
        records: stats.records,
        messages: stats.messages,
      })}\n`,
    );
    if (!stop.signal.aborted && !signal?.aborted) {
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    signal?.removeEventListener('abort', onSignal);
    await emulator.close();
  }
}

/**
 * The shape src/component/emulator.ts registers emulators in, for `kube-audit-bridge emulator
 * eventhubs`; the CLI's options need `hub` (and may carry `partitions`) besides the common ones.
 */
export const eventHubsEmulatorModule: EmulatorModule = {
  async runFromCli(options: EmulatorCliOptions & { hub?: string; partitions?: number | string }, signal: AbortSignal): Promise<void> {
    if (!options.hub) throw new Error('--hub: the Event Hub to serve is required (AKS writes to insights-logs-kube-audit by default)');
    const partitions = options.partitions === undefined ? undefined : Number(options.partitions);
    if (partitions !== undefined && !Number.isInteger(partitions)) throw new Error(`--partitions ${String(options.partitions)}: expected a whole number`);
    await runEventHubsEmulatorCommand(
      {
        port: options.port,
        data: options.data,
        hub: options.hub,
        ...(partitions !== undefined ? { partitions } : {}),
        ...(options.faults !== undefined ? { faults: options.faults } : {}),
      },
      signal,
    );
  },
};
