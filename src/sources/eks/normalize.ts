// EKS: a CloudWatch Logs FilterLogEvents event whose `message` is one native audit Event, written by
// the kube-apiserver's log backend (docs/providers/eks.md). Normalizing is parsing, validating and
// stamping the cluster identity the message itself does not carry. Pure: no I/O, never throws.
import type { ConvertContext, Converter, ProviderRecord } from '../../component/converter.js';
import { InputError } from '../../component/converter.js';
import { validatedMicroTime, describe, isPlainObject, sortKeys, type AuditEvent, type Reject } from '../../event/event.js';
import { firstProblem, parseNativeEventText, salvageIdentity } from '../../event/parse.js';

/** A FilterLogEvents response event (`FilteredLogEvent`). */
export interface CloudWatchLogEvent {
  logStreamName?: string;
  timestamp?: number;
  message?: string;
  ingestionTime?: number;
  eventId?: string;
}

/** What the source knows about where the records come from; stamped as annotations. */
export interface EksContext {
  cluster?: string | undefined;
  region?: string | undefined;
  accountId?: string | undefined;
}

/** EKS cuts oversized events near CloudWatch's 256 KB limit and appends this marker. */
const TRUNCATED_MARKER = '[Truncated...]';

/** Turns one FilterLogEvents event into an Event, or a Reject saying why it cannot be one. */
export function normalizeEksRecord(record: unknown, context: EksContext = {}, ref?: string): AuditEvent | Reject {
  const where = ref ?? (isPlainObject(record) && typeof record.eventId === 'string' ? `eventId ${record.eventId}` : undefined);
  const reject = (reason: string): Reject => (where === undefined ? { reason, raw: record } : { reason, raw: record, ref: where });

  if (!isPlainObject(record)) return reject(`not a log event: expected an object with a message, got ${describe(record)}`);
  const message = record.message;
  if (typeof message !== 'string') return reject(`not a log event: message: expected a string, got ${describe(message)}`);

  const parsed = parseNativeEventText(message);
  if (!parsed.ok && parsed.kind === 'json') {
    const salvaged = salvage(message);
    if (message.trimEnd().endsWith(TRUNCATED_MARKER)) {
      return reject(`truncated message: cut by CloudWatch Logs at ${message.length} characters${salvaged}`);
    }
    return reject(`malformed message: not JSON (${parsed.error})${salvaged}`);
  }
  if (!parsed.ok && parsed.kind === 'shape') {
    const p = parsed.problems[0]!;
    return reject(`malformed message: ${p.path === '(event)' ? p.message : `${p.path}: ${p.message}`}`);
  }
  if (!parsed.ok) return reject(`invalid event: ${firstProblem(parsed.problems)}${salvage(message)}`);
  const event = parsed.event;
  canonicalizeTimes(event);
  // asTopLevelEvent built a fresh object, so the annotations are set on it rather than on a copy
  // (withAnnotations' spread of the whole event costs a third of the normalization time).
  const extra = annotationsFor(context);
  if (Object.keys(extra).length > 0) event.annotations = sortKeys({ ...(event.annotations ?? {}), ...extra });
  return event;
}

/** The annotations every EKS event gets: Falco's ka.cluster.name reads cluster_name. */
export function annotationsFor(context: EksContext): Record<string, string> {
  const out: Record<string, string> = {};
  if (context.cluster) out.cluster_name = context.cluster;
  if (context.region) out.region = context.region;
  if (context.accountId) out.account_id = context.accountId;
  return out;
}

function canonicalizeTimes(event: AuditEvent): void {
  for (const key of ['requestReceivedTimestamp', 'stageTimestamp'] as const) {
    const canonical = validatedMicroTime(event[key]);
    if (canonical !== undefined) event[key] = canonical;
  }
}

// The Event's identity sits near the start of the message (Go field order), so it usually
// survives a cut; naming it lets an operator find the request in the apiserver's own log.
function salvage(message: string): string {
  const found = salvageIdentity(message);
  return found ? ` (${found})` : '';
}

/**
 * `convert --from eks`: FilterLogEvents events as a JSON array, as JSON lines, or inside the
 * `aws logs filter-log-events` output (`{"events": [...], "searchedLogStreams": [...]}`), one
 * object or several concatenated pages.
 */
export const eksConverter: Converter = {
  records(values) {
    const out: ProviderRecord[] = [];
    for (const { value, ref } of values) {
      if (Array.isArray(value)) {
        value.forEach((record: unknown, i) => out.push({ record, ref: ref === 'input' ? `[${i}]` : `${ref}[${i}]` }));
      } else if (isPlainObject(value) && Array.isArray(value.events)) {
        value.events.forEach((record: unknown, i) => out.push({ record, ref: ref === 'input' ? `events[${i}]` : `${ref} events[${i}]` }));
      } else if (isPlainObject(value) && 'message' in value) {
        out.push({ record: value, ref });
      } else if (values.length === 1) {
        throw new InputError(`expected FilterLogEvents events (a JSON array, JSON lines, or {"events": [...]}), got ${describe(value)}`);
      } else {
        out.push({ record: value, ref });
      }
    }
    return out;
  },
  normalize(record: unknown, ref: string, context: ConvertContext): AuditEvent | Reject {
    return normalizeEksRecord(record, context, ref);
  },
};
