// A native audit Event as JSON gives it (a webhook body's item, an EKS message, an AKS log_s)
// → a validated audit.k8s.io/v1 Event in the apiserver's field order, or the problems with it.
import {
  AUDIT_API_VERSION,
  asTopLevelEvent,
  describe,
  isPlainObject,
  validateEvent,
  type AuditEvent,
  type ValidationProblem,
} from './event.js';

export const V1BETA1 = 'audit.k8s.io/v1beta1';
const VERSIONS: ReadonlySet<unknown> = new Set([undefined, AUDIT_API_VERSION, V1BETA1]);

/**
 * `shape`: not an Event of a version this reads (not an object, another kind or apiVersion);
 * `invalid`: an Event whose fields are wrong (missing, mistyped, nested too deep).
 */
export type NativeEventResult = { ok: true; event: AuditEvent } | { ok: false; kind: 'shape' | 'invalid'; problems: ValidationProblem[] };

/**
 * Checks and brings a parsed Event to v1: v1beta1 (apiservers before 1.24) loses its top-level
 * `timestamp` and `metadata`; `kind` and `apiVersion` are set (EventList items omit them).
 * `prefix` names where the value was found, for the problems (`items[3]`).
 */
export function toNativeEvent(value: unknown, prefix = ''): NativeEventResult {
  const at = (key: string): string => (prefix ? `${prefix}.${key}` : key);
  const shape = (path: string, message: string): NativeEventResult => ({ ok: false, kind: 'shape', problems: [{ path, message }] });
  if (!isPlainObject(value)) return shape(prefix || '(event)', `expected an audit Event object, got ${describe(value)}`);
  if (value.kind !== undefined && value.kind !== 'Event') return shape(at('kind'), `expected "Event", got ${describe(value.kind)}`);
  if (!VERSIONS.has(value.apiVersion)) return shape(at('apiVersion'), `expected "${AUDIT_API_VERSION}", got ${describe(value.apiVersion)}`);
  // validateEvent measures the nesting before anything else walks the value; asTopLevelEvent
  // only copies top-level references, so it may run first.
  const event = asTopLevelEvent(value);
  const problems = validateEvent(event, prefix);
  return problems.length > 0 ? { ok: false, kind: 'invalid', problems } : { ok: true, event };
}

/** Parses the JSON text of one native Event (an EKS message, an AKS log_s) with toNativeEvent. */
export function parseNativeEventText(text: string): NativeEventResult | { ok: false; kind: 'json'; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    return { ok: false, kind: 'json', error: jsonErrorText(err) };
  }
  return toNativeEvent(value);
}

/**
 * A JSON.parse error without the piece of input V8 quotes in it ("Unexpected token 's',
 * "{"password…" is not valid JSON"): a reject reason reaches logs and the dead-letter file, where
 * a record's content must not.
 */
export function jsonErrorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/, (?:\.\.\.)?".*" is not valid JSON$/s, ' (the text is not valid JSON)');
}

/**
 * The identity fields an Event's JSON text still shows when it cannot be parsed (cut short, say):
 * they sit near its start in the apiserver's field order. "auditID X, stage Y, ..." or undefined.
 */
export function salvageIdentity(text: string, fields: readonly ('auditID' | 'stage' | 'verb' | 'requestURI')[] = ['auditID', 'stage', 'verb', 'requestURI']): string | undefined {
  const found: string[] = [];
  for (const field of fields) {
    const m = new RegExp(`"${field}":"((?:[^"\\\\]|\\\\.){0,200})"`).exec(text);
    if (m) found.push(`${field} ${m[1]}`);
  }
  return found.length > 0 ? found.join(', ') : undefined;
}

/** "path: message (and N more)" for a reject reason. */
export function firstProblem(problems: readonly ValidationProblem[]): string {
  const first = problems[0]!;
  return `${first.path}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`;
}
