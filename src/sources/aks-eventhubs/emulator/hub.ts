// The event log of one Event Hub: partitions of events with sequence numbers, byte offsets and
// enqueued times, and how a receiver's starting position (the selector filter the SDK sends at
// attach, as @azure/event-hubs' eventPosition module writes it) maps to an index in it.
import { createHash } from 'node:crypto';
import { everyNth, type EventHubsFaults } from './faults.js';
import {
  foreignRecord,
  keyOf,
  klogRecord,
  malformedBody,
  messageBody,
  type DiagnosticRecord,
} from './records.js';

/** What a stored event carries; `data` bodies go out as one AMQP data section, `value` as amqp-value. */
export interface StoredEvent {
  sequenceNumber: number;
  /** Byte position of the event in its partition, as decimal text (the service's offsets are strings). */
  offset: string;
  enqueuedTimeMs: number;
  body: { type: 'data'; bytes: Buffer } | { type: 'value'; value: unknown };
  partitionKey?: string;
  applicationProperties?: Record<string, unknown>;
  /** Message properties (message_id, content_type, ...) as a producer set them. */
  properties?: Record<string, unknown>;
  /** records: a data message; the others are injected by faults; sent: from a producer. */
  kind: 'records' | 'malformed' | 'foreign' | 'klog' | 'sent';
  /** The diagnostic records carried (zero for malformed bodies). */
  recordCount: number;
}

export interface AppendedMessage {
  partitionId: string;
  sequenceNumber: number;
  offset: string;
  kind: StoredEvent['kind'];
  recordCount: number;
}

export class Partition {
  readonly events: StoredEvent[] = [];
  private nextOffset = 0;
  private lastEnqueuedMs = 0;
  constructor(readonly id: string) {}

  add(event: Omit<StoredEvent, 'sequenceNumber' | 'offset' | 'enqueuedTimeMs'>, nowMs: number): StoredEvent {
    // Enqueued times strictly increase within a partition so an enqueuedOn position is unambiguous.
    const enqueuedTimeMs = Math.max(nowMs, this.lastEnqueuedMs + 1);
    const stored: StoredEvent = { ...event, sequenceNumber: this.events.length, offset: String(this.nextOffset), enqueuedTimeMs };
    const size = event.body.type === 'data' ? event.body.bytes.length : Buffer.byteLength(JSON.stringify(event.body.value) ?? '');
    // Room for the AMQP framing the service stores with each event, so offsets are not plain byte sums of bodies.
    this.nextOffset += size + 64;
    this.lastEnqueuedMs = enqueuedTimeMs;
    this.events.push(stored);
    return stored;
  }

  get last(): StoredEvent | undefined {
    return this.events[this.events.length - 1];
  }
}

export class PositionError extends Error {
  constructor(
    readonly condition: string,
    message: string,
  ) {
    super(message);
  }
}

const FILTER = /^\s*amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>|=)\s*'([^']*)'\s*$/i;

/**
 * The index of the first event a receiver with this selector gets. No filter: the beginning of
 * the partition. Offset "-1" is the beginning and "@latest" the end; a sequence number past the
 * last one + 1 is refused as the service does (com.microsoft:argument-out-of-range).
 */
export function startIndex(partition: Partition, selector: string | undefined): number {
  if (selector === undefined) return 0;
  const m = FILTER.exec(selector);
  if (!m) throw new PositionError('com.microsoft:argument-error', `The selector filter ${JSON.stringify(selector)} is not supported.`);
  const field = m[1]!.toLowerCase();
  const op = m[2]!;
  const value = m[3]!;
  const events = partition.events;
  const inclusive = op !== '>';
  if (field === 'x-opt-offset') {
    if (value === '@latest') return events.length;
    if (!/^-?\d+$/.test(value)) throw new PositionError('com.microsoft:argument-error', `The offset '${value}' is not valid.`);
    const offset = BigInt(value);
    const i = events.findIndex((e) => (inclusive ? BigInt(e.offset) >= offset : BigInt(e.offset) > offset));
    return i === -1 ? events.length : i;
  }
  if (field === 'x-opt-sequence-number') {
    if (!/^-?\d+$/.test(value)) throw new PositionError('com.microsoft:argument-error', `The sequence number '${value}' is not valid.`);
    const n = Number(value);
    const index = inclusive ? n : n + 1;
    if (index > events.length) {
      throw new PositionError(
        'com.microsoft:argument-out-of-range',
        `The supplied sequence number '${value}' is invalid. The last sequence number in the system is '${events.length - 1}'`,
      );
    }
    return Math.max(0, index);
  }
  if (!/^-?\d+$/.test(value)) throw new PositionError('com.microsoft:argument-error', `The enqueued time '${value}' is not valid.`);
  const t = Number(value);
  const i = events.findIndex((e) => (inclusive ? e.enqueuedTimeMs >= t : e.enqueuedTimeMs > t));
  return i === -1 ? events.length : i;
}

export interface HubOptions {
  name: string;
  partitionCount: number;
  /** Records per message (default 1). */
  recordsPerMessage?: number;
  /** A dotted record path ("resourceId") whose value picks the partition and becomes x-opt-partition-key; default round robin. */
  partitionKey?: string;
  faults?: EventHubsFaults;
  now?: () => number;
}

export interface HubCounters {
  messages: number;
  records: number;
  malformed: number;
  foreign: number;
  klog: number;
  sent: number;
}

export class Hub {
  readonly partitions: Partition[];
  readonly createdAtMs: number;
  readonly counters: HubCounters = { messages: 0, records: 0, malformed: 0, foreign: 0, klog: 0, sent: 0 };
  private roundRobin = 0;
  private dataMessages = 0;
  private readonly listeners = new Set<(partitionId: string) => void>();

  constructor(private readonly options: HubOptions) {
    if (!Number.isInteger(options.partitionCount) || options.partitionCount < 1 || options.partitionCount > 1024) {
      throw new Error(`partitions: expected a whole number from 1 to 1024, got ${options.partitionCount}`);
    }
    const per = options.recordsPerMessage ?? 1;
    if (!Number.isInteger(per) || per < 1) throw new Error(`recordsPerMessage: expected a whole number of at least 1, got ${per}`);
    this.partitions = Array.from({ length: options.partitionCount }, (_, i) => new Partition(String(i)));
    this.createdAtMs = this.now();
  }

  get name(): string {
    return this.options.name;
  }

  partition(id: string): Partition | undefined {
    return this.partitions.find((p) => p.id === id);
  }

  /** Called with a partition id whenever events are added to it. */
  onAppend(listener: (partitionId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Adds records as {"records": [...]} messages: to `partitionId` when given, else by the
   * partition key when one is configured, else round robin, one message at a time.
   */
  appendRecords(records: readonly DiagnosticRecord[], partitionId?: string): AppendedMessage[] {
    if (partitionId !== undefined && !this.partition(partitionId)) {
      throw new Error(`no partition ${JSON.stringify(partitionId)}; the hub has ${this.partitions.map((p) => p.id).join(', ')}`);
    }
    const per = this.options.recordsPerMessage ?? 1;
    const groups: { partition: Partition; key?: string; records: DiagnosticRecord[] }[] = [];
    if (partitionId === undefined && this.options.partitionKey !== undefined) {
      // Records of one key stay in order in one partition; messages group consecutive records of a key.
      const open = new Map<string, { partition: Partition; key?: string; records: DiagnosticRecord[] }>();
      for (const record of records) {
        const key = keyOf(record, this.options.partitionKey) ?? '';
        let group = open.get(key);
        if (!group || group.records.length >= per) {
          group = { partition: this.partitionForKey(key), key, records: [] };
          open.set(key, group);
          groups.push(group);
        }
        group.records.push(record);
      }
    } else {
      for (let i = 0; i < records.length; i += per) {
        const partition = partitionId !== undefined ? this.partition(partitionId)! : this.partitions[this.roundRobin++ % this.partitions.length]!;
        groups.push({ partition, records: records.slice(i, i + per) });
      }
    }
    const appended: AppendedMessage[] = [];
    const touched = new Set<string>();
    for (const group of groups) {
      const n = ++this.dataMessages;
      const faults = this.options.faults ?? {};
      const key = group.key !== undefined && group.key !== '' ? { partitionKey: group.key } : {};
      if (everyNth(faults.malformedEvery, n)) {
        appended.push(this.store(group.partition, { kind: 'malformed', recordCount: 0, body: { type: 'data', bytes: malformedBody(group.records) }, ...key }));
      }
      if (everyNth(faults.foreignEvery, n)) {
        appended.push(this.store(group.partition, { kind: 'foreign', recordCount: 1, body: { type: 'data', bytes: messageBody([foreignRecord(group.records[0])]) }, ...key }));
      }
      if (everyNth(faults.klogEvery, n)) {
        appended.push(this.store(group.partition, { kind: 'klog', recordCount: 1, body: { type: 'data', bytes: messageBody([klogRecord(group.records[0])]) }, ...key }));
      }
      appended.push(
        this.store(group.partition, { kind: 'records', recordCount: group.records.length, body: { type: 'data', bytes: messageBody(group.records) }, ...key }),
      );
      touched.add(group.partition.id);
    }
    for (const id of touched) for (const listener of this.listeners) listener(id);
    return appended;
  }

  /** Adds one event a producer sent. */
  appendSent(event: Omit<StoredEvent, 'sequenceNumber' | 'offset' | 'enqueuedTimeMs' | 'kind' | 'recordCount'>, partitionId?: string): AppendedMessage {
    const partition =
      partitionId !== undefined
        ? this.partition(partitionId)
        : event.partitionKey !== undefined
          ? this.partitionForKey(event.partitionKey)
          : this.partitions[this.roundRobin++ % this.partitions.length];
    if (!partition) throw new Error(`no partition ${JSON.stringify(partitionId)}`);
    const appended = this.store(partition, { ...event, kind: 'sent', recordCount: 0 });
    for (const listener of this.listeners) listener(partition.id);
    return appended;
  }

  private store(partition: Partition, event: Omit<StoredEvent, 'sequenceNumber' | 'offset' | 'enqueuedTimeMs'>): AppendedMessage {
    const stored = partition.add(event, this.now());
    this.counters.messages++;
    this.counters.records += event.kind === 'records' ? event.recordCount : 0;
    if (event.kind !== 'records') this.counters[event.kind]++;
    return { partitionId: partition.id, sequenceNumber: stored.sequenceNumber, offset: stored.offset, kind: stored.kind, recordCount: stored.recordCount };
  }

  private partitionForKey(key: string): Partition {
    // Any stable hash spreads keys; the service's own hash is not documented, so no client may rely on it.
    const h = createHash('sha256').update(key).digest().readUInt32BE(0);
    return this.partitions[h % this.partitions.length]!;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
