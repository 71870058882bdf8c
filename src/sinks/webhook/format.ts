import { AUDIT_API_VERSION, type AuditEvent } from '../../event/event.js';
import { encodeOnce, goJSON } from '../../event/encode.js';
import type { EncodedEvent } from '../../event/encoded.js';
import type { WebhookFormat } from './presets.js';

// How the kube-apiserver's encoder begins a top-level Event (kind and apiVersion first).
const EVENT_HEAD = `{"kind":"Event","apiVersion":"${AUDIT_API_VERSION}",`;
const EVENT_HEAD_BYTES = Buffer.from(EVENT_HEAD);
const OPEN_BRACE = 0x7b;
const EVENT_LIST_OPEN = `{"kind":"EventList","apiVersion":"${AUDIT_API_VERSION}","metadata":{},"items":[`;

/**
 * One item of a body: text, or a range of a buffer of UTF-8 (an event a worker thread encoded),
 * with, if `lead` is set, that one byte before it.
 */
export type BodyItem = string | { buffer: Buffer; start: number; end: number; lead?: number };

/**
 * A request body: `open`, the items joined by `separator`, `close`. The size of a body of n items
 * is known without building it, so batches are cut before they pass batchMaxBytes.
 */
export interface BodyFormat {
  readonly name: WebhookFormat;
  readonly contentType: string;
  readonly open: string;
  readonly separator: string;
  readonly close: string;
  /** Items per body at most (`event`: one POST per event). */
  readonly maxItems: number;
  /** The item for an event whose top-level encoding is `full` (bytes: `fullBytes`); `event` gives the event itself, if needed. */
  item(full: string, fullBytes: number, event: () => AuditEvent): { text: string; bytes: number };
  /** The item for an event encoded elsewhere, as a range of its bytes where the format allows. */
  encodedItem(encoded: EncodedEvent): { item: BodyItem; bytes: number };
}

const asIs = (full: string, fullBytes: number): { text: string; bytes: number } => ({ text: full, bytes: fullBytes });
const bytesAsIs = (encoded: EncodedEvent): { item: BodyItem; bytes: number } => ({ item: { buffer: encoded.buffer, start: encoded.start, end: encoded.end }, bytes: encoded.byteLength });

export const BODY_FORMATS: Record<WebhookFormat, BodyFormat> = {
  // Exactly the kube-apiserver's webhook body: the list carries kind/apiVersion, its items do not.
  EventList: {
    name: 'EventList',
    contentType: 'application/json',
    open: EVENT_LIST_OPEN,
    separator: ',',
    close: ']}',
    maxItems: Infinity,
    item(full, fullBytes, event) {
      if (full.startsWith(EVENT_HEAD)) return { text: `{${full.slice(EVENT_HEAD.length)}`, bytes: fullBytes - EVENT_HEAD.length + 1 };
      const { kind: _kind, apiVersion: _apiVersion, ...rest } = event();
      const text = goJSON(rest);
      return { text, bytes: Buffer.byteLength(text) };
    },
    encodedItem(encoded) {
      const head = EVENT_HEAD_BYTES.length;
      if (encoded.byteLength > head && EVENT_HEAD_BYTES.compare(encoded.buffer, encoded.start, encoded.start + head) === 0) {
        // The head ends in the comma before the event's third field: that byte becomes the item's brace.
        return { item: { buffer: encoded.buffer, start: encoded.start + head, end: encoded.end, lead: OPEN_BRACE }, bytes: encoded.byteLength - head + 1 };
      }
      const { text, bytes } = this.item(encoded.text, encoded.byteLength, () => encoded.event);
      return { item: text, bytes };
    },
  },
  // A bare JSON array of top-level Events (what stackdriver-webhook-bridge posts to Sysdig).
  array: { name: 'array', contentType: 'application/json', open: '[', separator: ',', close: ']', maxItems: Infinity, item: asIs, encodedItem: bytesAsIs },
  event: { name: 'event', contentType: 'application/json', open: '', separator: '', close: '', maxItems: 1, item: asIs, encodedItem: bytesAsIs },
  ndjson: { name: 'ndjson', contentType: 'application/x-ndjson', open: '', separator: '\n', close: '\n', maxItems: Infinity, item: asIs, encodedItem: bytesAsIs },
};

/** The event as a top-level v1 Event in the apiserver's encoding (kind and apiVersion first). */
export function encodeEvent(event: AuditEvent): string {
  if (event.kind === 'Event' && event.apiVersion === AUDIT_API_VERSION) return encodeOnce(event);
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = event;
  return goJSON({ kind: 'Event', apiVersion: AUDIT_API_VERSION, ...rest });
}

/** Bytes a body of `count` items adds around and between them. */
export function envelopeBytes(format: BodyFormat, count: number): number {
  return format.open.length + format.close.length + format.separator.length * Math.max(0, count - 1);
}

/**
 * The body of `items`, `bytes` long (Batch.bytes): written once into one buffer, each byte range
 * copied as it is, so an event encoded by a worker is never decoded on its way out.
 */
export function buildBody(format: BodyFormat, items: readonly BodyItem[], bytes: number): Buffer {
  const body = Buffer.allocUnsafe(bytes);
  let at = body.write(format.open, 0);
  items.forEach((item, i) => {
    if (i > 0) at += body.write(format.separator, at);
    if (typeof item === 'string') {
      at += body.write(item, at);
    } else {
      if (item.lead !== undefined) body[at++] = item.lead;
      at += item.buffer.copy(body, at, item.start, item.end);
    }
  });
  at += body.write(format.close, at);
  // Batch.bytes counts every byte written; a difference would send a cut or padded body.
  if (at !== bytes) throw new Error(`webhook body is ${at} bytes where ${bytes} were counted`);
  return body;
}

/** The most envelope any format puts around a single item: maxEventBytes must leave room for it. */
export const MAX_SINGLE_ENVELOPE = Math.max(...Object.values(BODY_FORMATS).map((f) => envelopeBytes(f, 1)));
