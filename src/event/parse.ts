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

export type NativeEventResult = { ok: true; event: AuditEvent } | { ok: false; problems: ValidationProblem[] };

/**
 * Checks and brings a parsed Event to v1: v1beta1 (apiservers before 1.24) loses its top-level
 * `timestamp` and `metadata`; `kind` and `apiVersion` are set (EventList items omit them).
 * `prefix` names where the value was found, for the problems (`items[3]`).
 */
export function toNativeEvent(value: unknown, prefix = ''): NativeEventResult {
  const at = (key: string): string => (prefix ? `${prefix}.${key}` : key);
  if (!isPlainObject(value)) return { ok: false, problems: [{ path: prefix || '(event)', message: `expected an audit Event object, got ${describe(value)}` }] };
  if (value.kind !== undefined && value.kind !== 'Event') return { ok: false, problems: [{ path: at('kind'), message: `expected "Event", got ${describe(value.kind)}` }] };
  if (!VERSIONS.has(value.apiVersion)) {
    return { ok: false, problems: [{ path: at('apiVersion'), message: `expected "${AUDIT_API_VERSION}", got ${describe(value.apiVersion)}` }] };
  }
  // validateEvent measures the nesting before anything else walks the value; asTopLevelEvent
  // only copies top-level references, so it may run first.
  const event = asTopLevelEvent(value);
  const problems = validateEvent(event, prefix);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, event };
}

/** "path: message (and N more)" for a reject reason. */
export function firstProblem(problems: readonly ValidationProblem[]): string {
  const first = problems[0]!;
  return `${first.path}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`;
}
