// Which JSON values are k8s audit events, as the k8saudit plugin takes them in: an Event (an object
// whose kind is "Event"), every item of an EventList, the elements of an array of those. Anything
// else is refused with the plugin's own words, and an event whose stageTimestamp is not an RFC 3339
// time is refused too (Falco's event time is that timestamp).
import { parseNanoTime } from './time.js';

export const NOT_AUDIT_EVENT = 'data not recognized as a k8s audit event';

export interface IntakeResult {
  events: { event: Record<string, unknown>; at: string }[];
  /** Each value refused, where (`at`) and why. */
  refused: { at: string; reason: string }[];
}

/** Takes in one JSON value; `ref` names it in `at` (a file line, say), with [i] and .items[i] appended. */
export function takeInAuditEvents(value: unknown, ref: string): IntakeResult {
  const result: IntakeResult = { events: [], refused: [] };
  visit(value, ref, result);
  return result;
}

function visit(value: unknown, at: string, out: IntakeResult): boolean {
  if (Array.isArray(value)) {
    for (const [i, element] of value.entries()) {
      // The plugin stops reading an array at its first element that is not an event.
      if (!visit(element, `${at}[${i}]`, out)) return false;
    }
    return true;
  }
  const object = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  if (object?.kind === 'EventList' && Array.isArray(object.items)) {
    for (const [i, item] of object.items.entries()) single(item, `${at}.items[${i}]`, out);
    return true;
  }
  if (object?.kind === 'Event') {
    single(object, at, out);
    return true;
  }
  out.refused.push({ at, reason: NOT_AUDIT_EVENT });
  return false;
}

function single(value: unknown, at: string, out: IntakeResult): void {
  const event = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const stamp = event?.stageTimestamp;
  if (!event || stamp === undefined) out.refused.push({ at, reason: "can't read stageTimestamp" });
  else if (parseNanoTime(stamp) === undefined) out.refused.push({ at, reason: `stageTimestamp ${JSON.stringify(stamp)} is not an RFC 3339 time` });
  else out.events.push({ event, at });
}
