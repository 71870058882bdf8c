import { setMaxListeners } from 'node:events';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import PQueue from 'p-queue';
import type { WebhookSinkConfig } from './config.js';
import type { AuditEvent } from '../../event/event.js';
import { PermanentDeliveryError, type Sink } from '../../pipeline/types.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { whenAborted } from '../../util/abort.js';
import { AbortError, abortReason, type Clock } from '../../util/clock.js';
import { HttpClient } from '../http/client.js';
import type { BackoffPolicy } from '../../util/backoff.js';
import { Batch, WriteTicket } from './batch.js';
import { BODY_FORMATS, buildBody, envelopeBytes, type BodyFormat, type BodyItem } from './format.js';
import { fitEvent, missingAuditFields, type Fitted } from './truncate.js';
import type { EncodedEvent } from '../../event/encoded.js';

const gzip = promisify(gzipCallback);

/** An event as its body item, or why it cannot be sent. */
type Ready = { ok: true; item: BodyItem; bytes: number; truncated: boolean } | { ok: false; reason: string };

export interface WebhookSinkDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** Where basicAuth.passwordEnv is looked up; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

/**
 * POSTs events to an HTTP endpoint. Events of successive writes share bodies cut by count, bytes
 * and time, as the kube-apiserver's webhook batches them; up to maxConcurrentRequests bodies are
 * in flight. Each body is sent once: a write resolves when every body carrying its events was
 * accepted, and rejects as soon as one failed, transiently (the pipeline tries the write again
 * after its backoff, retry.initialBackoff to retry.maxBackoff, or as Retry-After says) or for good
 * (the pipeline narrows it to the events refused and dead-letters those alone). A write whose
 * signal aborts (the shutdown deadline) rejects at once; its bodies stop with close().
 */
export class WebhookSink implements Sink {
  readonly name: string;
  readonly failureThresholdMs: number;
  readonly retryBackoff: BackoffPolicy;
  private readonly http: HttpClient;
  private readonly format: BodyFormat;
  private readonly queue: PQueue;
  private readonly closing = new AbortController();
  private pending: Batch | undefined;
  private pendingTimer: AbortController | undefined;
  /** Set by flush() while bodies are in flight: the batch being filled goes when the last is answered. */
  private sendPendingWhenIdle = false;
  /** Settles after the latest write settled: a write is acknowledged only after the ones before it. */
  private acknowledged: Promise<void> = Promise.resolve();
  private unsettled = 0;
  private closed = false;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly deps: WebhookSinkDeps,
  ) {
    this.name = config.name;
    this.failureThresholdMs = config.failureThreshold;
    this.retryBackoff = { initialMs: config.retry.initialBackoff, maxMs: config.retry.maxBackoff };
    this.format = BODY_FORMATS[config.format];
    this.queue = new PQueue({ concurrency: config.maxConcurrentRequests });
    // Each request in flight or backing off listens on it: bounded by maxConcurrentRequests, not a leak.
    setMaxListeners(0, this.closing.signal);
    this.http = new HttpClient(config, {
      logger: deps.logger,
      clock: deps.clock,
      metrics: deps.metrics,
      target: config.name,
      connections: config.maxConcurrentRequests,
      ...(deps.env ? { env: deps.env } : {}),
    });
  }

  /** Events accepted by write() and not yet delivered or dead-lettered (bounded by the pipeline's in-flight writes). */
  get backlog(): number {
    return this.unsettled;
  }

  write(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    return this.accept(events, signal, (event) => {
      const missing = this.config.requireAuditFields ? missingAuditFields(event) : undefined;
      return missing !== undefined ? { ok: false, reason: missing } : this.itemOf(fitEvent(event, this.config.maxEventBytes));
    });
  }

  /** Events a worker thread encoded: their bytes go into the body as they are; parsed only to truncate an oversized one. */
  writeEncoded(events: readonly EncodedEvent[], signal: AbortSignal): Promise<void> {
    return this.accept(events, signal, (encoded) => {
      const missing = this.config.requireAuditFields ? missingAuditFields(encoded) : undefined;
      if (missing !== undefined) return { ok: false, reason: missing };
      if (encoded.byteLength <= this.config.maxEventBytes) return { ok: true, ...this.format.encodedItem(encoded), truncated: false };
      return this.itemOf(fitEvent(encoded.event, this.config.maxEventBytes));
    });
  }

  private itemOf(fitted: Fitted): Ready {
    if (!fitted.ok) return fitted;
    const { text, bytes } = this.format.item(fitted.full, fitted.bytes, () => fitted.event);
    return { ok: true, item: text, bytes, truncated: fitted.truncated };
  }

  /**
   * An event that cannot be sent is refused before anything is: the pipeline narrows the write to
   * it and dead-letters it alone, and the others are written again without it.
   */
  private accept<E>(events: readonly E[], signal: AbortSignal, fit: (event: E) => Ready): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`webhook sink ${this.name} is closed`));
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const ticket = new WriteTicket(events.length);
    this.unsettled += events.length;
    ticket.done.then(
      () => (this.unsettled -= events.length),
      () => (this.unsettled -= events.length),
    );

    const items: { item: BodyItem; bytes: number }[] = [];
    let truncated = 0;
    for (const event of events) {
      const item = fit(event);
      if (!item.ok) return this.refuse(ticket, item.reason);
      if (item.truncated) truncated++;
      if (item.bytes + envelopeBytes(this.format, 1) > this.config.batchMaxBytes) {
        // The config keeps maxEventBytes below this; kept so that a body can never pass the cap.
        return this.refuse(ticket, `event of ${item.bytes} bytes does not fit a body of batchMaxBytes (${this.config.batchMaxBytes})`);
      }
      items.push(item);
    }
    if (truncated > 0) this.deps.metrics.webhookTruncated.inc({ sink: this.name }, truncated);
    for (const { item, bytes } of items) this.append(item, bytes, ticket);
    const mine = untilSettled(
      this.acknowledged.then(() => ticket.done),
      signal,
    );
    this.acknowledged = mine.catch(() => undefined);
    return mine;
  }

  private refuse(ticket: WriteTicket, reason: string): Promise<void> {
    ticket.settle(Infinity);
    return Promise.reject(new PermanentDeliveryError(reason));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pendingTimer?.abort();
    // After a drained pipeline nothing is pending; anything left belongs to writes the pipeline
    // abandoned, which are not committed and are read again after a restart.
    this.pending?.fail(new AbortError('sink closed'));
    this.pending = undefined;
    this.closing.abort(new AbortError('sink closed'));
    await this.queue.onIdle();
    await this.http.close();
  }

  private append(item: BodyItem, bytes: number, ticket: WriteTicket): void {
    if (this.pending && !this.pending.accepts(bytes)) this.sendPending();
    if (!this.pending) {
      const batch = new Batch(this.format, { maxItems: Math.min(this.config.batchMaxSize, this.format.maxItems), maxBytes: this.config.batchMaxBytes });
      this.pending = batch;
      this.startTimer(batch);
    }
    this.pending.add(item, bytes, ticket);
    if (this.pending.full) this.sendPending();
  }

  /** batchMaxWait counts from the first event of a batch, as the kube-apiserver's batch-max-wait does. */
  private startTimer(batch: Batch): void {
    const timer = new AbortController();
    this.pendingTimer = timer;
    this.deps.clock.sleep(this.config.batchMaxWait, timer.signal).then(
      () => {
        if (this.pending === batch) this.sendPending();
      },
      () => undefined,
    );
  }

  /**
   * The pipeline can send no more events until some of these are acknowledged (Sink.flush): the
   * batch being filled goes now if no body is in flight, else when the last one is answered.
   */
  flush(): void {
    if (!this.pending) return;
    if (this.queue.size === 0 && this.queue.pending === 0) this.sendPending();
    else this.sendPendingWhenIdle = true;
  }

  private sendPending(): void {
    this.sendPendingWhenIdle = false;
    const batch = this.pending;
    if (!batch) return;
    this.pending = undefined;
    this.pendingTimer?.abort();
    this.pendingTimer = undefined;
    void this.queue.add(() => this.send(batch));
  }

  private async send(batch: Batch): Promise<void> {
    const { metrics } = this.deps;
    try {
      const raw = buildBody(this.format, batch.items, batch.bytes);
      metrics.webhookBatchEvents.observe({ sink: this.name }, batch.size);
      metrics.webhookBatchBytes.observe({ sink: this.name }, batch.bytes);
      const body = this.config.gzip ? await gzip(raw) : raw;
      await this.http.send({
        body,
        contentType: this.format.contentType,
        ...(this.config.gzip ? { headers: { 'content-encoding': 'gzip' } } : {}),
        signal: this.closing.signal,
      });
      batch.settle();
    } catch (err) {
      batch.fail(err);
    } finally {
      // This body is the last in flight (p-queue counts it until it returns).
      if (this.sendPendingWhenIdle && this.queue.size === 0 && this.queue.pending === 1) this.sendPending();
    }
  }
}

/** Resolves with `work`, or rejects with the signal's reason as soon as it aborts. */
function untilSettled(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const forget = whenAborted(signal, () => reject(abortReason(signal)));
    work.then(
      () => {
        forget();
        resolve();
      },
      (err: unknown) => {
        forget();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
