import type { Message, Subscription } from '@google-cloud/pubsub';
import type { SourceContext } from '../../component/source.js';
import { isReject, type AuditEvent, type Reject } from '../../event/event.js';
import { SourceStoppedError } from '../../pipeline/source-runner.js';
import type { BatchOutcome, Cursor, Source, SourceBatch } from '../../pipeline/types.js';
import { LogThrottle } from '../../telemetry/log-throttle.js';
import { backoffDelay } from '../../util/backoff.js';
import { LASTING_RETRY_MS, lastingLine, type ApiFailure } from '../polling/loop.js';
import { maxOutstandingMessages, type GkePubsubSourceConfig } from './config.js';
import { createPubsubClient, STREAM_RETRY_MAX_MS, type PubsubClient } from './client.js';
import { decodeSinkMessage, messageRef, SINK_MESSAGE_CONVERTER } from './decode.js';

/** Readiness: a healthy stream is reported every half of this, and /readyz wants one within three. */
export const HEALTH_INTERVAL_MS = 10_000;
/**
 * A stream error counts until the client has had time to open the stream again and fail once
 * more (it retries within STREAM_RETRY_MAX_MS): no new error for this long, or a message, and the
 * source is healthy again.
 */
export const RECOVERY_MS = STREAM_RETRY_MAX_MS + 5_000;
/** After the source has settled every batch, the client gets this long to send the last acks. */
const CLOSE_GRACE_MS = 10_000;

/** google/rpc/code.proto names, for metric labels. */
const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];
const API = 'Pub/Sub StreamingPull';

/** Errors the client does not retry and that waiting will not fix: what is wrong and the likely fix. */
function lastingOf(code: string, subscription: string): ApiFailure['lasting'] {
  switch (code) {
    case 'NOT_FOUND':
      return { reason: 'not_found', fix: `check subscription ${subscription}: create it (gcloud pubsub subscriptions create ... --topic=...) or correct the name` };
    case 'PERMISSION_DENIED':
      return { reason: 'permission_denied', fix: `grant the bridge's identity the Pub/Sub Subscriber role (roles/pubsub.subscriber) on ${subscription}` };
    case 'UNAUTHENTICATED':
      return { reason: 'bad_credentials', fix: 'check keyFile, GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding' };
    case 'INVALID_ARGUMENT':
    case 'FAILED_PRECONDITION':
      return { reason: 'invalid_query', fix: "check the source's settings (Pub/Sub takes ack deadlines of 10 s to 10 min) and the subscription's state" };
    default:
      return undefined;
  }
}

export function codeName(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? (GRPC_CODES[code] ?? `GRPC_${code}`) : 'UNKNOWN';
}

interface Held {
  message: Message;
  /** The clock's time at receipt. */
  at: number;
}

type Config = GkePubsubSourceConfig;

export interface IntakeOptions {
  /** After a lasting error, how long before a new subscriber tries again; default LASTING_RETRY_MS (5 min), as polled sources. */
  lastingRetryMs?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * A GKE cluster's audit log streamed from a Pub/Sub subscription that a Log Router sink feeds.
 * Messages are acknowledged only when the pipeline settles their batch as delivered; there is no
 * cursor, the subscription keeps the position.
 */
export class GkePubsubSource implements Source {
  readonly name: string;
  /** Not a poll: how often the stream's health is reported, which /readyz checks like a poll. */
  readonly pollIntervalMs = HEALTH_INTERVAL_MS;

  private readonly config: Config;

  constructor(
    config: Config,
    private readonly ctx: SourceContext,
    private readonly options: IntakeOptions & { makeClient?: (config: Config) => Promise<PubsubClient> } = {},
  ) {
    this.name = config.name;
    // Flow control is sized by what the runner holds: the source's own override, else the pipeline's.
    this.config = { ...config, maxInFlightBatches: config.maxInFlightBatches ?? ctx.maxInFlightBatches };
  }

  async *batches(_from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const client = await (this.options.makeClient ?? createPubsubClient)(this.config);
    const intake = new Intake(this.config, this.ctx, client, this.options);
    intake.start();
    try {
      for (;;) {
        const taken = await intake.take(signal);
        if (taken === undefined) return;
        yield this.batch(taken, intake);
      }
    } finally {
      await intake.stop();
    }
  }

  private batch(taken: Held[], intake: Intake): SourceBatch {
    const settle = intake.settler(taken.map((h) => h.message));
    if (this.ctx.deferNormalization) {
      // Text crosses to a worker thread in one copy; a Buffer would take its whole backing store with it.
      const records = taken.map(({ message }) => {
        const text = message.data.toString('utf8');
        message.data = EMPTY;
        return text;
      });
      const refs = taken.map(({ message }) => messageRef(message.id));
      const context = this.config.keepTypeKey ? { keepTypeKey: 'true' } : {};
      return { source: this.name, events: [], rejects: [], deferred: { converter: SINK_MESSAGE_CONVERTER, context, records, refs }, settle };
    }
    const events: AuditEvent[] = [];
    const rejects: Reject[] = [];
    const options = { keepTypeKey: this.config.keepTypeKey };
    for (const { message } of taken) {
      const result = decodeSinkMessage(message.data, message.id, options);
      if (isReject(result)) rejects.push(result);
      else events.push(result);
      // Only the ack id is needed from here on; the client counts flow control by the length it
      // noted on receipt. The data would otherwise stay in memory beside its Event until the ack.
      message.data = EMPTY;
    }
    return { source: this.name, events, rejects, settle };
  }
}

/**
 * The messages between the subscription and the pipeline: what has arrived and waits for a batch,
 * how many batches are out, the subscriber (opened again after an error the client gives up on),
 * and the stream's health.
 */
class Intake {
  private readonly client: PubsubClient;
  private subscription: Subscription | undefined;
  /** Subscribers closing after an error: they still extend and acknowledge what they handed over. */
  private readonly retired = new Set<Subscription>();
  /** Subscribers that have finished closing (their last acks sent). */
  private readonly closed = new WeakSet<Subscription>();
  private buffer: Held[] = [];
  private outstanding = 0;
  private idle: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;
  private readonly stopped = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly startedAt: number;
  private lastMessageAt = 0;
  /** When the pipeline last settled a batch (its acks go out then). */
  private lastSettledAt = 0;
  /** When the client last reported a stream it retries. */
  private lastStreamEnd = -Infinity;
  /** The last stream error and when it came; `line` for one retrying cannot fix (what /readyz and run --once say). */
  private failure: { at: number; code: string; message: string; line?: string } | undefined;
  /** Subscribers lost in a row, for the reopening backoff; a message resets it. */
  private lost = 0;
  private readonly failingReasons = new Set<string>();
  private readonly log: LogThrottle;
  private readonly maxHeld: number;

  constructor(
    private readonly config: Config,
    private readonly ctx: SourceContext,
    client: PubsubClient,
    private readonly options: IntakeOptions,
  ) {
    this.client = client;
    this.startedAt = ctx.clock.now();
    this.log = new LogThrottle(ctx.logger, () => ctx.clock.now());
    // The service honours flow control per stream, and a subscriber opened after an error starts
    // a fresh count: the cap on what waits here is a safety net above the normal bound.
    this.maxHeld = 2 * maxOutstandingMessages(config) * config.streams;
  }

  start(): void {
    this.open();
    this.heartbeat = setInterval(() => this.report(), HEALTH_INTERVAL_MS / 2);
    this.heartbeat.unref();
  }

  /**
   * The next batch's messages: a full batch at once, else what has come once the oldest has waited
   * maxBatchWait. Undefined when the signal aborts, or in once mode when nothing new has come for
   * the quiet period.
   */
  async take(signal: AbortSignal): Promise<Held[] | undefined> {
    const { config, ctx } = this;
    for (;;) {
      if (signal.aborted) return undefined;
      // run --once cannot wait out a wrong name or missing IAM: the source ends with the line that says so.
      if (ctx.once && this.failure?.line !== undefined) throw new SourceStoppedError(this.failure.line);
      const now = ctx.clock.now();
      this.expire(now);
      if (this.buffer.length >= config.maxBatchMessages) return this.buffer.splice(0, config.maxBatchMessages);
      if (this.buffer.length > 0) {
        const due = this.buffer[0]!.at + config.maxBatchWait;
        if (now >= due) return this.buffer.splice(0, config.maxBatchMessages);
        await this.sleep(due - now, signal);
        continue;
      }
      if (ctx.once) {
        // Drained means a working stream had nothing for the quiet period while the source held
        // nothing: messages the pipeline still holds count against flow control, and the service
        // sends no more until they are acknowledged. A failing stream is never drained.
        const quietFor = now - Math.max(this.startedAt, this.lastMessageAt, this.lastSettledAt, this.failure?.at ?? 0);
        if (this.outstanding === 0 && this.healthy(now) && quietFor >= config.quietPeriod) {
          ctx.logger.info({ quietForMs: quietFor }, 'run --once: nothing new for the quiet period; finishing');
          return undefined;
        }
        await this.sleep(this.outstanding > 0 ? HEALTH_INTERVAL_MS : Math.max(config.quietPeriod - quietFor, this.failure ? 1000 : 0, 50), signal);
        continue;
      }
      await this.sleep(HEALTH_INTERVAL_MS, signal);
    }
  }

  /** The batch's settle: every message acknowledged when delivered, nacked (redelivered soon) when not. */
  settler(messages: Message[]): (outcome: BatchOutcome) => void {
    this.outstanding++;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      for (const message of messages) {
        if (outcome.delivered) message.ack();
        else message.nack();
      }
      this.lastSettledAt = this.ctx.clock.now();
      if (--this.outstanding === 0) this.idle?.();
      this.wake?.();
    };
  }

  /**
   * Ends the source: no more messages (the streams close at once), what waits here is nacked,
   * batches the pipeline holds are settled by it first (the subscribers keep their leases until
   * then), and the last acks are sent.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort();
    clearInterval(this.heartbeat);
    for (const held of this.buffer.splice(0)) held.message.nack();
    // A retired subscriber is closing already: it is done when it says so, after its last acks.
    const retired = [...this.retired].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
    const current = this.subscription?.close().catch(() => undefined);
    this.subscription = undefined;
    const closing = Promise.all([current, ...retired]);
    if (this.outstanding > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CLOSE_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (late) this.ctx.logger.warn({ graceMs: CLOSE_GRACE_MS }, 'the Pub/Sub client did not close in time; unacknowledged messages will be redelivered');
    await this.client.close().catch(() => undefined);
  }

  // ---- the subscriber ----

  private open(): void {
    if (this.stopping) return;
    const subscription = this.client.subscription();
    this.subscription = subscription;
    // An 'error' without a listener would throw: attached before 'message' opens the subscriber.
    subscription.on('error', (err: Error) => this.onError(subscription, err));
    subscription.on('debug', (debug: { message?: string; error?: unknown }) => this.onDebug(debug));
    subscription.on('close', () => {
      this.closed.add(subscription);
      this.retired.delete(subscription);
      this.onClosed(subscription);
    });
    subscription.on('message', (message: Message) => this.onMessage(message));
  }

  private onMessage(message: Message): void {
    if (this.stopping) {
      message.nack();
      return;
    }
    const now = this.ctx.clock.now();
    this.expire(now);
    if (this.buffer.length >= this.maxHeld) {
      // Only when the service overshoots flow control far: handing it back costs a redelivery, holding it costs memory.
      message.nack();
      this.log.warn('overflow', { held: this.buffer.length }, 'more messages arrived than flow control allows; handed back for redelivery');
      return;
    }
    this.buffer.push({ message, at: now });
    this.lastMessageAt = now;
    this.lost = 0;
    if (this.failure) {
      this.recovered();
      this.ctx.health.sourcePolled(this.config.name);
    }
    this.wake?.();
  }

  /**
   * The client retries a stream that ended with a transient status and says so here (also a
   * failed ack or modack call). Pub/Sub ends every StreamingPull with an error status sooner or
   * later, so one such end is routine; another before any message within RECOVERY_MS is a failure.
   */
  private onDebug(debug: { message?: string; error?: unknown }): void {
    if (debug.error === undefined || this.stopping) return;
    const code = codeName(debug.error);
    // An end the client will not retry is also an 'error', counted there.
    if (code === 'OK' || code === 'DEADLINE_EXCEEDED' || lastingOf(code, this.config.subscription) !== undefined) return;
    const now = this.ctx.clock.now();
    const message = debug.message ?? (debug.error instanceof Error ? debug.error.message : 'stream error');
    if (this.lastStreamEnd > this.lastMessageAt && now - this.lastStreamEnd < RECOVERY_MS) this.failed(code, message);
    else this.ctx.logger.debug({ code, error: message }, 'Pub/Sub stream ended; the client opens it again');
    this.lastStreamEnd = now;
  }

  private onError(subscription: Subscription, err: Error): void {
    this.failed(codeName(err), err.message);
    // The client closes the subscriber after an error it does not retry; it says so a tick later.
    setImmediate(() => {
      if (!subscription.isOpen) this.onClosed(subscription);
    });
  }

  /** The subscriber is gone (an error the client gave up on): a new one, after a backoff. */
  private onClosed(subscription: Subscription): void {
    if (this.stopping || subscription !== this.subscription) return;
    this.subscription = undefined;
    if (!this.closed.has(subscription)) this.retired.add(subscription);
    const delay = this.failure?.line !== undefined ? (this.options.lastingRetryMs ?? LASTING_RETRY_MS) : backoffDelay(++this.lost, { initialMs: 1000, maxMs: 60_000 });
    this.ctx.logger.warn({ retryInMs: delay, error: this.failure?.message }, 'Pub/Sub subscriber closed; opening a new one');
    this.ctx.clock.sleep(delay, this.stopped.signal).then(
      () => this.open(),
      () => undefined,
    );
  }

  // ---- health ----

  private failed(code: string, message: string): void {
    const { ctx, config } = this;
    const source = config.name;
    ctx.metrics.apiErrors.inc({ source, code });
    const lasting = lastingOf(code, config.subscription);
    if (lasting) {
      const line = lastingLine(source, API, { code, throttled: false, lasting }, message);
      this.failure = { at: ctx.clock.now(), code, message, line };
      ctx.metrics.sourceLastingErrors.inc({ source, reason: lasting.reason });
      ctx.metrics.sourceFailing.set({ source, reason: lasting.reason }, 1);
      this.failingReasons.add(lasting.reason);
      ctx.health.sourceFailed(source, line, { lasting: true });
      this.log.error(`lasting:${code}`, { code, reason: lasting.reason, error: message }, line);
      this.wake?.();
      return;
    }
    // A transient error does not hide a lasting one not yet resolved.
    if (this.failure?.line !== undefined) return;
    this.failure = { at: ctx.clock.now(), code, message };
    ctx.health.sourceFailed(source, `${code}: ${message}`);
    this.log.warn(`stream:${code}`, { code, error: message }, 'Pub/Sub stream failed');
  }

  private recovered(): void {
    this.failure = undefined;
    for (const reason of this.failingReasons) this.ctx.metrics.sourceFailing.set({ source: this.config.name, reason }, 0);
    this.failingReasons.clear();
  }

  /** A working stream: open, and no failure since it has been open for RECOVERY_MS (or a message came). */
  private healthy(now: number): boolean {
    const open = this.subscription?.isOpen === true;
    if (this.failure && open && now - this.failure.at >= RECOVERY_MS) this.recovered();
    return open && this.failure === undefined;
  }

  private report(): void {
    if (this.stopping) return;
    const { health } = this.ctx;
    const name = this.config.name;
    if (this.healthy(this.ctx.clock.now())) health.sourcePolled(name);
    else if (this.failure?.line !== undefined) health.sourceFailed(name, this.failure.line, { lasting: true });
    else health.sourceFailed(name, this.failure ? `${this.failure.code}: ${this.failure.message}` : 'the Pub/Sub subscriber is being opened again');
  }

  // ---- waiting ----

  /**
   * Messages the client stopped extending (maxLeaseExtension) go back now rather than being
   * delivered on a lease Pub/Sub may already have given to someone else.
   */
  private expire(now: number): void {
    let n = 0;
    while (n < this.buffer.length && now - this.buffer[n]!.at >= this.config.maxLeaseExtension) n++;
    if (n === 0) return;
    for (const held of this.buffer.splice(0, n)) held.message.nack();
    this.log.warn('expired', { messages: n, maxLeaseExtensionMs: this.config.maxLeaseExtension }, 'messages waited past maxLeaseExtension for the pipeline; handed back for redelivery');
  }

  /** Sleeps until `ms` pass, a message arrives or the signal aborts. */
  private async sleep(ms: number, signal: AbortSignal): Promise<void> {
    const woken = new AbortController();
    const onAbort = (): void => woken.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.wake = onAbort;
    try {
      await this.ctx.clock.sleep(ms, woken.signal);
    } catch {
      // woken early
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.wake = undefined;
    }
  }
}
