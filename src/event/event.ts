// audit.k8s.io/v1 types as the kube-apiserver writes them (k8s.io/apiserver pkg/apis/audit/v1),
// field order matching the Go structs so that JSON.stringify of an object built in this order
// produces the same key order as the apiserver's encoder.

export const AUDIT_API_VERSION = 'audit.k8s.io/v1';

/** The annotation the kube-apiserver sets when it drops request/response bodies of an oversized event. */
export const TRUNCATED_ANNOTATION = 'audit.k8s.io/truncated';

export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type Level = (typeof LEVELS)[number];
/** Levels an emitted event can carry: None is never written. */
export type EventLevel = Exclude<Level, 'None'>;

export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type Stage = (typeof STAGES)[number];

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface ObjectReference {
  resource?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiGroup?: string;
  apiVersion?: string;
  resourceVersion?: string;
  subresource?: string;
}

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** meta/v1 Status, as carried in Event.responseStatus. */
export interface Status {
  kind?: string;
  apiVersion?: string;
  metadata?: Record<string, unknown>;
  status?: string;
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

export interface AuditEvent {
  kind?: 'Event';
  apiVersion?: string;
  level: EventLevel;
  auditID: string;
  stage: Stage;
  requestURI: string;
  verb: string;
  user: UserInfo;
  impersonatedUser?: UserInfo;
  authenticationMetadata?: { impersonationConstraint?: string };
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: ObjectReference;
  responseStatus?: Status;
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
}

export interface EventList {
  kind: 'EventList';
  apiVersion: typeof AUDIT_API_VERSION;
  metadata: Record<string, unknown>;
  items: AuditEvent[];
}

/** A provider record that could not be turned into an Event. Never thrown: returned. */
export interface Reject {
  reason: string;
  /** The record as received (raw text or parsed value), kept for the dead-letter file. */
  raw: unknown;
  /** Position in the source's input, when there is one (line, index, eventId...). */
  ref?: string;
}

export function isReject(value: AuditEvent | Reject): value is Reject {
  return typeof (value as Reject).reason === 'string' && !('auditID' in value && 'stage' in value);
}

// RFC 3339 date-time: full date, 'T' (or 't'), time with optional fraction, Z or an offset.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

export function isRfc3339(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [, , month, day, hour, minute, second, , , oh, om] = m;
  return (
    inRange(month, 1, 12) &&
    inRange(day, 1, 31) &&
    inRange(hour, 0, 23) &&
    inRange(minute, 0, 59) &&
    inRange(second, 0, 60) && // leap second
    (oh === undefined || inRange(oh, 0, 23)) &&
    (om === undefined || inRange(om, 0, 59))
  );
}

function inRange(text: string | undefined, min: number, max: number): boolean {
  const n = Number(text);
  return n >= min && n <= max;
}

/**
 * Renders an instant as the apiserver's MicroTime: UTC, exactly six fractional digits, 'Z'.
 * Takes epoch microseconds (a bigint or a safe integer) so no precision is lost on the way.
 */
export function formatMicroTime(epochMicros: bigint | number): string {
  const micros = BigInt(epochMicros);
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(millis)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}

/**
 * Parses an RFC 3339 time with any number of fractional digits into epoch microseconds,
 * without passing through a millisecond Date for the fraction. Returns undefined when invalid.
 */
export function parseMicroTime(value: string): bigint | undefined {
  if (!isRfc3339(value)) return undefined;
  const m = RFC3339.exec(value)!;
  const fraction = (m[7] ?? '.').slice(1).padEnd(6, '0').slice(0, 6);
  const whole = Date.parse(`${value.slice(0, 19)}${m[8] === 'z' ? 'Z' : m[8]}`);
  if (Number.isNaN(whole)) return undefined;
  return BigInt(whole) * 1000n + BigInt(fraction);
}

/** Canonical MicroTime text for any RFC 3339 input (offsets folded to UTC, fraction to 6 digits). */
export function canonicalMicroTime(value: string): string | undefined {
  const micros = parseMicroTime(value);
  return micros === undefined ? undefined : formatMicroTime(micros);
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/**
 * canonicalMicroTime for text from a source that already validated it: most audit timestamps are
 * in MicroTime form already, so the parse is skipped for them (the normalizers' hot path).
 */
export function validatedMicroTime(text: string): string | undefined {
  return MICRO_TIME.test(text) ? text : canonicalMicroTime(text);
}

/**
 * How deep objects and arrays may nest in an Event, the Event itself being level 1. Real Events
 * stay far below it (a CustomResourceDefinition's schema in a request body is a few dozen levels),
 * and it is far below what the recursive walks downstream (scrubbing, rules, JSON.stringify) can
 * take, about 3,000 levels on Node's default stack. docs/security.md has the measurements.
 */
export const MAX_EVENT_DEPTH = 256;

/**
 * The top-level field of `value` that nests objects and arrays deeper than `max`, or undefined.
 * Safe on any input: it stops at the first level too deep.
 */
export function tooDeep(value: unknown, max = MAX_EVENT_DEPTH): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (max < 1) return '(the event)';
  // Recursion is safe here: it never goes deeper than `max` levels, whatever the input.
  if (Array.isArray(value)) return exceeds(value, 1, max) ? '(the event)' : undefined;
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && exceeds(child, 2, max)) return key;
  }
  return undefined;
}

/** Whether `node`, at `depth`, has objects or arrays nested below `max`. */
function exceeds(node: object, depth: number, max: number): boolean {
  if (depth > max) return true;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      if (typeof child === 'object' && child !== null && exceeds(child, depth + 1, max)) return true;
    }
    return false;
  }
  for (const key in node) {
    const child = (node as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && exceeds(child, depth + 1, max)) return true;
  }
  return false;
}

export interface ValidationProblem {
  path: string;
  message: string;
}

const LEVEL_SET: ReadonlySet<string> = new Set(['Metadata', 'Request', 'RequestResponse']);
const STAGE_SET: ReadonlySet<string> = new Set(STAGES);
const OBJECT_REF_KEYS = [
  'resource',
  'namespace',
  'name',
  'uid',
  'apiGroup',
  'apiVersion',
  'resourceVersion',
  'subresource',
] as const;

/**
 * Checks an audit.k8s.io/v1 Event: required fields present and well typed, enums valid,
 * timestamps RFC 3339. `kind`/`apiVersion` are optional because EventList items omit them,
 * but when present they must be the v1 values. Returns every problem, not just the first.
 */
export function validateEvent(value: unknown, prefix = ''): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const at = (key: string): string => (prefix ? `${prefix}.${key}` : key);
  const add = (key: string, message: string): void => {
    problems.push({ path: at(key), message });
  };

  if (!isPlainObject(value)) {
    problems.push({ path: prefix || '(event)', message: `expected an object, got ${describe(value)}` });
    return problems;
  }
  const e = value;
  // First, so that nothing after it (nor any stage downstream) walks a value too deep to walk.
  const deep = tooDeep(e);
  if (deep !== undefined) {
    const path = deep === '(the event)' ? prefix || '(event)' : at(deep);
    problems.push({ path, message: `nests objects and arrays deeper than ${MAX_EVENT_DEPTH} levels; no Kubernetes object does` });
    return problems;
  }

  if (e.kind !== undefined && e.kind !== 'Event') add('kind', `expected "Event", got ${describe(e.kind)}`);
  if (e.apiVersion !== undefined && e.apiVersion !== AUDIT_API_VERSION) {
    add('apiVersion', `expected "${AUDIT_API_VERSION}", got ${describe(e.apiVersion)}`);
  }
  if (!LEVEL_SET.has(e.level as string)) {
    add('level', `expected one of Metadata, Request, RequestResponse, got ${describe(e.level)}`);
  }
  if (typeof e.auditID !== 'string' || e.auditID === '') {
    add('auditID', `expected a non-empty string, got ${describe(e.auditID)}`);
  }
  if (!STAGE_SET.has(e.stage as string)) add('stage', `expected one of ${STAGES.join(', ')}, got ${describe(e.stage)}`);
  if (typeof e.requestURI !== 'string') add('requestURI', `expected a string, got ${describe(e.requestURI)}`);
  if (typeof e.verb !== 'string' || e.verb === '') add('verb', `expected a non-empty string, got ${describe(e.verb)}`);

  checkUser(e.user, at('user'), problems, true);
  if (e.impersonatedUser !== undefined) checkUser(e.impersonatedUser, at('impersonatedUser'), problems, false);

  if (e.sourceIPs !== undefined && !isStringArray(e.sourceIPs)) {
    add('sourceIPs', `expected a list of strings, got ${describe(e.sourceIPs)}`);
  }
  if (e.userAgent !== undefined && typeof e.userAgent !== 'string') {
    add('userAgent', `expected a string, got ${describe(e.userAgent)}`);
  }
  if (e.objectRef !== undefined) {
    if (!isPlainObject(e.objectRef)) add('objectRef', `expected an object, got ${describe(e.objectRef)}`);
    else {
      for (const key of OBJECT_REF_KEYS) {
        const v = e.objectRef[key];
        if (v !== undefined && typeof v !== 'string') add(`objectRef.${key}`, `expected a string, got ${describe(v)}`);
      }
    }
  }
  if (e.responseStatus !== undefined) {
    if (!isPlainObject(e.responseStatus)) add('responseStatus', `expected an object, got ${describe(e.responseStatus)}`);
    else if (e.responseStatus.code !== undefined && !Number.isInteger(e.responseStatus.code)) {
      add('responseStatus.code', `expected an integer, got ${describe(e.responseStatus.code)}`);
    }
  }
  for (const key of ['requestReceivedTimestamp', 'stageTimestamp'] as const) {
    if (!isRfc3339(e[key])) add(key, `expected an RFC 3339 time such as 2026-01-02T15:04:05.000000Z, got ${describe(e[key])}`);
  }
  if (e.annotations !== undefined) {
    if (!isPlainObject(e.annotations)) add('annotations', `expected a map of strings, got ${describe(e.annotations)}`);
    else {
      for (const [k, v] of Object.entries(e.annotations)) {
        if (typeof v !== 'string') add(`annotations.${k}`, `expected a string, got ${describe(v)}`);
      }
    }
  }
  return problems;
}

function checkUser(value: unknown, path: string, problems: ValidationProblem[], required: boolean): void {
  if (value === undefined && !required) return;
  if (!isPlainObject(value)) {
    problems.push({ path, message: `expected an object (may be {}), got ${describe(value)}` });
    return;
  }
  for (const key of ['username', 'uid'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'string') {
      problems.push({ path: `${path}.${key}`, message: `expected a string, got ${describe(value[key])}` });
    }
  }
  if (value.groups !== undefined && !isStringArray(value.groups)) {
    problems.push({ path: `${path}.groups`, message: `expected a list of strings, got ${describe(value.groups)}` });
  }
  if (value.extra !== undefined) {
    const ok = isPlainObject(value.extra) && Object.values(value.extra).every(isStringArray);
    if (!ok) problems.push({ path: `${path}.extra`, message: `expected a map of string lists, got ${describe(value.extra)}` });
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Short description of a value for error messages; never prints more than a few dozen characters. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

// Go struct order of audit.k8s.io/v1 Event; keys not listed (newer fields) follow in their own order.
const EVENT_FIELD_ORDER = [
  'level',
  'auditID',
  'stage',
  'requestURI',
  'verb',
  'user',
  'impersonatedUser',
  'authenticationMetadata',
  'sourceIPs',
  'userAgent',
  'objectRef',
  'responseStatus',
  'requestObject',
  'responseObject',
  'requestReceivedTimestamp',
  'stageTimestamp',
  'annotations',
] as const;
const ORDERED: ReadonlySet<string> = new Set([...EVENT_FIELD_ORDER, 'kind', 'apiVersion']);
/** Top-level keys of v1beta1 events that v1 removed. */
const V1BETA1_ONLY: ReadonlySet<string> = new Set(['timestamp', 'metadata']);

/**
 * Brings a received event into the shape a top-level v1 Event has, in the apiserver's field
 * order: `kind` and `apiVersion` first (EventList items omit them), the v1beta1-only top-level
 * `timestamp` and `metadata` removed. The caller has validated it.
 */
export function asTopLevelEvent(value: Record<string, unknown>): AuditEvent {
  const out: Record<string, unknown> = { kind: 'Event', apiVersion: AUDIT_API_VERSION };
  for (const key of EVENT_FIELD_ORDER) if (value[key] !== undefined) out[key] = value[key];
  for (const key of Object.keys(value)) {
    if (!ORDERED.has(key) && !V1BETA1_ONLY.has(key) && value[key] !== undefined) out[key] = value[key];
  }
  return out as unknown as AuditEvent;
}

/** Adds annotations without replacing the event object's other fields; returns a new event. */
export function withAnnotations(event: AuditEvent, extra: Record<string, string>): AuditEvent {
  if (Object.keys(extra).length === 0) return event;
  const annotations = { ...(event.annotations ?? {}), ...extra };
  return { ...event, annotations: sortKeys(annotations) };
}

/** The apiserver's encoder writes map keys sorted (annotations, user.extra). */
export function sortKeys<T>(map: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(map).sort()) out[key] = map[key]!;
  return out;
}
