// A Cloud Logging LogEntry of a GKE Kubernetes API audit record → the audit.k8s.io/v1 Event the
// kube-apiserver would have written (docs/providers/gke.md). Pure: no I/O, never throws on input.
//
// The input is the LogEntry in its JSON form, as `gcloud logging read --format=json` prints it
// and as the poller renders what the SDK returns: protoPayload a plain object with "@type",
// timestamps RFC 3339 strings.

import type { ConvertContext, Converter } from '../../component/converter.js';
import {
  AUDIT_API_VERSION,
  canonicalMicroTime,
  describe,
  isPlainObject,
  MAX_EVENT_DEPTH,
  sortKeys,
  tooDeep,
  type AuditEvent,
  type EventLevel,
  type Reject,
  type Stage,
  type Status,
} from '../../event/event.js';
import { parseResourceName, STREAMING_SUBRESOURCES } from './resource.js';

export const AUDIT_LOG_TYPE = 'type.googleapis.com/google.cloud.audit.AuditLog';

export interface GkeNormalizeOptions {
  /** Keep GKE's top-level "@type" key in requestObject/responseObject (native events lack it). */
  keepTypeKey?: boolean;
  /** annotations.cluster_name when the entry's resource labels have none (convert --cluster). */
  cluster?: string;
}

/** gRPC code (google/rpc/code.proto) → the HTTP status the apiserver answered. */
const GRPC_TO_HTTP: readonly number[] = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

type Json = Record<string, unknown>;

export function normalizeGkeEntry(entry: unknown, options: GkeNormalizeOptions = {}, ref?: string): AuditEvent | Reject {
  const reject = (reason: string): Reject => (ref === undefined ? { reason, raw: entry } : { reason, raw: entry, ref });
  if (!isPlainObject(entry)) return reject(`not a LogEntry: expected an object, got ${describe(entry)}`);

  const payload = entry.protoPayload;
  if (!isPlainObject(payload)) {
    return reject(entry.jsonPayload !== undefined || entry.textPayload !== undefined ? 'not an audit entry: no protoPayload' : 'not a LogEntry: no protoPayload');
  }
  if (payload['@type'] !== undefined && payload['@type'] !== AUDIT_LOG_TYPE) {
    return reject(`not an audit entry: protoPayload is ${describe(payload['@type'])}`);
  }
  const resource = isPlainObject(entry.resource) ? entry.resource : undefined;
  if (resource?.type !== undefined && resource.type !== 'k8s_cluster') {
    return reject(`not a Kubernetes API audit entry: resource.type ${describe(resource.type)}`);
  }
  if (payload.serviceName !== undefined && payload.serviceName !== 'k8s.io') {
    return reject(`not a Kubernetes API audit entry: serviceName ${describe(payload.serviceName)}`);
  }
  const auditID = entry.insertId;
  if (typeof auditID !== 'string' || auditID === '') return reject(`malformed entry: insertId ${describe(auditID)}`);
  const methodName = payload.methodName;
  if (typeof methodName !== 'string' || !methodName.includes('.')) return reject(`malformed entry: methodName ${describe(methodName)}`);
  const verb = methodName.slice(methodName.lastIndexOf('.') + 1);
  if (verb === '') return reject(`malformed entry: methodName ${describe(methodName)} has no verb`);
  const resourceName = payload.resourceName;
  if (typeof resourceName !== 'string' || resourceName.replace(/\//g, '') === '') {
    return reject(`malformed entry: resourceName ${describe(resourceName)}`);
  }
  const time = typeof entry.timestamp === 'string' ? canonicalMicroTime(entry.timestamp) : undefined;
  if (time === undefined) return reject(`malformed entry: timestamp ${describe(entry.timestamp)}`);

  const { objectRef, requestURI } = parseResourceName(resourceName, verb);
  const streaming = objectRef?.subresource !== undefined && STREAMING_SUBRESOURCES.has(objectRef.subresource);
  const request = isPlainObject(payload.request) ? payload.request : undefined;
  const response = isPlainObject(payload.response) ? payload.response : undefined;
  // Checked before anything walks the bodies (the Event itself is one level above them).
  for (const [name, body] of [['request', request], ['response', response]] as const) {
    if (body !== undefined && tooDeep(body, MAX_EVENT_DEPTH - 1) !== undefined) {
      return reject(`malformed entry: protoPayload.${name} nests objects and arrays deeper than ${MAX_EVENT_DEPTH} levels`);
    }
  }

  // Built in the apiserver's field order (event.ts), so the JSON text has the native key order.
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: AUDIT_API_VERSION,
    level: levelOf(streaming, request, response),
    auditID,
    stage: stageOf(entry.operation),
    requestURI,
    verb,
    user: userOf(payload.authenticationInfo),
  };
  const metadata = isPlainObject(payload.requestMetadata) ? payload.requestMetadata : undefined;
  if (typeof metadata?.callerIp === 'string' && metadata.callerIp !== '') event.sourceIPs = [metadata.callerIp];
  if (typeof metadata?.callerSuppliedUserAgent === 'string') event.userAgent = metadata.callerSuppliedUserAgent;
  if (objectRef) event.objectRef = objectRef;
  event.responseStatus = responseStatusOf(response, payload.status, verb, streaming);
  if (request) event.requestObject = bodyOf(request, options.keepTypeKey === true);
  if (response) event.responseObject = bodyOf(response, options.keepTypeKey === true);
  event.requestReceivedTimestamp = time;
  event.stageTimestamp = time;
  event.annotations = annotationsOf(entry.labels, resource?.labels, options.cluster);
  return event as unknown as AuditEvent;
}

/** Only a start-only entry is the stream's start; both flags, last only or none is the completion. */
function stageOf(operation: unknown): Stage {
  if (isPlainObject(operation) && operation.first === true && operation.last !== true) return 'ResponseStarted';
  return 'ResponseComplete';
}

function levelOf(streaming: boolean, request: Json | undefined, response: Json | undefined): EventLevel {
  if (streaming) return 'Request';
  if (response) return 'RequestResponse';
  if (request) return 'Request';
  return 'Metadata';
}

function userOf(authenticationInfo: unknown): AuditEvent['user'] {
  const email = isPlainObject(authenticationInfo) ? authenticationInfo.principalEmail : undefined;
  return typeof email === 'string' && email !== '' ? { username: email } : {};
}

function isStatusBody(response: Json | undefined): response is Json {
  if (!response) return false;
  const type = response['@type'];
  return (typeof type === 'string' && type.endsWith('.Status')) || response.kind === 'Status';
}

/**
 * The Status body when there is one (GKE's HTTP → gRPC direction is lossy), else the gRPC code
 * mapped back to HTTP. Streaming requests record the 101 of the protocol upgrade on both entries.
 */
function responseStatusOf(response: Json | undefined, rpcStatus: unknown, verb: string, streaming: boolean): Status {
  const out: Status = { metadata: {} };
  if (isStatusBody(response)) {
    if (typeof response.status === 'string') out.status = response.status;
    if (typeof response.message === 'string') out.message = response.message;
    if (typeof response.reason === 'string') out.reason = response.reason;
    if (isPlainObject(response.details)) out.details = response.details;
    if (isHttpCode(response.code)) {
      out.code = response.code;
      return out;
    }
  }
  const code = httpFromRpc(rpcStatus, verb, streaming);
  // Without a Status body, a failure still has the apiserver's message in the rpc status.
  const message = isPlainObject(rpcStatus) ? rpcStatus.message : undefined;
  if (code >= 400 && out.status === undefined && typeof message === 'string' && message !== '') {
    out.status = 'Failure';
    out.message = message;
  }
  out.code = code; // last, as in the apiserver's field order
  return out;
}

function isHttpCode(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599;
}

function httpFromRpc(rpcStatus: unknown, verb: string, streaming: boolean): number {
  const raw = isPlainObject(rpcStatus) ? rpcStatus.code : undefined;
  const code = typeof raw === 'number' && Number.isInteger(raw) ? raw : 0;
  if (streaming && (code === 0 || code === 2)) return 101;
  if (code === 0) return verb === 'create' ? 201 : 200;
  return GRPC_TO_HTTP[code] ?? 500;
}

/** GKE adds a top-level "@type" naming the Go type; a native event's objects do not have it. */
function bodyOf(body: Json, keepTypeKey: boolean): Json {
  if (keepTypeKey || !('@type' in body)) return body;
  const { '@type': _type, ...rest } = body;
  return rest;
}

function annotationsOf(labels: unknown, resourceLabels: unknown, cluster: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (isPlainObject(labels)) {
    for (const [key, value] of Object.entries(labels)) if (typeof value === 'string') out[key] = value;
  }
  if (cluster !== undefined && !(isPlainObject(resourceLabels) && typeof resourceLabels.cluster_name === 'string')) out.cluster_name = cluster;
  if (isPlainObject(resourceLabels)) {
    for (const key of ['cluster_name', 'location', 'project_id']) {
      const value = resourceLabels[key];
      if (typeof value === 'string') out[key] = value;
    }
  }
  return sortKeys(out);
}

/** For `convert --from gke`: the records of a gcloud export (array), JSON lines, or one entry. */
export function gkeRecords(values: readonly { value: unknown; ref: string }[]): { record: unknown; ref: string }[] {
  if (values.length === 1 && Array.isArray(values[0]!.value)) {
    return (values[0]!.value as unknown[]).map((record, i) => ({ record, ref: `[${i}]` }));
  }
  return values.map((v) => ({ record: v.value, ref: v.ref }));
}

/** The ConvertContext of `convert` as normalizer options. */
export function gkeOptionsFrom(context: ConvertContext): GkeNormalizeOptions {
  return context.cluster === undefined ? {} : { cluster: context.cluster };
}

/** `convert --from gke`. */
export const gkeConverter: Converter = {
  records: gkeRecords,
  normalize: (record, ref, context) => normalizeGkeEntry(record, gkeOptionsFrom(context), ref),
};
