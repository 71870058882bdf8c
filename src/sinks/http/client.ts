import { request, type Agent } from 'undici';
import type { HttpClientFields } from './config.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { linkSignals } from '../../util/abort.js';
import { PermanentDeliveryError, TransientDeliveryError } from '../../pipeline/types.js';
import { parseRetryAfter } from '../../util/backoff.js';
import { abortReason, type Clock } from '../../util/clock.js';
import { classifyStatus } from './classify.js';
import { CredentialError, Credentials } from './credentials.js';
import { createDispatcher } from './dispatcher.js';

/** How much of a refusing response is kept for the dead-letter file and the logs. */
export const RESPONSE_START_BYTES = 1024;

export interface HttpClientSettings extends HttpClientFields {
  url: string;
}

export interface HttpClientDeps {
  logger: Logger;
  /** Retry-After dates are read against this clock; request timeouts are real time. */
  clock: Clock;
  metrics?: Metrics;
  /** Names this client in metrics (`target` label) and logs: the sink or alert output. */
  target: string;
  /** Connections kept open to the origin; match the caller's concurrency. Default 4. */
  connections?: number;
  /** Where basicAuth.passwordEnv is looked up; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export interface PostRequest {
  body: string | Uint8Array;
  contentType: string;
  /** Per-request headers (Content-Encoding, say); they override the configured static headers. */
  headers?: Record<string, string>;
  /** Aborting it ends the attempt (and the retries) with the signal's reason. */
  signal?: AbortSignal;
}

export type AttemptResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'transient'; status?: number; reason: string; retryAfterMs?: number }
  | { outcome: 'permanent'; status: number; reason: string; response: string };

class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`no complete answer within ${ms} ms`);
    this.name = 'RequestTimeout';
  }
}

/**
 * POSTs bodies to one URL with the configured TLS, authentication, static headers and timeout,
 * and tells delivered, transient and permanent outcomes apart (classify.ts). Retrying is not its
 * business: the delivery path (src/pipeline/deliver.ts) retries the sink's or alert output's write,
 * with the backoff the settings give (retry.initialBackoff, retry.maxBackoff). It knows nothing of
 * audit events: the webhook sink and the alert outputs both build on it.
 */
export class HttpClient {
  readonly url: URL;
  private readonly dispatcher: Agent;
  private readonly credentials: Credentials;
  private readonly staticHeaders: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(
    settings: HttpClientSettings,
    private readonly deps: HttpClientDeps,
  ) {
    this.url = new URL(settings.url);
    this.timeoutMs = settings.requestTimeout;
    this.credentials = Credentials.from(settings, deps.env);
    this.staticHeaders = Object.fromEntries(Object.entries(settings.headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.dispatcher = createDispatcher(
      this.url,
      settings,
      { connections: deps.connections ?? 4, requestTimeoutMs: settings.requestTimeout },
      deps.logger,
    );
  }

  /** One request. Never throws for a failed delivery; only the abort reason when the signal aborts. */
  async attempt(req: PostRequest): Promise<AttemptResult> {
    if (req.signal?.aborted) throw abortReason(req.signal);
    const started = performance.now();
    const result = await this.exchange(req);
    if (req.signal?.aborted) throw abortReason(req.signal);
    const { metrics, target } = this.deps;
    if (metrics) {
      const code = 'status' in result && result.status !== undefined ? String(result.status) : codeOf(result);
      metrics.httpClientRequests.inc({ target, code });
      metrics.httpClientDuration.observe({ target }, (performance.now() - started) / 1000);
    }
    return result;
  }

  /**
   * One request, as the delivery path wants it: resolves when delivered, throws
   * TransientDeliveryError (network, timeout, 408, 429, 5xx; with Retry-After) or
   * PermanentDeliveryError (any other answer, with the status and the start of the response) so
   * that src/pipeline/deliver.ts retries or narrows. It never retries by itself.
   */
  async send(req: PostRequest): Promise<void> {
    const result = await this.attempt(req);
    if (result.outcome === 'delivered') return;
    if (result.outcome === 'transient') throw new TransientDeliveryError(result.reason, result.retryAfterMs);
    throw new PermanentDeliveryError(`HTTP ${result.status} from ${this.url.origin}`, { status: result.status, response: result.response });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async exchange(req: PostRequest): Promise<AttemptResult> {
    let authorization: string | undefined;
    try {
      authorization = await this.credentials.authorization();
    } catch (err) {
      if (err instanceof CredentialError) return { outcome: 'transient', reason: err.message };
      throw err;
    }
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new RequestTimeout(this.timeoutMs)), this.timeoutMs);
    const linked = linkSignals([req.signal, timeout.signal]);
    try {
      const res = await request(this.url, {
        dispatcher: this.dispatcher,
        method: 'POST',
        body: req.body,
        signal: linked.signal,
        headers: {
          ...this.staticHeaders,
          'content-type': req.contentType,
          ...req.headers,
          ...(authorization !== undefined ? { authorization } : {}),
        },
      });
      const status = res.statusCode;
      switch (classifyStatus(status)) {
        case 'delivered':
          await res.body.dump();
          return { outcome: 'delivered', status };
        case 'transient': {
          const header = res.headers['retry-after'];
          const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header, this.deps.clock.now());
          await res.body.dump();
          return { outcome: 'transient', status, reason: `HTTP ${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
        }
        case 'permanent': {
          const response = await readStart(res.body, RESPONSE_START_BYTES);
          return { outcome: 'permanent', status, reason: `HTTP ${status}`, response };
        }
      }
    } catch (err) {
      if (req.signal?.aborted) throw abortReason(req.signal);
      if (timeout.signal.aborted) return { outcome: 'transient', reason: `timeout: ${(timeout.signal.reason as Error).message}` };
      return { outcome: 'transient', reason: describeError(err) };
    } finally {
      clearTimeout(timer);
      linked.dispose();
    }
  }
}

/** The first `limit` bytes of a response body as text; the rest is discarded. */
async function readStart(body: AsyncIterable<Buffer | string>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      chunks.push(buf);
      size += buf.length;
      if (size >= limit) break;
    }
  } catch {
    // A body that breaks off still leaves the status, which is what matters.
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** A network error as "CODE: message", following undici's wrapped causes (TLS errors sit in `cause`). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 3; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    parts.push(code ? `${code}: ${current.message}` : current.message);
    current = current.cause;
  }
  return parts.join(' <- ') || String(err);
}

function codeOf(result: AttemptResult): string {
  if (result.outcome !== 'transient') return 'error';
  if (result.reason.startsWith('timeout')) return 'timeout';
  if (result.reason.startsWith('bearerTokenFile') || result.reason.startsWith('basicAuth')) return 'credentials';
  return 'network';
}
