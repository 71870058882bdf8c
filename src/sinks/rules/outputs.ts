// Alert outputs: where a rules sink sends the alerts it raises. send() is one attempt: it resolves
// when the destination has the alerts and throws TransientDeliveryError or PermanentDeliveryError
// otherwise; the rules sink delivers through the pipeline's delivery path, which retries or
// dead-letters (src/sinks/rules/sink.ts, src/pipeline/deliver.ts).
import type { Writable } from 'node:stream';
import type { AlertOutputConfig } from './config.js';
import { alertToJSON, type Alert } from '../../rules/alert.js';
import type { Priority } from '../../rules/priority.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Clock } from '../../util/clock.js';
import type { BackoffPolicy } from '../../util/backoff.js';
import { HttpClient, type HttpClientSettings } from '../http/client.js';
import { alertWriter, type OutputFormat, wantsColor } from '../stdout/format.js';
import { slackPayload } from './slack.js';

export interface AlertOutput {
  /** For logs and metrics: the type, numbered when a sink has several of one type (slack-2). */
  readonly name: string;
  readonly minPriority: Priority | undefined;
  /** One alert per send (a POST each); else all of a write's alerts in one send. */
  readonly perAlert: boolean;
  /** Between retries; default the delivery path's. */
  readonly backoff?: BackoffPolicy;
  send(alerts: readonly Alert[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface AlertOutputContext {
  clock: Clock;
  logger: Logger;
  stdout?: Writable | undefined;
}

/** Falco alerts on stdout, one per line: Falco's JSON alert, or Falco's text line (format: text). */
export class StdoutAlertOutput implements AlertOutput {
  readonly perAlert = false;
  private readonly render: (alert: Alert) => string;

  constructor(
    readonly name: string,
    readonly minPriority: Priority | undefined,
    private readonly out: Writable = process.stdout,
    format: OutputFormat = 'json',
    color: boolean = wantsColor(out),
  ) {
    this.render = alertWriter(format, color);
  }

  send(alerts: readonly Alert[]): Promise<void> {
    if (alerts.length === 0) return Promise.resolve();
    const text = alerts.map((a) => `${this.render(a)}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    // stdout belongs to the process.
  }
}

/** Alerts POSTed one per request, what Falcosidekick and Slack expect. */
export class HttpAlertOutput implements AlertOutput {
  readonly perAlert = true;
  readonly backoff: BackoffPolicy;

  constructor(
    readonly name: string,
    readonly minPriority: Priority | undefined,
    private readonly client: HttpClient,
    private readonly body: (alert: Alert) => string,
    retry: { initialBackoff: number; maxBackoff: number },
  ) {
    this.backoff = { initialMs: retry.initialBackoff, maxMs: retry.maxBackoff };
  }

  async send(alerts: readonly Alert[], signal: AbortSignal): Promise<void> {
    for (const alert of alerts) await this.client.send({ body: this.body(alert), contentType: 'application/json', signal });
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
        return new StdoutAlertOutput(name, config.minPriority, ctx.stdout, config.format);
      case 'webhook':
        return new HttpAlertOutput(name, config.minPriority, client(name, config, ctx), alertToJSON, config.retry);
      case 'slack':
        // A Slack incoming webhook takes no auth but its URL; the rest of the client settings keep their defaults.
        return new HttpAlertOutput(
          name,
          config.minPriority,
          client(name, { ...config, headers: {}, insecureSkipVerify: false }, ctx),
          (alert) => JSON.stringify(slackPayload(alert, { channel: config.channel, username: config.username })),
          config.retry,
        );
    }
  });
}

/** Connections kept per output: the rules sink sends this many alerts at a time (src/sinks/rules/sink.ts). */
const CONCURRENCY = 4;

function client(name: string, settings: HttpClientSettings, ctx: AlertOutputContext): HttpClient {
  return new HttpClient(settings, { clock: ctx.clock, logger: ctx.logger.child({ output: name }), target: `alerts:${name}`, connections: CONCURRENCY });
}
