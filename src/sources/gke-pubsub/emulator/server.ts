// A local Pub/Sub for one subscription: the google.pubsub.v1.Subscriber calls a streaming
// subscriber makes (StreamingPull, Acknowledge, ModifyAckDeadline; also Pull and GetSubscription)
// and Publisher.Publish, over plaintext gRPC on loopback, with the service's lease semantics:
// per-message ack deadlines, redelivery with a new ack id after expiry or a nack, per-stream flow
// control, and streams of one subscription sharing its messages.

import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { everyNth, parsePubsubFaults, type PubsubFaults } from './faults.js';
import { foreignMessage, malformedMessage, sinkMessage, type SinkMessage } from './messages.js';

export interface PubsubEmulatorOptions {
  /** 0 (the default): any free port. */
  port?: number;
  /** A loopback address; default 127.0.0.1. */
  host?: string;
  /** projects/P/subscriptions/S: the one subscription served. */
  subscription: string;
  /** The subscription's topic, which Publish takes; default projects/P/topics/S. */
  topic?: string;
  /** LogEntries (JSON objects) published before the first subscriber connects. */
  data?: readonly unknown[];
  faults?: PubsubFaults | string;
  /** The subscription's ack deadline, for Pull and what GetSubscription says; default 10. */
  ackDeadlineSeconds?: number;
  /**
   * A dead-letter policy's max_delivery_attempts: received messages then carry delivery_attempt
   * (the service fills it only under such a policy) and a message not acked after that many
   * deliveries leaves the subscription (see deadLetters()).
   */
  maxDeliveryAttempts?: number;
}

export interface PubsubStats {
  /** Messages published (data file, publish(), Publish calls). */
  published: number;
  /** Deliveries, first ones and redeliveries. */
  delivered: number;
  redelivered: number;
  /** Messages acknowledged for good. */
  acked: number;
  /** Leased now: delivered, not yet acked, nacked or expired. */
  outstanding: number;
  /** Waiting for a stream (or Pull) to take them. */
  ready: number;
  nacked: number;
  /** Leases that ran out. */
  expired: number;
  /** Acks and modacks whose ack id was no longer current (after expiry, nack or ack): ignored. */
  staleAcks: number;
  /** Deadline extensions the ignore-modacks fault swallowed. */
  ignoredModacks: number;
  deadLettered: number;
  /** StreamingPull streams open now, and opened in all. */
  streams: number;
  streamsOpened: number;
  /** Streams the drop faults ended with UNAVAILABLE. */
  dropped: number;
  /** RPCs received, by method name. */
  calls: Record<string, number>;
}

export interface MessageInfo {
  messageId: string;
  /** 1-based publication order. */
  seq: number;
  state: 'ready' | 'leased' | 'acked' | 'dead-lettered';
  /** Deliveries so far. */
  attempts: number;
  data: Buffer;
  attributes: Record<string, string>;
}

interface Timestamp {
  seconds: string;
  nanos: number;
}

interface Message {
  seq: number;
  id: string;
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
  publishTime: Timestamp;
  state: MessageInfo['state'];
  attempts: number;
  /** The redeliver fault: comes back once after its first ack. */
  redeliverAfterAck: boolean;
  lease: Lease | undefined;
}

interface Lease {
  ackId: string;
  stream: Stream | undefined;
  timer: NodeJS.Timeout;
  /** Epoch ms of the delivery: the deadline-ms fault counts from it, whatever modacks come. */
  leasedAt: number;
}

interface Stream {
  id: number;
  call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>;
  open: boolean;
  ackDeadlineSeconds: number;
  maxMessages: number;
  maxBytes: number;
  outstanding: number;
  outstandingBytes: number;
  /** Messages sent on this stream, for the drop-every fault. */
  sent: number;
  /** The slow fault: no message before this time (epoch ms). */
  nextSendAt: number;
  timers: NodeJS.Timeout[];
}

type Request = Record<string, unknown>;

const MAX_ACK_DEADLINE_SECONDS = 600;
/** The service's response size is bounded too; this keeps one response to a sane size. */
const MAX_MESSAGES_PER_RESPONSE = 1000;
const RETENTION_SECONDS = 7 * 24 * 3600;

function protoDirs(): string[] {
  const require = createRequire(import.meta.url);
  const pubsubPackage = require.resolve('@google-cloud/pubsub/package.json');
  // The client's own google-gax holds the google/api and google/protobuf imports pubsub.proto needs.
  const gaxMain = createRequire(pubsubPackage).resolve('google-gax');
  const gax = gaxMain.slice(0, gaxMain.lastIndexOf(`${sep}build${sep}`));
  return [join(dirname(pubsubPackage), 'build/protos'), join(gax, 'build/protos')];
}

interface Services {
  subscriber: grpc.ServiceDefinition;
  publisher: grpc.ServiceDefinition;
}

let services: Services | undefined;
function pubsubServices(): Services {
  if (!services) {
    const definition = protoLoader.loadSync('google/pubsub/v1/pubsub.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: protoDirs(),
    });
    const v1 = (grpc.loadPackageDefinition(definition) as unknown as {
      google: { pubsub: { v1: { Subscriber: { service: grpc.ServiceDefinition }; Publisher: { service: grpc.ServiceDefinition } } } };
    }).google.pubsub.v1;
    services = { subscriber: v1.Subscriber.service, publisher: v1.Publisher.service };
  }
  return services;
}

function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function nowTimestamp(): Timestamp {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function numberArray(value: unknown): number[] {
  return Array.isArray(value) ? value.map((v) => Number(v)) : [];
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : 0;
}

/** A FIFO that does not shift arrays: the ready queue can hold a benchmark's worth of messages. */
class Queue<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class PubsubEmulator {
  readonly subscription: string;
  readonly topic: string;
  private readonly server = new grpc.Server();
  private readonly faults: PubsubFaults;
  private readonly ackDeadlineSeconds: number;
  private readonly maxDeliveryAttempts: number | undefined;
  private readonly host: string;
  private port = 0;
  private readonly messages: Message[] = [];
  private readonly ready = new Queue<Message>();
  private readonly leases = new Map<string, Message>();
  private readonly streams: Stream[] = [];
  /** Where the next pump starts among the streams, so they take turns. */
  private turn = 0;
  private pumpScheduled = false;
  private pumpTimer: NodeJS.Timeout | undefined;
  private leaseCounter = 0;
  private streamCounter = 0;
  private closed = false;
  private readonly counters = {
    delivered: 0,
    redelivered: 0,
    acked: 0,
    nacked: 0,
    expired: 0,
    staleAcks: 0,
    ignoredModacks: 0,
    deadLettered: 0,
    streamsOpened: 0,
    dropped: 0,
  };
  private readonly calls: Record<string, number> = {};

  private constructor(options: PubsubEmulatorOptions) {
    const m = /^projects\/([^/]+)\/subscriptions\/([^/]+)$/.exec(options.subscription);
    if (!m) throw new Error(`subscription ${JSON.stringify(options.subscription)}: expected projects/P/subscriptions/S`);
    this.subscription = options.subscription;
    this.topic = options.topic ?? `projects/${m[1]}/topics/${m[2]}`;
    if (!/^projects\/[^/]+\/topics\/[^/]+$/.test(this.topic)) throw new Error(`topic ${JSON.stringify(this.topic)}: expected projects/P/topics/T`);
    this.host = options.host ?? '127.0.0.1';
    // Tests and the CLI must never listen beyond this machine.
    if (!isLoopbackHost(this.host)) throw new Error(`host ${JSON.stringify(this.host)}: the emulator listens on loopback only`);
    this.faults = typeof options.faults === 'string' ? parsePubsubFaults(options.faults) : (options.faults ?? {});
    this.ackDeadlineSeconds = options.ackDeadlineSeconds ?? 10;
    if (!Number.isInteger(this.ackDeadlineSeconds) || this.ackDeadlineSeconds < 1 || this.ackDeadlineSeconds > MAX_ACK_DEADLINE_SECONDS) {
      throw new Error(`ackDeadlineSeconds ${this.ackDeadlineSeconds}: expected 1 to ${MAX_ACK_DEADLINE_SECONDS}`);
    }
    if (options.maxDeliveryAttempts !== undefined && (!Number.isInteger(options.maxDeliveryAttempts) || options.maxDeliveryAttempts < 1)) {
      throw new Error(`maxDeliveryAttempts ${options.maxDeliveryAttempts}: expected a whole number from 1`);
    }
    this.maxDeliveryAttempts = options.maxDeliveryAttempts;
  }

  static async start(options: PubsubEmulatorOptions): Promise<PubsubEmulator> {
    const emulator = new PubsubEmulator(options);
    if (options.data) emulator.publish(options.data);
    const { subscriber, publisher } = pubsubServices();
    // Methods not listed here answer UNIMPLEMENTED (grpc-js does that for missing handlers).
    emulator.server.addService(subscriber, {
      StreamingPull: (call: grpc.ServerDuplexStream<Request, unknown>) => emulator.streamingPull(call),
      Acknowledge: emulator.unary('Acknowledge', (r) => emulator.acknowledge(r)),
      ModifyAckDeadline: emulator.unary('ModifyAckDeadline', (r) => emulator.modifyAckDeadline(r)),
      Pull: emulator.unary('Pull', (r) => emulator.pull(r)),
      GetSubscription: emulator.unary('GetSubscription', (r) => emulator.getSubscription(r)),
    });
    emulator.server.addService(publisher, {
      Publish: emulator.unary('Publish', (r) => emulator.publishCall(r)),
    });
    emulator.port = await new Promise<number>((resolve, reject) =>
      emulator.server.bindAsync(`${emulator.host.includes(':') ? `[${emulator.host}]` : emulator.host}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    return emulator;
  }

  /** host:port, as the client's apiEndpoint takes it. */
  get endpoint(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Publishes LogEntries as a Log Router sink would; returns their message ids. */
  publish(entries: readonly unknown[]): string[] {
    return entries.map((entry) => {
      const seq = this.messages.length + 1;
      const message = everyNth(this.faults.malformedEvery, seq)
        ? malformedMessage(entry)
        : everyNth(this.faults.foreignEvery, seq)
          ? foreignMessage(entry, seq)
          : sinkMessage(entry);
      return this.add(message, '');
    });
  }

  stats(): PubsubStats {
    return {
      published: this.messages.length,
      ...this.counters,
      outstanding: this.leases.size,
      ready: this.ready.length,
      streams: this.streams.length,
      calls: { ...this.calls },
    };
  }

  /** Every message with its state, in publication order. */
  snapshot(): MessageInfo[] {
    return this.messages.map((m) => ({ messageId: m.id, seq: m.seq, state: m.state, attempts: m.attempts, data: m.data, attributes: m.attributes }));
  }

  /** Messages that left the subscription after maxDeliveryAttempts deliveries. */
  deadLetters(): MessageInfo[] {
    return this.snapshot().filter((m) => m.state === 'dead-lettered');
  }

  /** Ends every stream with UNAVAILABLE, as a restarting service does, and stops listening. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.streams]) this.endStream(stream, grpc.status.UNAVAILABLE, 'The service was unable to fulfill your request. Please try again. [code=8a75]');
    for (const message of this.messages) if (message.lease) clearTimeout(message.lease.timer);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    // Streams are ended above; tryShutdown would still wait on calls mid-flight, so force it after a moment.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 200);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  // ---- messages and leases ----

  private add(message: SinkMessage, orderingKey: string): string {
    const seq = this.messages.length + 1;
    const stored: Message = {
      seq,
      id: String(seq),
      data: message.data,
      attributes: message.attributes,
      orderingKey,
      publishTime: nowTimestamp(),
      state: 'ready',
      attempts: 0,
      redeliverAfterAck: everyNth(this.faults.redeliverEvery, seq),
      lease: undefined,
    };
    this.messages.push(stored);
    this.ready.push(stored);
    this.schedulePump();
    return stored.id;
  }

  /** How long a lease set now for `seconds` lasts: with deadline-ms, never past that long after its delivery. */
  private leaseMs(seconds: number, leasedAt: number): number {
    const ms = seconds * 1000;
    const cap = this.faults.deadlineMs;
    return cap !== undefined && cap > 0 ? Math.max(0, Math.min(ms, leasedAt + cap - Date.now())) : ms;
  }

  private lease(message: Message, stream: Stream | undefined, seconds: number): Record<string, unknown> {
    message.attempts++;
    message.state = 'leased';
    // Unique per delivery, so an ack for an earlier delivery can be told apart and ignored.
    const ackId = Buffer.from(`${this.subscription}#${message.id}#${++this.leaseCounter}`).toString('base64url');
    const leasedAt = Date.now();
    message.lease = { ackId, stream, leasedAt, timer: this.deadlineTimer(message, seconds, leasedAt) };
    this.leases.set(ackId, message);
    if (stream) {
      stream.outstanding++;
      stream.outstandingBytes += message.data.length;
    }
    this.counters.delivered++;
    if (message.attempts > 1) this.counters.redelivered++;
    const received: Record<string, unknown> = {
      ack_id: ackId,
      message: {
        data: message.data,
        attributes: message.attributes,
        message_id: message.id,
        publish_time: message.publishTime,
        ordering_key: message.orderingKey,
      },
    };
    if (this.maxDeliveryAttempts !== undefined) received.delivery_attempt = message.attempts;
    return received;
  }

  private deadlineTimer(message: Message, seconds: number, leasedAt: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      if (message.lease?.timer !== timer) return;
      this.counters.expired++;
      this.release(message);
      this.requeue(message);
    }, this.leaseMs(seconds, leasedAt));
    timer.unref();
    return timer;
  }

  /** Ends the message's lease; its stream may take more. */
  private release(message: Message): void {
    const lease = message.lease;
    if (!lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(lease.ackId);
    message.lease = undefined;
    if (lease.stream) {
      lease.stream.outstanding--;
      lease.stream.outstandingBytes -= message.data.length;
    }
    this.schedulePump();
  }

  private requeue(message: Message): void {
    if (this.maxDeliveryAttempts !== undefined && message.attempts >= this.maxDeliveryAttempts) {
      message.state = 'dead-lettered';
      this.counters.deadLettered++;
      return;
    }
    message.state = 'ready';
    this.ready.push(message);
    this.schedulePump();
  }

  private ack(ackId: string): void {
    const message = this.leases.get(ackId);
    if (!message) {
      this.counters.staleAcks++;
      return;
    }
    this.release(message);
    if (message.redeliverAfterAck) {
      message.redeliverAfterAck = false;
      this.requeue(message);
      return;
    }
    message.state = 'acked';
    this.counters.acked++;
  }

  private modack(ackId: string, seconds: number): void {
    const message = this.leases.get(ackId);
    if (!message) {
      this.counters.staleAcks++;
      return;
    }
    if (seconds === 0) {
      this.counters.nacked++;
      this.release(message);
      this.requeue(message);
      return;
    }
    if (this.faults.ignoreModacks) {
      this.counters.ignoredModacks++;
      return;
    }
    clearTimeout(message.lease!.timer);
    message.lease!.timer = this.deadlineTimer(message, seconds, message.lease!.leasedAt);
  }

  // ---- delivery ----

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private hasRoom(stream: Stream): boolean {
    if (!stream.open) return false;
    if (stream.maxMessages > 0 && stream.outstanding >= stream.maxMessages) return false;
    if (stream.maxBytes > 0 && stream.outstandingBytes >= stream.maxBytes) return false;
    if (this.faults.dropEvery && stream.sent >= this.faults.dropEvery) return false;
    return true;
  }

  /** Hands ready messages to streams with room, one message per stream in turn, so streams share the work. */
  private pump(): void {
    if (this.closed || this.streams.length === 0) return;
    const now = Date.now();
    const batches = new Map<Stream, Record<string, unknown>[]>();
    let nextSlow = Infinity;
    let full = false;
    let progress = true;
    while (this.ready.length > 0 && progress) {
      progress = false;
      const n = this.streams.length;
      for (let i = 0; i < n && this.ready.length > 0; i++) {
        const stream = this.streams[(this.turn + i) % n]!;
        if (!this.hasRoom(stream)) continue;
        const batch = batches.get(stream) ?? [];
        if (this.faults.slowMs) {
          if (stream.nextSendAt > now) {
            nextSlow = Math.min(nextSlow, stream.nextSendAt);
            continue;
          }
          if (batch.length >= 1) continue;
        }
        if (batch.length >= MAX_MESSAGES_PER_RESPONSE) {
          full = true;
          continue;
        }
        const message = this.ready.shift()!;
        progress = true;
        if (message.state !== 'ready') continue;
        batch.push(this.lease(message, stream, stream.ackDeadlineSeconds));
        batches.set(stream, batch);
        stream.sent++;
      }
    }
    this.turn = (this.turn + 1) % Math.max(1, this.streams.length);
    for (const [stream, batch] of batches) {
      stream.call.write({
        received_messages: batch,
        subscription_properties: { exactly_once_delivery_enabled: false, message_ordering_enabled: false },
      });
      if (this.faults.slowMs) {
        stream.nextSendAt = now + this.faults.slowMs;
        nextSlow = Math.min(nextSlow, stream.nextSendAt);
      }
      if (this.faults.dropEvery && stream.sent >= this.faults.dropEvery) {
        this.counters.dropped++;
        this.endStream(stream, grpc.status.UNAVAILABLE, 'The service was unable to fulfill your request. Please try again. [code=8a75]');
      }
    }
    if (full) this.schedulePump();
    else if (nextSlow !== Infinity && this.ready.length > 0) {
      if (this.pumpTimer) clearTimeout(this.pumpTimer);
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, Math.max(0, nextSlow - Date.now()));
      this.pumpTimer.unref();
    }
  }

  // ---- RPCs ----

  private count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  private unary(method: string, handle: (request: Request) => unknown): grpc.handleUnaryCall<Request, unknown> {
    return (call, callback) => {
      this.count(method);
      try {
        callback(null, handle(call.request));
      } catch (err) {
        callback(err as grpc.ServiceError);
      }
    };
  }

  private checkSubscription(request: Request): void {
    const name = request.subscription;
    if (typeof name !== 'string' || name === '') throw grpcError(grpc.status.INVALID_ARGUMENT, 'subscription is required');
    if (name !== this.subscription) throw grpcError(grpc.status.NOT_FOUND, `Resource not found (resource=${name.slice(name.lastIndexOf('/') + 1)}).`);
  }

  private checkDeadline(seconds: number, min: number): void {
    if (!Number.isInteger(seconds) || seconds < min || seconds > MAX_ACK_DEADLINE_SECONDS) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `Invalid ack deadline given: ${seconds}; expected ${min} to ${MAX_ACK_DEADLINE_SECONDS} seconds.`);
    }
  }

  private acknowledge(request: Request): object {
    this.checkSubscription(request);
    const ackIds = stringArray(request.ack_ids);
    if (ackIds.length === 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'ack_ids is required');
    for (const id of ackIds) this.ack(id);
    return {};
  }

  private modifyAckDeadline(request: Request): object {
    this.checkSubscription(request);
    const seconds = toNumber(request.ack_deadline_seconds);
    this.checkDeadline(seconds, 0);
    const ackIds = stringArray(request.ack_ids);
    if (ackIds.length === 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'ack_ids is required');
    for (const id of ackIds) this.modack(id, seconds);
    return {};
  }

  private pull(request: Request): object {
    this.checkSubscription(request);
    const max = toNumber(request.max_messages);
    if (!Number.isInteger(max) || max <= 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'max_messages must be positive');
    // The service may answer a Pull with fewer messages than are waiting, or none: this one
    // answers at once with what is ready rather than holding the call open.
    const received: Record<string, unknown>[] = [];
    while (received.length < max && this.ready.length > 0) {
      const message = this.ready.shift()!;
      if (message.state === 'ready') received.push(this.lease(message, undefined, this.ackDeadlineSeconds));
    }
    return { received_messages: received };
  }

  private getSubscription(request: Request): object {
    this.checkSubscription(request);
    const subscription: Record<string, unknown> = {
      name: this.subscription,
      topic: this.topic,
      ack_deadline_seconds: this.ackDeadlineSeconds,
      message_retention_duration: { seconds: String(RETENTION_SECONDS), nanos: 0 },
      state: 'ACTIVE',
    };
    if (this.maxDeliveryAttempts !== undefined) {
      subscription.dead_letter_policy = { dead_letter_topic: `${this.topic}-dead-letter`, max_delivery_attempts: this.maxDeliveryAttempts };
    }
    return subscription;
  }

  private publishCall(request: Request): object {
    const topic = request.topic;
    if (topic !== this.topic) throw grpcError(grpc.status.NOT_FOUND, `Resource not found (resource=${String(topic).slice(String(topic).lastIndexOf('/') + 1)}).`);
    const messages = Array.isArray(request.messages) ? (request.messages as Record<string, unknown>[]) : [];
    if (messages.length === 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'messages is required');
    const parsed = messages.map((m) => {
      const data = Buffer.isBuffer(m.data) ? m.data : Buffer.alloc(0);
      const attributes = (m.attributes ?? {}) as Record<string, string>;
      if (data.length === 0 && Object.keys(attributes).length === 0) {
        throw grpcError(grpc.status.INVALID_ARGUMENT, 'A message must have data or attributes.');
      }
      return { message: { data, attributes }, orderingKey: typeof m.ordering_key === 'string' ? m.ordering_key : '' };
    });
    return { message_ids: parsed.map((p) => this.add(p.message, p.orderingKey)) };
  }

  private streamingPull(call: grpc.ServerDuplexStream<Request, unknown>): void {
    this.count('StreamingPull');
    let stream: Stream | undefined;
    const fail = (err: unknown): void => {
      const e = err as grpc.ServiceError;
      if (stream) this.endStream(stream, e.code ?? grpc.status.INTERNAL, e.details ?? String(err));
      else call.emit('error', { code: e.code ?? grpc.status.INTERNAL, details: e.details ?? String(err) });
    };
    call.on('data', (request: Request) => {
      try {
        if (stream) this.streamRequest(stream, request);
        else stream = this.openStream(call, request);
      } catch (err) {
        fail(err);
      }
    });
    // The client half-closed: the service finishes the call too.
    call.on('end', () => {
      if (stream) this.endStream(stream, grpc.status.OK, 'OK');
      else call.end();
    });
    call.on('cancelled', () => stream && this.forget(stream));
    call.on('error', () => stream && this.forget(stream));
  }

  private openStream(call: grpc.ServerDuplexStream<Request, unknown>, request: Request): Stream {
    this.checkSubscription(request);
    if (this.closed) throw grpcError(grpc.status.UNAVAILABLE, 'The service is shutting down.');
    const deadline = toNumber(request.stream_ack_deadline_seconds);
    // Google requires 10 to 600 here; from 1 up, so tests can watch a lease run out in seconds.
    this.checkDeadline(deadline, 1);
    const stream: Stream = {
      id: ++this.streamCounter,
      call,
      open: true,
      ackDeadlineSeconds: deadline,
      maxMessages: toNumber(request.max_outstanding_messages),
      maxBytes: toNumber(request.max_outstanding_bytes),
      outstanding: 0,
      outstandingBytes: 0,
      sent: 0,
      nextSendAt: 0,
      timers: [],
    };
    this.streams.push(stream);
    this.counters.streamsOpened++;
    if (this.faults.dropAfterMs) {
      const timer = setTimeout(() => {
        if (!stream.open) return;
        this.counters.dropped++;
        this.endStream(stream, grpc.status.UNAVAILABLE, 'The service was unable to fulfill your request. Please try again. [code=8a75]');
      }, this.faults.dropAfterMs);
      timer.unref();
      stream.timers.push(timer);
    }
    this.applyAcks(request);
    this.schedulePump();
    return stream;
  }

  private streamRequest(stream: Stream, request: Request): void {
    if (toNumber(request.max_outstanding_messages) !== 0 || toNumber(request.max_outstanding_bytes) !== 0) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, 'Flow control settings may only be set on the initial request.');
    }
    const deadline = toNumber(request.stream_ack_deadline_seconds);
    if (deadline !== 0) {
      this.checkDeadline(deadline, 1);
      stream.ackDeadlineSeconds = deadline;
    }
    this.applyAcks(request);
  }

  /** Acks and modacks carried on a StreamingPull request. */
  private applyAcks(request: Request): void {
    const modIds = stringArray(request.modify_deadline_ack_ids);
    const modSeconds = numberArray(request.modify_deadline_seconds);
    if (modIds.length !== modSeconds.length) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, 'modify_deadline_ack_ids and modify_deadline_seconds must have the same length.');
    }
    modSeconds.forEach((s) => this.checkDeadline(s, 0));
    for (const id of stringArray(request.ack_ids)) this.ack(id);
    modIds.forEach((id, i) => this.modack(id, modSeconds[i]!));
  }

  private endStream(stream: Stream, code: grpc.status, details: string): void {
    if (!stream.open) return;
    this.forget(stream);
    if (code === grpc.status.OK) stream.call.end();
    else stream.call.emit('error', { code, details });
  }

  /**
   * The stream is gone; its leases stay until acked or expired, as the service's do: the client
   * acks through unary calls and keeps its messages across a reconnect.
   */
  private forget(stream: Stream): void {
    if (!stream.open) return;
    stream.open = false;
    for (const timer of stream.timers) clearTimeout(timer);
    const i = this.streams.indexOf(stream);
    if (i >= 0) this.streams.splice(i, 1);
    for (const message of this.leases.values()) {
      if (message.lease?.stream === stream) message.lease.stream = undefined;
    }
  }
}
