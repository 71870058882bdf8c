import { isRfc3339, TRUNCATED_ANNOTATION, withAnnotations, type AuditEvent } from '../../event/event.js';
import { encodeEvent } from './format.js';

export type Fitted =
  | { ok: true; event: AuditEvent; full: string; bytes: number; truncated: boolean }
  | { ok: false; reason: string };

/**
 * Brings an event within maxEventBytes (measured on its top-level encoding, the largest form it
 * takes in any body) the way the kube-apiserver's truncate backend does: requestObject and
 * responseObject dropped, annotation audit.k8s.io/truncated: "true". An event still too big is
 * not silently dropped as the apiserver does: the caller dead-letters it with the reason.
 */
export function fitEvent(event: AuditEvent, maxEventBytes: number): Fitted {
  const full = encodeEvent(event);
  const bytes = Buffer.byteLength(full);
  if (bytes <= maxEventBytes) return { ok: true, event, full, bytes, truncated: false };

  if (event.requestObject === undefined && event.responseObject === undefined) {
    return { ok: false, reason: `event of ${bytes} bytes exceeds maxEventBytes (${maxEventBytes}) and has no request or response object to drop` };
  }
  const cut = truncateEvent(event);
  const cutFull = encodeEvent(cut);
  const cutBytes = Buffer.byteLength(cutFull);
  if (cutBytes <= maxEventBytes) return { ok: true, event: cut, full: cutFull, bytes: cutBytes, truncated: true };
  return {
    ok: false,
    reason: `event of ${bytes} bytes exceeds maxEventBytes (${maxEventBytes}) even truncated (${cutBytes} bytes without request and response objects)`,
  };
}

export function truncateEvent(event: AuditEvent): AuditEvent {
  const { requestObject: _request, responseObject: _response, ...rest } = event;
  return withAnnotations(rest, { [TRUNCATED_ANNOTATION]: 'true' });
}

/** Falco drops an event without an auditID or an RFC 3339 stageTimestamp; say why instead. */
export function missingAuditFields(event: Pick<AuditEvent, 'auditID' | 'stageTimestamp'>): string | undefined {
  if (typeof event.auditID !== 'string' || event.auditID === '') return 'event has no auditID, which the receiver requires';
  if (!isRfc3339(event.stageTimestamp)) return 'event has no RFC 3339 stageTimestamp, which the receiver requires';
  return undefined;
}
