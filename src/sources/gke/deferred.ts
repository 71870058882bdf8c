// A GKE LogEntry on its way to a worker thread (src/pipeline/prepare.ts). The SDK decodes the
// LogEntry itself, cheaply, but leaves the AuditLog in protoPayload as bytes: decoding those into
// JSON, normalizing and encoding is most of a GKE event's cost, and that is what the workers take.
// The record is plain data of one shape for every entry, so that a page crosses packed column by
// column (src/pipeline/pack.ts), the AuditLog bytes in one buffer.
import type { AuditEvent, Reject } from '../../event/event.js';
import { decodeWireEntry, type WireEntryHead } from './entry.js';
import { normalizeGkeEntry } from './normalize.js';

/** A LogEntry read as far as its AuditLog (readWireEntry), in the shape that crosses to a worker. */
export interface DeferredGkeEntry {
  json: Record<string, unknown>;
  /** Epoch nanoseconds as decimal text; empty when the entry has none. */
  timestampNs: string;
  insertId: string;
  /** Why readWireEntry refused the entry; empty when it did not. */
  failure: string;
  /** The AuditLog bytes; `hasAuditLog` tells an empty AuditLog from an entry without one. */
  auditLog: Uint8Array;
  hasAuditLog: boolean;
}

export function deferGkeEntry(head: WireEntryHead): DeferredGkeEntry {
  const timestampNs = head.timestampNs === undefined ? '' : String(head.timestampNs);
  if (!head.ok) return { json: head.raw, timestampNs, insertId: head.insertId ?? '', failure: head.reason, auditLog: new Uint8Array(), hasAuditLog: false };
  return { json: head.json, timestampNs, insertId: head.insertId, failure: '', auditLog: head.auditLog ?? new Uint8Array(), hasAuditLog: head.auditLog !== undefined };
}

function headOf(record: DeferredGkeEntry): WireEntryHead {
  const timestampNs = record.timestampNs === '' ? undefined : BigInt(record.timestampNs);
  if (record.failure !== '') {
    return { ok: false, reason: record.failure, raw: record.json, ...(timestampNs !== undefined ? { timestampNs } : {}), ...(record.insertId !== '' ? { insertId: record.insertId } : {}) };
  }
  // readWireEntry refuses an entry without a timestamp, so an accepted one has it.
  return { ok: true, json: record.json, timestampNs: timestampNs!, receiveNs: undefined, insertId: record.insertId, ...(record.hasAuditLog ? { auditLog: record.auditLog } : {}) };
}

/**
 * What the polled gke source's convert does with a LogEntry, on a deferred one: decode the
 * AuditLog, normalize. The context carries the source's keepTypeKey ('true' or absent).
 */
export const gkeEntryConverter = {
  normalize(record: unknown, ref: string, context: Readonly<Record<string, string | undefined>>): AuditEvent | Reject {
    const wire = decodeWireEntry(headOf(record as DeferredGkeEntry));
    if (!wire.ok) return { reason: wire.reason, raw: wire.raw, ref };
    return normalizeGkeEntry(wire.json, { keepTypeKey: context.keepTypeKey === 'true' }, wire.insertId);
  },
};

/** The converter the runner's workers normalize deferred GKE entries with. */
export const GKE_ENTRY_CONVERTER = { module: 'sources/gke/deferred.js', export: 'gkeEntryConverter' } as const;
