import { AUDIT_API_VERSION, type AuditEvent } from '../../event/event.js';
import { encodeOnce, goJSON } from '../../event/encode.js';
import type { WebhookFormat } from './presets.js';

// How the kube-apiserver's encoder begins a top-level Event (kind and apiVersion first).
const EVENT_HEAD = `{"kind":"Event","apiVersion":"${AUDIT_API_VERSION}",`;
const EVENT_LIST_OPEN = `{"kind":"EventList","apiVersion":"${AUDIT_API_VERSION}","metadata":{},"items":[`;

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
}

const asIs = (full: string, fullBytes: number): { text: string; bytes: number } => ({ text: full, bytes: fullBytes });

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
  },
  // A bare JSON array of top-level Events (what stackdriver-webhook-bridge posts to Sysdig).
  array: { name: 'array', contentType: 'application/json', open: '[', separator: ',', close: ']', maxItems: Infinity, item: asIs },
  event: { name: 'event', contentType: 'application/json', open: '', separator: '', close: '', maxItems: 1, item: asIs },
  ndjson: { name: 'ndjson', contentType: 'application/x-ndjson', open: '', separator: '\n', close: '\n', maxItems: Infinity, item: asIs },
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

export function buildBody(format: BodyFormat, items: readonly string[]): string {
  return format.open + items.join(format.separator) + format.close;
}

/** The most envelope any format puts around a single item: maxEventBytes must leave room for it. */
export const MAX_SINGLE_ENVELOPE = Math.max(...Object.values(BODY_FORMATS).map((f) => envelopeBytes(f, 1)));
