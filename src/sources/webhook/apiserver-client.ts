import { request } from 'undici';
import type { AuditEvent } from '../../event/event.js';
import { goJSON } from '../../event/encode.js';
import { systemClock, type Clock } from '../../util/clock.js';

export interface AuditWebhookClientOptions {
  url: string;
  bearerToken?: string;
  /** --audit-webhook-batch-max-size */
  batchMaxSize?: number;
  /** --audit-webhook-initial-backoff (the apiserver's default is 10 s). */
  initialBackoffMs?: number;
  /** Attempts per batch before it is given up, as the apiserver's 5 retry steps. */
  maxAttempts?: number;
  timeoutMs?: number;
  clock?: Clock;
}

export interface PostResult {
  delivered: number;
  dropped: number;
  attempts: number;
  statuses: number[];
}

/**
 * Posts audit events the way the kube-apiserver's webhook backend does (reference: k8s.io/apiserver
 * plugin/pkg/audit/webhook): EventList bodies of at most batchMaxSize items whose items carry no
 * kind/apiVersion, any 2xx is success, everything else is retried with backoff (factor 1.5,
 * jitter 0.2) and the batch is dropped after the last attempt.
 */
export class AuditWebhookClient {
  private readonly clock: Clock;

  constructor(private readonly options: AuditWebhookClientOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async post(events: readonly AuditEvent[]): Promise<PostResult> {
    const size = this.options.batchMaxSize ?? 400;
    const result: PostResult = { delivered: 0, dropped: 0, attempts: 0, statuses: [] };
    for (let i = 0; i < events.length; i += size) {
      const batch = events.slice(i, i + size);
      const ok = await this.postBatch(batch, result);
      if (ok) result.delivered += batch.length;
      else result.dropped += batch.length;
    }
    return result;
  }

  /** One EventList body, exactly as the apiserver encodes it. */
  static body(events: readonly AuditEvent[]): string {
    const items = events.map(({ kind: _k, apiVersion: _v, ...rest }) => rest);
    return goJSON({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
  }

  private async postBatch(events: readonly AuditEvent[], result: PostResult): Promise<boolean> {
    const body = AuditWebhookClient.body(events);
    const maxAttempts = this.options.maxAttempts ?? 6;
    let backoff = this.options.initialBackoffMs ?? 10_000;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      result.attempts++;
      try {
        const res = await request(this.options.url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            ...(this.options.bearerToken ? { authorization: `Bearer ${this.options.bearerToken}` } : {}),
          },
          headersTimeout: this.options.timeoutMs ?? 30_000,
          bodyTimeout: this.options.timeoutMs ?? 30_000,
        });
        await res.body.dump();
        result.statuses.push(res.statusCode);
        if (res.statusCode >= 200 && res.statusCode < 300) return true;
      } catch {
        result.statuses.push(0);
      }
      if (attempt < maxAttempts) {
        await this.clock.sleep(backoff * (1 + Math.random() * 0.2));
        backoff *= 1.5;
      }
    }
    return false;
  }
}
