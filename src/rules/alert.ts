// Alerts in Falco's JSON output shape (src/rules/README.md), so Falcosidekick and anything else
// that reads Falco alerts reads ours, plus the event's auditID and cluster.
import { parseMicroTime } from '../event/event.js';
import { priorityLabel } from './priority.js';
import type { CompiledRule } from './rule.js';

export interface Alert {
  auditID: string | null;
  cluster: string | null;
  hostname: string;
  /** "<time of day with 9 digits>: <Priority> <message>", as Falco prefixes its output. */
  output: string;
  /** Every placeholder of the message with its value (null when missing), and evt.time in ns. */
  output_fields: Record<string, unknown>;
  priority: string;
  rule: string;
  source: 'k8s_audit';
  tags: string[];
  /** The event's stageTimestamp with nine fractional digits. */
  time: string;
}

export interface AlertContext {
  hostname: string;
  /** For events without a readable stageTimestamp. */
  nowMs: number;
}

export function buildAlert(rule: CompiledRule, event: unknown, context: AlertContext): Alert {
  const e = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const micros = eventMicros(e) ?? BigInt(Math.trunc(context.nowMs)) * 1000n;
  const nanos = micros * 1000n;
  const time = formatNanoTime(nanos);
  const priority = priorityLabel(rule.priority);
  const fields = rule.message.fieldValues(event);
  fields['evt.time'] = nanos;
  const annotations = e.annotations as Record<string, unknown> | undefined;
  const cluster = annotations && typeof annotations.cluster_name === 'string' ? annotations.cluster_name : null;
  return {
    auditID: typeof e.auditID === 'string' ? e.auditID : null,
    cluster,
    hostname: context.hostname,
    output: `${time.slice(11, 29)}: ${priority} ${rule.message.render(event)}`,
    output_fields: fields,
    priority,
    rule: rule.name,
    source: 'k8s_audit',
    tags: [...rule.tags],
    time,
  };
}

function eventMicros(e: Record<string, unknown>): bigint | undefined {
  for (const key of ['stageTimestamp', 'requestReceivedTimestamp'] as const) {
    const value = e[key];
    if (typeof value === 'string') {
      const micros = parseMicroTime(value);
      if (micros !== undefined) return micros;
    }
  }
  return undefined;
}

/** 2025-02-10T09:15:57.508657000Z from epoch nanoseconds. */
export function formatNanoTime(nanos: bigint): string {
  const millis = nanos / 1_000_000n - (nanos % 1_000_000n < 0n ? 1n : 0n);
  const fraction = ((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${new Date(Number(millis)).toISOString().slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}

/**
 * One alert as a JSON line (without the newline). evt.time is written as an exact integer, as
 * Falco writes it, though nanoseconds since 1970 exceed what a JavaScript number holds exactly.
 */
export function alertToJSON(alert: Alert): string {
  const { 'evt.time': evtTime, ...rest } = alert.output_fields;
  const text = JSON.stringify({ ...alert, output_fields: rest });
  if (typeof evtTime !== 'bigint') return text;
  // output_fields is followed by "priority"; append evt.time as the last field of that object.
  const marker = '},"priority":';
  const at = text.lastIndexOf(marker);
  const empty = text[at - 1] === '{';
  return `${text.slice(0, at)}${empty ? '' : ','}"evt.time":${evtTime.toString()}${text.slice(at)}`;
}

/** The rendered message without Falco's "time: Priority " prefix. */
export function alertMessage(alert: Alert): string {
  return alert.output.slice(18 + 2 + alert.priority.length + 1);
}
