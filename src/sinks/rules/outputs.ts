// Alert outputs: where a rules sink sends the alerts it raises. Each resolves send() only when
// the destination has every alert, retrying transient failures itself, so that the sink's write
// acknowledges a batch only once its alerts are delivered.
import type { Writable } from 'node:stream';
import type { AlertOutputConfig } from './config.js';
import { PermanentDeliveryError } from '../../pipeline/types.js';
import { alertToJSON, type Alert } from '../../rules/alert.js';
import type { Priority } from '../../rules/priority.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Clock } from '../../util/clock.js';
import { Semaphore } from '../../util/semaphore.js';
import { HttpClient, type HttpClientSettings } from '../http/client.js';
import { slackPayload } from './slack.js';

export interface AlertOutput {
  /** For logs and metrics: the type, numbered when a sink has several of one type (slack-2). */
  readonly name: string;
  readonly minPriority: Priority | undefined;
  send(alerts: readonly Alert[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface AlertOutputContext {
  clock: Clock;
  logger: Logger;
  stdout?: Writable | undefined;
  onRetry?: (output: string) => void;
}

/** Falco alerts as JSON lines, one per alert. */
export class StdoutAlertOutput implements AlertOutput {
  constructor(
    readonly name: string,
    readonly minPriority: Priority | undefined,
    private readonly out: Writable = process.stdout,
  ) {}

  send(alerts: readonly Alert[]): Promise<void> {
    if (alerts.length === 0) return Promise.resolve();
    const text = alerts.map((a) => `${alertToJSON(a)}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    // stdout belongs to the process.
  }
}

/** Alerts POSTed one per request (what Falcosidekick and Slack expect), a few at a time. */
export class HttpAlertOutput implements AlertOutput {
  private readonly slots: Semaphore;

  constructor(
    readonly name: string,
    readonly minPriority: Priority | undefined,
    private readonly client: HttpClient,
    private readonly body: (alert: Alert) => string,
    private readonly onRetry?: () => void,
    concurrency = CONCURRENCY,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  async send(alerts: readonly Alert[], signal: AbortSignal): Promise<void> {
    const results = await Promise.allSettled(
      alerts.map(async (alert) => {
        await this.slots.acquire(signal);
        try {
          const result = await this.client.post({ body: this.body(alert), contentType: 'application/json', signal, onRetry: this.onRetry });
          if (!result.delivered) {
            throw new PermanentDeliveryError(`HTTP ${result.status} from ${this.client.url.origin}`, { status: result.status, response: result.response });
          }
        } finally {
          this.slots.release();
        }
      }),
    );
    const refusals: { rule: string; auditID: string | null; reason: string; detail: Record<string, unknown> }[] = [];
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') continue;
      if (!(result.reason instanceof PermanentDeliveryError)) throw result.reason;
      const alert = alerts[i]!;
      refusals.push({ rule: alert.rule, auditID: alert.auditID, reason: result.reason.message, detail: result.reason.detail });
    }
    if (refusals.length > 0) {
      throw new PermanentDeliveryError(`alert output ${this.name} refused ${refusals.length} of ${alerts.length} alerts: ${refusals[0]!.reason}`, {
        output: this.name,
        refusals,
      });
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export function createAlertOutputs(configs: readonly AlertOutputConfig[], ctx: AlertOutputContext): AlertOutput[] {
  const counts = new Map<string, number>();
  for (const c of configs) counts.set(c.type, (counts.get(c.type) ?? 0) + 1);
  const seen = new Map<string, number>();
  return configs.map((config) => {
    const n = (seen.get(config.type) ?? 0) + 1;
    seen.set(config.type, n);
    const name = counts.get(config.type)! > 1 ? `${config.type}-${n}` : config.type;
    switch (config.type) {
      case 'stdout':
        return new StdoutAlertOutput(name, config.minPriority, ctx.stdout);
      case 'webhook':
        return new HttpAlertOutput(name, config.minPriority, client(name, config, ctx), alertToJSON, () => ctx.onRetry?.(name));
      case 'slack':
        // A Slack incoming webhook takes no auth but its URL; the rest of the client settings keep their defaults.
        return new HttpAlertOutput(
          name,
          config.minPriority,
          client(name, { ...config, headers: {}, insecureSkipVerify: false }, ctx),
          (alert) => JSON.stringify(slackPayload(alert, { channel: config.channel, username: config.username })),
          () => ctx.onRetry?.(name),
        );
    }
  });
}

/** Alerts are POSTed one per request, this many at a time per output. */
const CONCURRENCY = 4;

function client(name: string, settings: HttpClientSettings, ctx: AlertOutputContext): HttpClient {
  return new HttpClient(settings, { clock: ctx.clock, logger: ctx.logger.child({ output: name }), target: `alerts:${name}`, connections: CONCURRENCY });
}
