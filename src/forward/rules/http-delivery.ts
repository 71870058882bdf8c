// POSTs one body to one endpoint until it is acknowledged: transient failures (network errors,
// timeouts, 408, 429, 5xx) are retried with exponential backoff and full jitter, honouring
// Retry-After, for as long as the signal allows; any other status is a permanent refusal. TLS and
// authentication come from the shared HTTP client fields. Kept apart from the rules logic so it
// can move onto the webhook sink's delivery module with little change.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { PermanentDeliveryError } from '../../pipeline/types.js';
import type { Logger } from '../../telemetry/logger.js';
import { backoffDelay, parseRetryAfter, type BackoffPolicy } from '../../util/backoff.js';
import { abortReason, type Clock } from '../../util/clock.js';
import { SecretFile } from '../../util/secret-file.js';

export interface HttpTargetConfig {
  url: string;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
  bearerTokenFile?: string | undefined;
  basicAuth?:
    | {
        username?: string | undefined;
        usernameFile?: string | undefined;
        password?: string | undefined;
        passwordFile?: string | undefined;
        passwordEnv?: string | undefined;
      }
    | undefined;
  headers?: Record<string, string> | undefined;
  /** Milliseconds per attempt. */
  requestTimeout: number;
  retry: { initialBackoff: number; maxBackoff: number };
}

export interface HttpDeliveryOptions {
  clock: Clock;
  logger: Logger;
  /** Called before each retry with the reason, for metrics. */
  onRetry?: (reason: string) => void;
  random?: () => number;
}

/** How much of a refusal's response body is kept for the log and the dead-letter file. */
const RESPONSE_EXCERPT = 512;

export class HttpDelivery {
  private readonly dispatcher: Agent;
  private readonly backoff: BackoffPolicy;
  private readonly bearer: SecretFile | undefined;
  private readonly basic: { user: SecretFile | string; password: SecretFile | string } | undefined;
  /** Where requests go, without path or query: webhook URLs often carry their secret in the path. */
  readonly origin: string;

  constructor(
    private readonly config: HttpTargetConfig,
    private readonly options: HttpDeliveryOptions,
  ) {
    this.origin = new URL(config.url).origin;
    const read = (file: string | undefined): Buffer | undefined => (file === undefined ? undefined : readFileSync(file));
    this.dispatcher = new Agent({
      connect: {
        ca: read(config.caFile),
        cert: read(config.certFile),
        key: read(config.keyFile),
        rejectUnauthorized: !(config.insecureSkipVerify ?? false),
      },
    });
    this.backoff = { initialMs: config.retry.initialBackoff, maxMs: config.retry.maxBackoff };
    this.bearer = config.bearerTokenFile === undefined ? undefined : new SecretFile(config.bearerTokenFile);
    const auth = config.basicAuth;
    if (auth) {
      const user = auth.usernameFile !== undefined ? new SecretFile(auth.usernameFile) : (auth.username ?? '');
      let password: SecretFile | string;
      if (auth.passwordFile !== undefined) password = new SecretFile(auth.passwordFile);
      else if (auth.passwordEnv !== undefined) password = process.env[auth.passwordEnv] ?? '';
      else password = auth.password ?? '';
      this.basic = { user, password };
    }
  }

  /**
   * Resolves once the endpoint answered 2xx. Throws PermanentDeliveryError on a refusal that
   * retrying cannot fix, and the signal's reason when it aborts; retries everything else.
   */
  async post(body: string, contentType: string, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw abortReason(signal);
      const failure = await this.attempt(body, contentType, signal);
      if (failure === undefined) return;
      if (signal.aborted) throw abortReason(signal);
      this.options.onRetry?.(failure.reason);
      const delay = backoffDelay(attempt, this.backoff, failure.retryAfterMs, this.options.random);
      this.options.logger.warn({ endpoint: this.origin, attempt, retryInMs: delay, error: failure.reason }, 'alert delivery failed; retrying');
      await this.options.clock.sleep(delay, signal);
    }
  }

  private async attempt(body: string, contentType: string, signal: AbortSignal): Promise<{ reason: string; retryAfterMs?: number } | undefined> {
    let headers: Record<string, string>;
    try {
      headers = { ...(this.config.headers ?? {}), 'content-type': contentType, ...(await this.authorization()) };
    } catch (err) {
      // An unreadable credential file may be mid-rotation: retry rather than refuse.
      return { reason: `cannot read a credential: ${(err as Error).message}` };
    }
    const attemptSignal = AbortSignal.any([signal, AbortSignal.timeout(this.config.requestTimeout)]);
    try {
      const response = await request(this.config.url, { method: 'POST', body, headers, dispatcher: this.dispatcher, signal: attemptSignal });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await response.body.dump();
        return undefined;
      }
      const text = (await response.body.text()).slice(0, RESPONSE_EXCERPT);
      const retryAfterHeader = response.headers['retry-after'];
      const retryAfterMs = parseRetryAfter(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader, this.options.clock.now());
      if (status === 408 || status === 429 || status >= 500) {
        return { reason: `HTTP ${status} from ${this.origin}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
      }
      throw new PermanentDeliveryError(`HTTP ${status} from ${this.origin}`, { status, response: text });
    } catch (err) {
      if (err instanceof PermanentDeliveryError) throw err;
      if (signal.aborted) throw abortReason(signal);
      const reason = attemptSignal.aborted ? `no answer from ${this.origin} within ${this.config.requestTimeout} ms` : `${this.origin}: ${describeError(err)}`;
      return { reason };
    }
  }

  private async authorization(): Promise<Record<string, string>> {
    if (this.bearer) return { authorization: `Bearer ${await this.bearer.read()}` };
    if (this.basic) {
      const value = async (v: SecretFile | string): Promise<string> => (typeof v === 'string' ? v : v.read());
      const credentials = `${await value(this.basic.user)}:${await value(this.basic.password)}`;
      return { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
    }
    return {};
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = (err as { code?: string }).code ?? (cause as { code?: string } | undefined)?.code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
