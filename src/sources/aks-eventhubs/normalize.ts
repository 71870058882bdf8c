// Event Hubs messages of an AKS diagnostic setting → audit.k8s.io/v1 Events. A message is
// {"records": [...]}; each record carries the Event as JSON text in properties.log, exactly what
// Log Analytics stores in AzureDiagnostics.log_s. Records are therefore handed to the polled
// source's normalizer (src/sources/aks/normalize.ts) as that row, so the same record gives the
// same Event and the same annotations whichever way it was read. Pure: no I/O, never throws.
import { describe, isPlainObject, isReject, type AuditEvent, type Reject } from '../../event/event.js';
import { normalizeDiagnosticsRow, type AksContext } from '../aks/normalize.js';

/** The categories an AKS diagnostic setting sends the kube-apiserver's audit log under. */
export const AUDIT_CATEGORIES: ReadonlySet<string> = new Set(['kube-audit', 'kube-audit-admin']);

// klog's text header: severity, MMDD, time with microseconds (kube-apiserver's own log lines).
const KLOG_LINE = /^\uFEFF?[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s/;

export interface MessageOutcome {
  events: AuditEvent[];
  rejects: Reject[];
  /** Records the message held (events + record rejects), 0 for a message that is not {"records": [...]}. */
  records: number;
}

/**
 * One message body (the bytes the hub holds, a string, or a value the SDK already parsed) to Events
 * and rejects. A body that is not {"records": [...]} is one reject; every record is on its own.
 */
export function normalizeMessage(body: unknown, ctx: AksContext, ref: string, out: MessageOutcome = { events: [], rejects: [], records: 0 }): MessageOutcome {
  let message: unknown = body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array || typeof body === 'string') {
    const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    try {
      message = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      // The parser's message quotes the text; the reason is logged, the payload never is.
      out.rejects.push({ reason: `message body is not JSON (${Buffer.byteLength(text, 'utf8')} bytes; a record cut in transit?)`, raw: text, ref });
      return out;
    }
  }
  if (!isPlainObject(message) || !Array.isArray(message.records)) {
    const what = isPlainObject(message) ? `an object without a records list (keys: ${Object.keys(message).slice(0, 5).join(', ') || 'none'})` : describeShape(message);
    out.rejects.push({ reason: `message body: expected {"records": [...]} as a diagnostic setting sends it, got ${what}`, raw: message, ref });
    return out;
  }
  const records = message.records as unknown[];
  out.records += records.length;
  for (let i = 0; i < records.length; i++) {
    const result = normalizeRecord(records[i], ctx, `${ref}, record ${i}`);
    if (isReject(result)) out.rejects.push(result);
    else out.events.push(result);
  }
  return out;
}

/** One diagnostic record (category, resourceId, properties.log, ...) to an Event or a reject. */
export function normalizeRecord(record: unknown, ctx: AksContext = {}, ref?: string): AuditEvent | Reject {
  if (!isPlainObject(record)) return reject(`expected a diagnostic record (an object), got ${describeShape(record)}`, record, ref);
  const category = record.category ?? record.Category;
  if (typeof category !== 'string' || !AUDIT_CATEGORIES.has(category)) {
    return reject(
      `category ${typeof category === 'string' ? JSON.stringify(category.slice(0, 60)) : describeShape(category)} is not kube-audit or kube-audit-admin: ` +
        'another log of the cluster sent to this hub by the diagnostic setting, not an audit event',
      record,
      ref,
    );
  }
  const properties = record.properties;
  if (!isPlainObject(properties)) return reject(`properties: expected an object holding the audit event in log, got ${describeShape(properties)}`, record, ref);
  let log = properties.log;
  if (isPlainObject(log)) {
    // Some pipelines hand the Event over already decoded; the row normalizer reads text.
    log = JSON.stringify(log);
  } else if (typeof log === 'string' && KLOG_LINE.test(log)) {
    return reject('properties.log is a klog text line (the kube-apiserver\'s own log), not an audit Event', record, ref);
  }
  const resourceId = record.resourceId ?? record.ResourceId;
  const row: Record<string, unknown> = { log_s: log, Category: category };
  if (typeof resourceId === 'string') row.ResourceId = resourceId;
  const result = normalizeDiagnosticsRow(row, ctx, ref);
  if (!isReject(result)) return result;
  // Same reason as the polled source gives for the same text, named by this record's field.
  return reject(result.reason.replace(/\blog_s\b/g, 'properties.log'), record, ref);
}

function describeShape(value: unknown): string {
  // describe() quotes strings; a shape is enough here (reasons are logged, payloads are not).
  return typeof value === 'string' ? `a string of ${value.length} characters` : describe(value);
}

function reject(reason: string, raw: unknown, ref: string | undefined): Reject {
  return ref === undefined ? { reason, raw } : { reason, raw, ref };
}

/** A message's place, for rejects and the dead-letter file: what the Event Hubs tools show. */
export function messageRef(partitionId: string, sequenceNumber: number): string {
  return `partition ${partitionId}, sequence number ${sequenceNumber}`;
}

/** A message body as text for a worker thread; a body the SDK already decoded goes back to JSON. */
export function bodyText(body: unknown): unknown {
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return JSON.stringify(body) ?? null;
}

/**
 * How the runner's worker threads normalize a message (SourceBatch.deferred): one message, many
 * records, so a list of events and rejects.
 */
export const messageConverter = {
  normalize(record: unknown, ref: string, context: Readonly<Record<string, string | undefined>>): (AuditEvent | Reject)[] {
    const out = normalizeMessage(record, context.cluster ? { cluster: context.cluster } : {}, ref);
    return [...out.events, ...out.rejects];
  },
};

/** messageConverter by reference. */
export const MESSAGE_CONVERTER = { module: 'sources/aks-eventhubs/normalize.js', export: 'messageConverter' } as const;
