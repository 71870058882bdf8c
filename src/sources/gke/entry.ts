// A LogEntry as the SDK's raw ListLogEntries response holds it → the JSON form gcloud prints,
// which is what the normalizer reads. Timestamps are taken from the raw {seconds, nanos}: the
// SDK's Entry objects carry a Date, which would cut the microseconds off every audit timestamp.

import { isPlainObject } from '../../event/event.js';
import { AUDIT_LOG_TYPE } from './normalize.js';
import { AuditLogTooDeepError, decodeAuditLog } from './audit-log.js';
import { formatTimeNs, timestampToNs } from './time.js';

export type WireEntryResult =
  | { ok: true; json: Record<string, unknown>; timestampNs: bigint; receiveNs: bigint | undefined; insertId: string }
  | { ok: false; reason: string; raw: Record<string, unknown>; timestampNs?: bigint; insertId?: string };

/**
 * A LogEntry read as far as its AuditLog payload, which is left as bytes: what the main thread does
 * when the payload is decoded in a worker thread (src/pipeline/prepare.ts). Plain data.
 */
export type WireEntryHead =
  | { ok: true; json: Record<string, unknown>; timestampNs: bigint; receiveNs: bigint | undefined; insertId: string; auditLog?: Uint8Array }
  | Extract<WireEntryResult, { ok: false }>;

function bytesOf(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  return undefined;
}

export function fromWireEntry(raw: unknown): WireEntryResult {
  return decodeWireEntry(readWireEntry(raw));
}

/** Everything of a LogEntry but the AuditLog in its protoPayload, which stays bytes (`auditLog`). */
export function readWireEntry(raw: unknown): WireEntryHead {
  if (!isPlainObject(raw)) return { ok: false, reason: 'not a LogEntry', raw: { value: String(raw) } };
  const insertId = typeof raw.insertId === 'string' && raw.insertId !== '' ? raw.insertId : undefined;
  const timestampNs = timestampToNs(raw.timestamp);
  const json: Record<string, unknown> = {};
  if (insertId !== undefined) json.insertId = insertId;
  if (typeof raw.logName === 'string') json.logName = raw.logName;
  if (isPlainObject(raw.resource)) json.resource = raw.resource;
  if (isPlainObject(raw.labels)) json.labels = raw.labels;
  if (isPlainObject(raw.operation)) json.operation = raw.operation;
  if (timestampNs !== undefined) json.timestamp = formatTimeNs(timestampNs);
  const receiveNs = timestampToNs(raw.receiveTimestamp);
  if (receiveNs !== undefined) json.receiveTimestamp = formatTimeNs(receiveNs);
  if (typeof raw.textPayload === 'string' && raw.payload === 'textPayload') json.textPayload = raw.textPayload;
  if (isPlainObject(raw.jsonPayload) && raw.payload === 'jsonPayload') json.jsonPayload = {};

  const fail = (reason: string): WireEntryHead => ({ ok: false, reason, raw: json, timestampNs, insertId });
  if (insertId === undefined) return fail('malformed entry: no insertId');
  if (timestampNs === undefined) {
    return fail(raw.timestamp === undefined ? 'malformed entry: no timestamp' : 'malformed entry: timestamp is not a Timestamp from year 1 to 9999');
  }

  const any = raw.protoPayload;
  if (isPlainObject(any)) {
    const type = typeof any.type_url === 'string' ? any.type_url : typeof any.typeUrl === 'string' ? any.typeUrl : '';
    if (type !== AUDIT_LOG_TYPE) json.protoPayload = { '@type': type };
    else return { ok: true, json, timestampNs, receiveNs, insertId, auditLog: bytesOf(any.value) ?? new Uint8Array() };
  }
  return { ok: true, json, timestampNs, receiveNs, insertId };
}

/** The entry with its AuditLog decoded into protoPayload, as Cloud Logging shows it. */
export function decodeWireEntry(head: WireEntryHead): WireEntryResult {
  if (!head.ok) return head;
  const { auditLog, ...entry } = head;
  if (auditLog === undefined) return entry;
  const { json, timestampNs, insertId } = entry;
  try {
    json.protoPayload = decodeAuditLog(auditLog);
  } catch (err) {
    json.protoPayload = { '@type': AUDIT_LOG_TYPE, value: Buffer.from(auditLog).toString('base64') };
    // Too deep is the normalizer's reason for a body it would refuse: the same words for the same fault.
    const reason = err instanceof AuditLogTooDeepError ? `malformed entry: ${err.message}` : `malformed entry: protoPayload is not a decodable AuditLog (${(err as Error).message})`;
    return { ok: false, reason, raw: json, timestampNs, insertId };
  }
  return entry;
}
