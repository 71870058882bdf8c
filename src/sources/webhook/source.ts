import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { WebhookSourceConfig } from './config.js';
import type { Reject } from '../../event/event.js';
import type { BatchOutcome, Cursor, Source, SourceBatch } from '../../pipeline/types.js';
import { BodyError, readBody } from '../../server/body.js';
import { sendJson } from '../../server/respond.js';
import { LogThrottle } from '../../telemetry/log-throttle.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { Clock } from '../../util/clock.js';
import { parsedCost, scanJson } from '../../util/json-scan.js';
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
  /** The server asks for client certificates (server.tls.clientCaFile): senders must present a valid one. */
  mtls?: boolean;
}

/** The media types a body may be declared as: JSON, with or without parameters (charset). */
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The kube-apiserver's audit webhook backend, as a source: each POST becomes one batch, and the
 * HTTP answer is the acknowledgement. 2xx only after every sink has the events (and the dead-letter
 * file the invalid ones); 503 when that takes longer than ackTimeout, so the apiserver retries (the
 * dedupe window makes the retry harmless). There is no cursor: the sender holds the data until we
 * answer 2xx.
 *
 * Every request does bounded work: it must authenticate before its body is read; requests being
 * read, waiting or in flight are limited in number and in the memory their bodies take, counted
 * before JSON.parse from a scan that allocates nothing; the body's size, its number of events and
 * their nesting are capped. docs/security.md gives the reasoning behind each limit.
 */
export class WebhookSource implements Source {
  readonly name: string;
  private readonly queue: Queued[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly token: SecretFile | undefined;
  private readonly log: LogThrottle;
  /** Requests past authentication and not yet answered: being read, parsed, queued or in flight. */
  private active = 0;
  /** Bytes the active requests' bodies hold or may hold (text plus what parsing it builds). */
  private reserved = 0;

  constructor(
    private readonly config: WebhookSourceConfig,
    private readonly deps: WebhookSourceDeps,
  ) {
    this.name = config.name;
    this.token = config.bearerTokenFile ? new SecretFile(config.bearerTokenFile) : undefined;
    this.log = new LogThrottle(deps.logger, () => deps.clock.now());
  }

  /** Said at every start: how senders prove who they are, or that they do not have to. */
  describeAuthentication(): { open: boolean; methods: string[] } {
    const methods = [...(this.token ? ['bearer token'] : []), ...(this.deps.mtls ? ['client certificate'] : [])];
    return { open: methods.length === 0 && this.config.allowUnauthenticated, methods };
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
    if (req.method !== 'POST') return this.refuse(req, res, 405, 'only POST is accepted here', { allow: 'POST' });
    const denied = await this.authenticate(req);
    if (denied !== undefined) return this.refuse(req, res, 401, denied, { 'www-authenticate': 'Bearer' });
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !JSON_TYPE.test(contentType)) {
      return this.refuse(req, res, 415, `Content-Type must be application/json, got ${contentType === undefined ? 'none' : JSON.stringify(contentType.slice(0, 100))}`);
    }
    if (this.closed) return this.unavailable(req, res, 'the bridge is shutting down');
    if (this.active >= this.config.maxPendingRequests) {
      return this.unavailable(req, res, `${this.active} requests already being read or waiting for the sinks`);
    }
    const declared = Number(req.headers['content-length']);
    // Until the body is read its size is unknown (chunked): reserve the most it may be.
    const encoded = (req.headers['content-encoding'] ?? 'identity') !== 'identity';
    let held = Number.isFinite(declared) && declared >= 0 && !encoded ? Math.min(declared, this.config.maxBodyBytes) : this.config.maxBodyBytes;
    if (!this.reserve(held)) return this.unavailable(req, res, 'the bodies already waiting fill maxPendingBytes');
    this.active++;
    try {
      let text: string;
      try {
        text = await readBody(req, this.config.maxBodyBytes);
      } catch (err) {
        const e = err instanceof BodyError ? err : new BodyError(400, String(err));
        return this.refuse(req, res, e.status, e.message);
      }
      const bytes = Buffer.byteLength(text, 'utf8');
      const cost = parsedCost(bytes, scanJson(text));
      if (cost > this.config.maxPendingBytes) {
        return this.refuse(req, res, 413, `the body would take about ${cost} bytes once parsed, more than maxPendingBytes (${this.config.maxPendingBytes}); send smaller batches`);
      }
      if (!this.reserve(cost - held)) return this.unavailable(req, res, 'the bodies already waiting fill maxPendingBytes');
      held = cost;

      const parsed = parseAuditBody(text, { cluster: this.config.cluster, maxEvents: this.config.maxEventsPerRequest });
      if (!parsed.ok) {
        sendJson(res, parsed.status, { error: parsed.error, problems: parsed.problems });
        this.log.warn('invalid-body', { status: parsed.status, error: parsed.error }, 'webhook request refused');
        return parsed.status;
      }
      if (parsed.events.length === 0 && parsed.rejects.length === 0) {
        sendJson(res, 200, { status: 'ok', events: 0 });
        return 200;
      }
      const outcome = await this.enqueue(parsed.events, parsed.rejects);
      if (outcome.delivered) {
        sendJson(res, 200, { status: 'ok', events: parsed.events.length, ...(parsed.rejects.length > 0 ? { rejected: parsed.rejects.length } : {}) });
        return 200;
      }
      return this.unavailable(req, res, outcome.reason);
    } finally {
      this.active--;
      this.reserved -= held;
    }
  }

  private reserve(bytes: number): boolean {
    if (bytes > 0 && this.reserved + bytes > this.config.maxPendingBytes) return false;
    this.reserved += bytes;
    return true;
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): number {
    discardBody(req);
    sendJson(res, status, { error }, headers);
    this.log.warn(`refused-${status}`, { status, error, remote: req.socket.remoteAddress }, 'webhook request refused');
    return status;
  }

  private unavailable(req: IncomingMessage, res: ServerResponse, reason: string): number {
    discardBody(req);
    sendJson(res, 503, { error: `not delivered yet: ${reason}; retry` }, { 'retry-after': '1' });
    return 503;
  }

  /** Queues the batch and waits for its outcome, or for ackTimeout. */
  private enqueue(events: SourceBatch['events'], rejects: Reject[]): Promise<BatchOutcome> {
    return new Promise<BatchOutcome>((resolve) => {
      let done = false;
      const finish = (outcome: BatchOutcome): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const entry: Queued = { batch: { source: this.name, events, rejects, settle: finish }, taken: false };
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

  /** Undefined when the request may proceed, else why not (said to the sender, so it says nothing of the secret). */
  private async authenticate(req: IncomingMessage): Promise<string | undefined> {
    const { open, methods } = this.describeAuthentication();
    if (methods.length === 0) return open ? undefined : 'this source has no authentication configured, so it accepts no one';
    if (this.deps.mtls) {
      const socket = req.socket as Partial<TLSSocket>;
      if (socket.authorized !== true) return 'a client certificate signed by the configured CA is required';
      if (this.config.allowedClientNames && !this.config.allowedClientNames.some((n) => certificateNames(socket).includes(n))) {
        return 'the client certificate is not one of allowedClientNames';
      }
    }
    if (this.token) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!match) return 'missing or wrong bearer token';
      let expected: string;
      try {
        expected = await this.token.read();
      } catch (err) {
        this.log.error('token-file', { error: (err as Error).message }, 'cannot read the bearer token file; refusing every request until it can be read');
        return 'missing or wrong bearer token';
      }
      // Hash both sides to equal length so the comparison time says nothing about the token.
      const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
      if (!timingSafeEqual(digest(match[1]!), digest(expected))) return 'missing or wrong bearer token';
    }
    return undefined;
  }
}

/** The subject common name and DNS names of the peer's certificate. */
function certificateNames(socket: Partial<TLSSocket>): string[] {
  const cert = socket.getPeerCertificate?.();
  if (!cert) return [];
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  for (const entry of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(entry);
    if (m) names.push(m[1]!.trim());
  }
  return names;
}

/**
 * Lets an unread body flow to nowhere so that the answer reaches a client still sending, up to a
 * bound: past it the connection is closed rather than read without end.
 */
function discardBody(req: IncomingMessage): void {
  if (req.readableEnded || req.destroyed) return;
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT) req.socket.destroy();
  });
  req.resume();
}

/** How much of a refused body is read and thrown away so that the client sees the answer. */
const DISCARD_LIMIT = 16 * 1024 * 1024;
