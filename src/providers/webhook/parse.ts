import {
  AUDIT_API_VERSION,
  asTopLevelEvent,
  describe,
  isPlainObject,
  validateEvent,
  withAnnotations,
  type AuditEvent,
} from '../../normalize/event.js';

const V1BETA1 = 'audit.k8s.io/v1beta1';
const ACCEPTED_VERSIONS: ReadonlySet<unknown> = new Set([undefined, AUDIT_API_VERSION, V1BETA1]);
/** A 400 answer lists at most this many problems: enough to fix the sender, short enough to log. */
const MAX_PROBLEMS = 20;

export type ParsedAuditBody = { ok: true; events: AuditEvent[] } | { ok: false; error: string; problems: string[] };

/**
 * Reads a webhook body the way receivers of the kube-apiserver's audit webhook do: an EventList,
 * a single Event, or a JSON array of either. Every item is validated; one bad item refuses the
 * whole body (nothing of it enters the pipeline) with every problem listed. v1beta1 events, which
 * apiservers before 1.24 could send, are brought to v1.
 */
export function parseAuditBody(text: string, options: { cluster?: string | undefined } = {}): ParsedAuditBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `body is not valid JSON: ${(err as Error).message}`, problems: [] };
  }

  const items: { value: unknown; path: string }[] = [];
  const problems: string[] = [];
  collect(body, '', items, problems);
  if (problems.length > 0) return { ok: false, error: problems[0]!, problems: problems.slice(0, MAX_PROBLEMS) };

  const events: AuditEvent[] = [];
  const extra: Record<string, string> = options.cluster ? { cluster_name: options.cluster } : {};
  for (const { value, path } of items) {
    const record = value as Record<string, unknown>;
    const itemProblems = checkVersion(record, path);
    const event = asTopLevelEvent(record);
    itemProblems.push(...validateEvent(event, path).map((p) => `${p.path}: ${p.message}`));
    if (itemProblems.length > 0) problems.push(...itemProblems);
    else events.push(withAnnotations(event, extra));
  }
  if (problems.length > 0) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    return { ok: false, error: `invalid audit events (${count}): ${problems[0]!}`, problems: problems.slice(0, MAX_PROBLEMS) };
  }
  return { ok: true, events };
}

function collect(value: unknown, path: string, items: { value: unknown; path: string }[], problems: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => collect(item, `${path}[${i}]`, items, problems));
    return;
  }
  if (!isPlainObject(value)) {
    problems.push(`${path || 'body'}: expected an audit Event, an EventList or a JSON array of them, got ${describe(value)}`);
    return;
  }
  if (value.kind === 'EventList' || (value.kind === undefined && Array.isArray(value.items))) {
    if (!ACCEPTED_VERSIONS.has(value.apiVersion)) {
      problems.push(`${path ? `${path}.` : ''}apiVersion: expected "${AUDIT_API_VERSION}", got ${describe(value.apiVersion)}`);
      return;
    }
    if (!Array.isArray(value.items)) {
      problems.push(`${path ? `${path}.` : ''}items: expected a list of events, got ${describe(value.items)}`);
      return;
    }
    const listVersion = value.apiVersion;
    value.items.forEach((item: unknown, i) => {
      const itemPath = `${path ? `${path}.` : ''}items[${i}]`;
      // Items inherit the list's version when they carry none (the apiserver omits it on items).
      const withVersion = isPlainObject(item) && item.apiVersion === undefined && listVersion === V1BETA1 ? { ...item, apiVersion: V1BETA1 } : item;
      if (Array.isArray(item)) problems.push(`${itemPath}: expected an audit Event, got ${describe(item)}`);
      else collect(withVersion, itemPath, items, problems);
    });
    return;
  }
  if (value.kind !== undefined && value.kind !== 'Event') {
    problems.push(`${path ? `${path}.` : ''}kind: expected "Event" or "EventList", got ${describe(value.kind)}`);
    return;
  }
  items.push({ value, path });
}

function checkVersion(record: Record<string, unknown>, path: string): string[] {
  if (ACCEPTED_VERSIONS.has(record.apiVersion)) return [];
  return [`${path ? `${path}.` : ''}apiVersion: expected "${AUDIT_API_VERSION}", got ${describe(record.apiVersion)}`];
}
