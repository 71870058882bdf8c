import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebhookSourceConfig } from '../../config/sources/webhook.js';
import type { BatchOutcome, Cursor, Source, SourceBatch } from '../../pipeline/types.js';
import { BodyError, readBody } from '../../server/body.js';
import { sendJson } from '../../server/respond.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { Clock } from '../../util/clock.js';
import { SecretFile } from '../../util/secret-file.js';
import { parseAuditBody } from './parse.js';

interface Queued {
  batch: SourceBatch;
  taken: boolean;
}

export interface WebhookSourceDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
}

/**
 * The kube-apiserver's audit webhook backend, as a source: each POST becomes one batch, and the
 * HTTP answer is the acknowledgement. 2xx only after every sink has the events; 503 when that
 * takes longer than ackTimeout, so the apiserver retries (the dedupe window makes the retry
 * harmless). There is no cursor: the sender holds the data until we answer 2xx.
 */
export class WebhookSource implements Source {
  readonly name: string;
  private readonly queue: Queued[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly token: SecretFile | undefined;

  constructor(
    private readonly config: WebhookSourceConfig,
    private readonly deps: WebhookSourceDeps,
  ) {
    this.name = config.name;
    this.token = config.bearerTokenFile ? new SecretFile(config.bearerTokenFile) : undefined;
  }

  async *batches(_from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    this.closed = false;
    const onAbort = (): void => this.close('the bridge is shutting down');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const next = this.queue.find((q) => !q.taken);
        if (next) {
          next.taken = true;
          this.queue.splice(this.queue.indexOf(next), 1);
          yield next.batch;
          continue;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.close('the bridge is shutting down');
    }
  }

  /** Answers everything still waiting to enter the pipeline with 503 and refuses new requests. */
  close(reason: string): void {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.batch.settle?.({ delivered: false, reason });
    this.wake?.();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const status = await this.answer(req, res);
    this.deps.metrics.webhookRequests.inc({ source: this.name, code: String(status) });
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const { logger } = this.deps;
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'only POST is accepted here' }, { allow: 'POST' });
      return 405;
    }
    if (!(await this.authorized(req))) {
      req.resume();
      sendJson(res, 401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
      return 401;
    }
    const contentType = req.headers['content-type'];
    if (contentType !== undefined && !/json/i.test(contentType)) {
      req.resume();
      sendJson(res, 415, { error: `Content-Type must be application/json, got "${contentType}"` });
      return 415;
    }
    if (this.closed) return this.unavailable(req, res, 'the bridge is shutting down');
    if (this.queue.length >= this.config.maxPendingRequests) {
      return this.unavailable(req, res, `${this.queue.length} requests already waiting to enter the pipeline`);
    }

    let text: string;
    try {
      text = await readBody(req, this.config.maxBodyBytes);
    } catch (err) {
      const e = err instanceof BodyError ? err : new BodyError(400, String(err));
      sendJson(res, e.status, { error: e.message });
      logger.warn({ source: this.name, status: e.status, error: e.message }, 'webhook request refused');
      return e.status;
    }

    const parsed = parseAuditBody(text, { cluster: this.config.cluster });
    if (!parsed.ok) {
      sendJson(res, 400, { error: parsed.error, problems: parsed.problems });
      logger.warn({ source: this.name, error: parsed.error }, 'webhook request refused: invalid body');
      return 400;
    }
    if (parsed.events.length === 0) {
      sendJson(res, 200, { status: 'ok', events: 0 });
      return 200;
    }

    const outcome = await this.enqueue(parsed.events);
    if (outcome.delivered) {
      sendJson(res, 200, { status: 'ok', events: parsed.events.length });
      return 200;
    }
    return this.unavailable(req, res, outcome.reason);
  }

  private unavailable(req: IncomingMessage, res: ServerResponse, reason: string): number {
    req.resume();
    sendJson(res, 503, { error: `not delivered yet: ${reason}; retry` }, { 'retry-after': '1' });
    return 503;
  }

  /** Queues the batch and waits for its outcome, or for ackTimeout. */
  private enqueue(events: SourceBatch['events']): Promise<BatchOutcome> {
    return new Promise<BatchOutcome>((resolve) => {
      let done = false;
      const finish = (outcome: BatchOutcome): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const entry: Queued = { batch: { source: this.name, events, rejects: [], settle: finish }, taken: false };
      const timer = setTimeout(() => {
        // Not yet taken by the pipeline: withdraw it, the sender will send it again.
        if (!entry.taken) {
          const i = this.queue.indexOf(entry);
          if (i >= 0) this.queue.splice(i, 1);
        }
        finish({ delivered: false, reason: `sinks did not acknowledge within ${this.config.ackTimeout} ms` });
      }, this.config.ackTimeout);
      this.queue.push(entry);
      this.wake?.();
    });
  }

  private async authorized(req: IncomingMessage): Promise<boolean> {
    if (!this.token) return true;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) return false;
    let expected: string;
    try {
      expected = await this.token.read();
    } catch (err) {
      this.deps.logger.error({ source: this.name, error: (err as Error).message }, 'cannot read the bearer token file');
      return false;
    }
    // Hash both sides to equal length so the comparison time says nothing about the token.
    const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(match[1]!.trim()), digest(expected));
  }
}
