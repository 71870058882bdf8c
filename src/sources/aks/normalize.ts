// AKS kube-audit rows from a Log Analytics workspace → audit.k8s.io/v1 Events (docs/providers/aks.md).
// Two shapes: the resource-specific AKSAudit / AKSAuditAdmin tables (one column per Event field)
// and the legacy AzureDiagnostics table (the whole Event JSON in log_s). Pure: no I/O, never throws.
import {
  AUDIT_API_VERSION,
  validatedMicroTime,
  describe,
  isPlainObject,
  validateEvent,
  sortKeys,
  TRUNCATED_ANNOTATION,
  type AuditEvent,
  type Reject,
} from '../../event/event.js';
import { parseNativeEventText, salvageIdentity } from '../../event/parse.js';

/** Azure Diagnostics cuts log_s at this many bytes (Azure/AKS#3316), leaving invalid JSON. */
export const LOG_S_LIMIT_BYTES = 32_766;
/** What AKSAudit holds in RequestObject/ResponseObject instead of a body that was too large. */
export const SKIPPED_OBJECT = 'skipped-too-big-size-object';

export interface AksContext {
  /** annotations.cluster_name; default the last segment of the row's resource id. */
  cluster?: string;
}

export type AksTable = 'AKSAudit' | 'AzureDiagnostics';

/** A row as the query API, the SDK or `az monitor log-analytics query` gives it: column → cell. */
export type AksRow = Record<string, unknown>;

/** Which schema a row has: AzureDiagnostics rows carry the Event in log_s. */
export function rowTable(row: AksRow): AksTable {
  return 'log_s' in row || row.Type === 'AzureDiagnostics' ? 'AzureDiagnostics' : 'AKSAudit';
}

export function normalizeAksRow(row: unknown, ctx: AksContext = {}, ref?: string): AuditEvent | Reject {
  if (!isPlainObject(row)) return reject(`expected a Log Analytics row (an object of columns), got ${describe(row)}`, row, ref);
  return rowTable(row) === 'AzureDiagnostics' ? normalizeDiagnosticsRow(row, ctx, ref) : normalizeAksAuditRow(row, ctx, ref);
}

// --- AzureDiagnostics: log_s ---------------------------------------------------------------

export function normalizeDiagnosticsRow(row: AksRow, ctx: AksContext = {}, ref?: string): AuditEvent | Reject {
  const log = row.log_s;
  if (typeof log !== 'string' || log.trim() === '') {
    return reject(`log_s is missing or empty: the row is not a kube-audit record (got ${describe(log)})`, row, ref);
  }
  const parsed = parseNativeEventText(log);
  if (!parsed.ok && parsed.kind === 'json') {
    if (Buffer.byteLength(log, 'utf8') >= LOG_S_LIMIT_BYTES) {
      const id = salvageIdentity(log, ['auditID', 'stage']);
      return reject(
        `log_s truncated by Azure Diagnostics at ${LOG_S_LIMIT_BYTES.toLocaleString('en-US')} bytes (Azure/AKS#3316): ` +
          `the event is not valid JSON and cannot be rebuilt${id ? ` (${id})` : ''}`,
        row,
        ref,
      );
    }
    return reject(`log_s is not valid JSON: ${parsed.error}`, row, ref);
  }
  if (!parsed.ok && parsed.kind === 'shape') {
    const p = parsed.problems[0]!;
    return reject(p.path === '(event)' ? `log_s: ${p.message}` : `log_s.${p.path}: ${p.message}`, row, ref);
  }
  if (!parsed.ok) return reject(`invalid audit event: ${parsed.problems.map((p) => `log_s.${p.path}: ${p.message}`).join('; ')}`, row, ref);
  const event = parsed.event;
  for (const key of ['requestReceivedTimestamp', 'stageTimestamp'] as const) event[key] = validatedMicroTime(event[key]) ?? event[key];
  return finish(event, row, ctx, ref, 'log_s.', {}, true);
}

// --- AKSAudit / AKSAuditAdmin: one column per field ------------------------------------------

export function normalizeAksAuditRow(row: AksRow, ctx: AksContext = {}, ref?: string): AuditEvent | Reject {
  const problems: string[] = [];
  const out: Record<string, unknown> = { kind: 'Event', apiVersion: AUDIT_API_VERSION };
  let skipped = false;

  const text = (column: string): string | undefined => {
    const v = row[column];
    if (v === null || v === undefined || v === '') return undefined;
    if (typeof v === 'string') return v;
    problems.push(`${column}: expected a string, got ${describe(v)}`);
    return undefined;
  };
  const dynamic = (column: string): unknown => {
    const cell = dynamicCell(row[column]);
    if (!cell.ok) problems.push(`${column}: ${cell.problem}`);
    return cell.ok ? cell.value : undefined;
  };
  const body = (column: string): unknown => {
    const value = dynamic(column);
    if (value === SKIPPED_OBJECT) {
      skipped = true;
      return undefined;
    }
    return value;
  };
  const time = (column: string): string | undefined => {
    const v = row[column];
    // The SDK turns datetime cells into millisecond Dates; the bridge projects them with
    // tostring() to keep microseconds, but a Date is still better than nothing (convert input).
    const raw = v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : v;
    if (typeof raw !== 'string' || raw === '') {
      problems.push(`${column}: expected a datetime, got ${describe(v)}`);
      return undefined;
    }
    const canonical = validatedMicroTime(raw);
    if (canonical === undefined) problems.push(`${column}: expected an ISO 8601 UTC datetime, got ${describe(raw)}`);
    return canonical;
  };

  // Fields are added only when present (Go's omitempty), in the apiserver's order; never added
  // and then deleted, which would turn the object into a slow dictionary-mode one.
  const put = (key: string, value: unknown): void => {
    if (value !== undefined) out[key] = value;
  };
  put('level', text('Level'));
  put('auditID', text('AuditId'));
  put('stage', text('Stage'));
  put('requestURI', row.RequestUri === '' ? '' : text('RequestUri'));
  put('verb', text('Verb'));
  put('user', dynamic('User') ?? {});
  put('sourceIPs', dynamic('SourceIps'));
  put('userAgent', text('UserAgent'));
  put('objectRef', dynamic('ObjectRef'));
  put('responseStatus', dynamic('ResponseStatus'));
  put('requestObject', body('RequestObject'));
  put('responseObject', body('ResponseObject'));
  put('requestReceivedTimestamp', time('RequestReceivedTime'));
  put('stageTimestamp', time('StageReceivedTime'));
  put('annotations', dynamic('Annotations'));
  if (problems.length > 0) return reject(`AKSAudit row: ${problems.join('; ')}`, row, ref);

  const event = out as unknown as AuditEvent;
  const extra: Record<string, string> = skipped ? { [TRUNCATED_ANNOTATION]: 'true' } : {};
  return finish(event, row, ctx, ref, '', extra);
}

type Cell = { ok: true; value: unknown } | { ok: false; problem: string };

/**
 * A dynamic cell: the wire and `az` carry it as JSON text, the SDK hands it over parsed (or as
 * the raw string when that text is not JSON, like "skipped-too-big-size-object"). "" and null are
 * an absent value.
 */
function dynamicCell(v: unknown): Cell {
  if (v === null || v === undefined || v === '') return { ok: true, value: undefined };
  if (typeof v !== 'string') return { ok: true, value: v };
  const t = v.trim();
  if (t === SKIPPED_OBJECT) return { ok: true, value: SKIPPED_OBJECT };
  try {
    const value: unknown = JSON.parse(t);
    return { ok: true, value: value === '' || value === null ? undefined : value };
  } catch {
    return { ok: false, problem: `expected JSON, got ${describe(v)}` };
  }
}

// --- both -------------------------------------------------------------------------------

function finish(
  event: AuditEvent,
  row: AksRow,
  ctx: AksContext,
  ref: string | undefined,
  prefix: string,
  extra: Record<string, string> = {},
  validated = false,
): AuditEvent | Reject {
  const problems = validated ? [] : validateEvent(event);
  if (problems.length > 0) {
    const text = problems.map((p) => `${prefix}${p.path}: ${p.message}`).join('; ');
    return reject(`invalid audit event: ${text}`, row, ref);
  }
  // The event is this function's own fresh object (built here or by asTopLevelEvent), so its
  // annotations are set in place rather than through a copy of the whole event.
  const annotations = { ...event.annotations, ...rowAnnotations(row, ctx), ...extra };
  if (Object.keys(annotations).length > 0) event.annotations = sortKeys(annotations);
  return event;
}

/**
 * Where the event came from, in annotations Falco and the rules can read: cluster_name (Falco's
 * ka.cluster.name), and the cluster's ARM id, subscription and resource group. Ids are lower-cased:
 * AKSAudit has only the lower-case _ResourceId, AzureDiagnostics an upper-case ResourceId, and the
 * same cluster must look the same from either table.
 */
export function rowAnnotations(row: AksRow, ctx: AksContext = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const resourceId = firstString(row._ResourceId, row.ResourceId)?.toLowerCase();
  const parts = resourceId ? cachedArmParts(resourceId) : {};
  const cluster = ctx.cluster ?? parts.name;
  if (cluster) out.cluster_name = cluster;
  if (resourceId) out.resource_id = resourceId;
  const subscription = firstString(row._SubscriptionId, row.SubscriptionId, parts.subscription)?.toLowerCase();
  if (subscription) out.subscription_id = subscription;
  const group = firstString(parts.resourceGroup, row.ResourceGroup)?.toLowerCase();
  if (group) out.resource_group = group;
  return out;
}

// A workspace holds a handful of clusters: their ids are split once. Bounded, and a cache only:
// results are the same with or without it.
const PARTS_CACHE = new Map<string, ReturnType<typeof armParts>>();
function cachedArmParts(resourceId: string): ReturnType<typeof armParts> {
  let parts = PARTS_CACHE.get(resourceId);
  if (!parts) {
    if (PARTS_CACHE.size >= 1000) PARTS_CACHE.clear();
    parts = armParts(resourceId);
    PARTS_CACHE.set(resourceId, parts);
  }
  return parts;
}

/** The pieces of /subscriptions/S/resourcegroups/G/providers/microsoft.containerservice/managedclusters/N. */
export function armParts(resourceId: string): { subscription?: string; resourceGroup?: string; name?: string } {
  const segments = resourceId.split('/').filter((s) => s !== '');
  const after = (key: string): string | undefined => {
    const i = segments.findIndex((s) => s.toLowerCase() === key);
    return i >= 0 ? segments[i + 1] : undefined;
  };
  return { subscription: after('subscriptions'), resourceGroup: after('resourcegroups'), name: after('managedclusters') };
}

function firstString(...values: unknown[]): string | undefined {
  for (const v of values) if (typeof v === 'string' && v !== '') return v;
  return undefined;
}

function reject(reason: string, raw: unknown, ref: string | undefined): Reject {
  return ref === undefined ? { reason, raw } : { reason, raw, ref };
}
