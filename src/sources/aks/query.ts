// The KQL the AKS source sends (src/sources/aks/README.md, How it reads). One form, built here and nowhere else, so the
// emulator's parser (src/sources/aks/emulator/kql.ts) has a known subset to understand.
//
//   AKSAudit
//   | where _ResourceId =~ "<cluster ARM id>"                       (when resourceId is set)
//   | extend _ing = ingestion_time(), _key = strcat(AuditId, "|", Stage)
//   | where <lower bound> and _ing < datetime(<window end>)
//   | top <pageSize> by _ing asc, _key asc
//   | project _ing = tostring(_ing), _key, <columns>, RequestReceivedTime = tostring(RequestReceivedTime), ...
//
// The lower bound is either the window start (`_ing >= datetime(S)`) or, for the next page, a
// keyset position: `(_ing > datetime(P) or (_ing == datetime(P) and strcmp(_key, "K") > 0))`.
// Datetimes are projected with tostring() so they keep Kusto's 100 ns text (the SDK would turn a
// datetime cell into a millisecond Date).

export type AksTableName = 'AKSAudit' | 'AKSAuditAdmin' | 'AzureDiagnostics';

export interface QueryScope {
  table: AksTableName;
  /** AzureDiagnostics only. */
  categories: readonly string[];
  resourceId?: string | undefined;
}

/** Where a page starts: at a window start (inclusive) or after the last row of the previous page. */
export type LowerBound = { from: string } | { after: { ing: string; key: string } };

export interface PageRequest {
  lower: LowerBound;
  /** Exclusive end of the (sub-)window, Kusto datetime text. */
  end: string;
  take: number;
}

const AKSAUDIT_COLUMNS = [
  'Level',
  'AuditId',
  'Stage',
  'RequestUri',
  'Verb',
  'User',
  'SourceIps',
  'UserAgent',
  'ObjectRef',
  'ResponseStatus',
  'RequestObject',
  'ResponseObject',
  'RequestReceivedTime = tostring(RequestReceivedTime)',
  'StageReceivedTime = tostring(StageReceivedTime)',
  'Annotations',
  'PodName',
  '_ResourceId',
  '_SubscriptionId',
];

const DIAGNOSTICS_COLUMNS = ['Category', 'log_s', 'pod_s', 'ResourceId', 'Resource', 'ResourceGroup', 'SubscriptionId', '_ResourceId', '_SubscriptionId'];

/** A KQL string literal: double quotes, backslash escapes. */
export function kqlString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

/**
 * The row key: (auditID, stage) for the resource-specific tables. For AzureDiagnostics it is taken
 * from log_s with extract() rather than parse_json(), because a log_s cut at 32,766 bytes is not
 * JSON but still starts with auditID and stage; the category is part of it because a workspace
 * receiving both categories holds every non-read event twice, and a hash of log_s because rows too
 * damaged to show an auditID must still have distinct keys (keyset paging and the seen set need them).
 */
function keyExpression(table: AksTableName): string {
  if (table !== 'AzureDiagnostics') return 'strcat(AuditId, "|", Stage)';
  return `strcat(extract('"auditID":"([^"]*)"', 1, log_s), "|", extract('"stage":"([^"]*)"', 1, log_s), "|", Category, "|", hash(log_s))`;
}

export function buildPageQuery(scope: QueryScope, page: PageRequest): string {
  const lines: string[] = [scope.table];
  if (scope.table === 'AzureDiagnostics') lines.push(`| where Category in (${scope.categories.map(kqlString).join(', ')})`);
  if (scope.resourceId) lines.push(`| where _ResourceId =~ ${kqlString(scope.resourceId)}`);
  lines.push(`| extend _ing = ingestion_time(), _key = ${keyExpression(scope.table)}`);
  const lower =
    'from' in page.lower
      ? `_ing >= datetime(${page.lower.from})`
      : `(_ing > datetime(${page.lower.after.ing}) or (_ing == datetime(${page.lower.after.ing}) and strcmp(_key, ${kqlString(page.lower.after.key)}) > 0))`;
  lines.push(`| where ${lower} and _ing < datetime(${page.end})`);
  lines.push(`| top ${page.take} by _ing asc, _key asc`);
  const columns = scope.table === 'AzureDiagnostics' ? DIAGNOSTICS_COLUMNS : AKSAUDIT_COLUMNS;
  lines.push(`| project _ing = tostring(_ing), _key, ${columns.join(', ')}`);
  return lines.join('\n');
}
