// One Pub/Sub message of a Log Router sink → the Event its LogEntry records, or a reject.
//
// The sink writes the LogEntry in its JSON form (protoPayload a plain object with "@type", times
// RFC 3339 strings): the same form `gcloud logging read --format=json` prints and the polled source
// builds from the SDK's protobuf (src/sources/gke/entry.ts). So the entry goes to the gke
// normalizer as parsed; there is one normalizer for both encodings, and the golden tests in
// test/sources/gke-pubsub/ hold them to the same Events.

import { isReject, type AuditEvent, type Reject } from '../../event/event.js';
import { normalizeGkeEntry, type GkeNormalizeOptions } from '../gke/normalize.js';

/** A reject's ref: the message id, which the Pub/Sub console and `gcloud pubsub` show. */
export function messageRef(messageId: string): string {
  return `message ${messageId}`;
}

/**
 * Parses and normalizes one message's data. A reject keeps the data as text, so that the
 * dead-letter file's size and SHA-256 are those of the message as published.
 */
export function decodeSinkMessage(data: Buffer, messageId: string, options: GkeNormalizeOptions = {}): AuditEvent | Reject {
  return decodeSinkText(data.toString('utf8'), messageRef(messageId), data.length, options);
}

/** The same from the message's text (what crosses to a worker thread); `bytes` is the data's size. */
export function decodeSinkText(text: string, ref: string, bytes: number, options: GkeNormalizeOptions = {}): AuditEvent | Reject {
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch (err) {
    return { reason: notJsonReason(err, bytes), raw: text, ref };
  }
  const result = normalizeGkeEntry(entry, options, ref);
  return isReject(result) ? { reason: result.reason, raw: text, ref } : result;
}

/**
 * V8's parse errors quote the text around the fault ('Unexpected token 's', "secret-…" is not
 * valid JSON'), and reasons reach logs and metric labels: keep the position, never the text.
 */
function notJsonReason(err: unknown, bytes: number): string {
  const message = err instanceof Error ? err.message : '';
  if (/end of JSON input/i.test(message)) return `not JSON: the text ends before the value does (${bytes} bytes)`;
  const position = /position (\d+)/.exec(message)?.[1];
  return position === undefined ? `not JSON (${bytes} bytes)` : `not JSON: invalid at position ${position} of ${bytes} bytes`;
}

/**
 * How the runner's worker threads normalize a message (SourceBatch.deferred): the record is the
 * message's text, the context says whether to keep GKE's "@type" keys.
 */
export const sinkMessageConverter = {
  normalize(record: unknown, ref: string, context: Readonly<Record<string, string | undefined>>): AuditEvent | Reject {
    if (typeof record !== 'string') return { reason: `not a message's text: got ${typeof record}`, raw: record, ref };
    return decodeSinkText(record, ref, Buffer.byteLength(record), { keepTypeKey: context.keepTypeKey === 'true' });
  },
};

/** sinkMessageConverter by reference, for SourceBatch.deferred. */
export const SINK_MESSAGE_CONVERTER = { module: 'sources/gke-pubsub/decode.js', export: 'sinkMessageConverter' } as const;
