import { describe, isPlainObject, withAnnotations, type AuditEvent, type Reject } from '../../event/event.js';
import { firstProblem, jsonErrorText, toNativeEvent, V1BETA1 } from '../../event/parse.js';
import { AUDIT_API_VERSION } from '../../event/event.js';

/** A 400 answer lists at most this many problems (the rest are counted): enough to fix the sender. */
export const MAX_PROBLEMS = 20;

export type ParsedAuditBody =
  | { ok: true; events: AuditEvent[]; rejects: Reject[] }
  | { ok: false; status: 400 | 413; error: string; problems: string[] };

export interface ParseOptions {
  cluster?: string | undefined;
  /** More events than this in one body: 413, before any of them is checked. */
  maxEvents?: number;
}

interface Item {
  value: Record<string, unknown>;
  path: string;
}

/**
 * Reads a webhook body the way receivers of the kube-apiserver's audit webhook do: an EventList, a
 * single Event, or a JSON array of either. A body of another shape is refused whole (400). Within
 * the right shape, each event stands alone: the valid ones go on, and an invalid one becomes a
 * reject with its reason, so one bad event never costs its neighbours. v1beta1 events are brought
 * to v1. The walk never recurses into the events, so a deeply nested body cannot exhaust the stack.
 */
export function parseAuditBody(text: string, options: ParseOptions = {}): ParsedAuditBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, status: 400, error: `body is not valid JSON: ${jsonErrorText(err)}`, problems: [] };
  }
  const maxEvents = options.maxEvents ?? Infinity;
  const tooMany = (): ParsedAuditBody => ({ ok: false, status: 413, error: `the body carries more than ${maxEvents} events (maxEventsPerRequest); send smaller batches`, problems: [] });
  // Each entry of a top-level list is at least one event (or an EventList): more entries than
  // events allowed is refused before any of them is looked at.
  if (Array.isArray(body) && body.length > maxEvents) return tooMany();
  const items: Item[] = [];
  const problems = new Problems();
  const tops: readonly unknown[] = Array.isArray(body) ? body : [body];
  for (let i = 0; i < tops.length; i++) {
    collect(tops[i], Array.isArray(body) ? `[${i}]` : '', items, problems);
    if (items.length > maxEvents) return tooMany();
  }
  if (problems.count > 0) return { ok: false, status: 400, error: problems.summary(), problems: problems.listed };

  const events: AuditEvent[] = [];
  const rejects: Reject[] = [];
  const extra: Record<string, string> = options.cluster ? { cluster_name: options.cluster } : {};
  for (const { value, path } of items) {
    const result = toNativeEvent(value, path);
    if (result.ok) events.push(withAnnotations(result.event, extra));
    else rejects.push({ reason: `invalid audit event: ${firstProblem(result.problems)}`, raw: value, ref: path || 'body' });
  }
  return { ok: true, events, rejects };
}

function collect(value: unknown, path: string, items: Item[], problems: Problems): void {
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  if (!isPlainObject(value)) {
    problems.add(() => `${path || 'body'}: expected an audit Event or an EventList, got ${describe(value)}`);
    return;
  }
  if (value.kind === 'EventList' || (value.kind === undefined && Array.isArray(value.items))) {
    if (value.apiVersion !== AUDIT_API_VERSION && value.apiVersion !== V1BETA1 && value.apiVersion !== undefined) {
      problems.add(() => `${at('apiVersion')}: expected "${AUDIT_API_VERSION}", got ${describe(value.apiVersion)}`);
      return;
    }
    if (!Array.isArray(value.items)) {
      problems.add(() => `${at('items')}: expected a list of events, got ${describe(value.items)}`);
      return;
    }
    const listVersion = value.apiVersion;
    const list: readonly unknown[] = value.items;
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (!isPlainObject(item)) {
        problems.add(() => `${at(`items[${i}]`)}: expected an audit Event, got ${describe(item)}`);
        continue;
      }
      // Items inherit the list's version when they carry none (the apiserver omits it on items).
      items.push({ value: item.apiVersion === undefined && listVersion === V1BETA1 ? { ...item, apiVersion: V1BETA1 } : item, path: at(`items[${i}]`) });
    }
    return;
  }
  if (value.kind !== undefined && value.kind !== 'Event') {
    problems.add(() => `${at('kind')}: expected "Event" or "EventList", got ${describe(value.kind)}`);
    return;
  }
  items.push({ value, path });
}

/**
 * Keeps the first few problems and counts the rest, so a body of a million bad items costs no more
 * than twenty messages: a problem's text is made only when it is kept.
 */
class Problems {
  readonly listed: string[] = [];
  count = 0;

  add(problem: () => string): void {
    this.count++;
    if (this.listed.length < MAX_PROBLEMS) this.listed.push(problem());
  }

  summary(): string {
    return this.count === 1 ? this.listed[0]! : `${this.count} problems, the first: ${this.listed[0]!}`;
  }
}
