// The data an AKS diagnostic setting writes to Event Hubs: resource-log records of category
// kube-audit / kube-audit-admin, several to a message as {"records": [...]}, the audit Event as
// JSON text in properties.log. This module reads record files and makes the damaged messages
// the malformed/foreign/klog faults inject.

export type DiagnosticRecord = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Records from a file's text: a JSON array, one JSON document, or JSON lines; each value a
 * diagnostic record, a {"records": [...]} message, or an AzureDiagnostics row of a Log Analytics
 * workspace (the samples/aks row files, with `log_s`), which is turned back into the record the
 * diagnostic setting sent (samples/aks/README.md gives the mapping). A UTF-8 BOM is ignored.
 */
export function parseRecordsText(text: string): DiagnosticRecord[] {
  const body = text.replace(/^\uFEFF/, '');
  let values: unknown[];
  try {
    values = [JSON.parse(body) as unknown];
  } catch {
    values = [];
    body.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        values.push(JSON.parse(line.replace(/^\uFEFF/, '')) as unknown);
      } catch (err) {
        throw new Error(`line ${i + 1}: not JSON: ${(err as Error).message}`, { cause: err });
      }
    });
  }
  const records: DiagnosticRecord[] = [];
  for (const value of values) collect(value, records);
  return records;
}

function collect(value: unknown, out: DiagnosticRecord[]): void {
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out);
    return;
  }
  if (!isObject(value)) throw new Error(`expected diagnostic records (objects), got ${JSON.stringify(value)?.slice(0, 80)}`);
  if (Array.isArray(value.records)) {
    collect(value.records, out);
  } else if (Array.isArray(value.rows)) {
    collect(value.rows, out);
  } else if (Array.isArray(value.tables)) {
    throw new Error('a query API answer (tables of column arrays): give the row objects instead (samples/aks/*-rows.json)');
  } else if (typeof value.log_s === 'string') {
    out.push(recordFromAzureDiagnosticsRow(value));
  } else if ('AuditId' in value || value.Type === 'AKSAudit' || value.Type === 'AKSAuditAdmin') {
    throw new Error('AKSAudit rows do not carry the diagnostic record; use AzureDiagnostics rows or the records themselves');
  } else {
    out.push(value);
  }
}

/** The inverse of the record → AzureDiagnostics row mapping of samples/aks/README.md. */
export function recordFromAzureDiagnosticsRow(row: Record<string, unknown>): DiagnosticRecord {
  const text = (name: string): string | undefined => {
    const v = row[name];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const properties: Record<string, unknown> = { log: row.log_s };
  if (text('containerID_s')) properties.containerID = text('containerID_s');
  if (text('stream_s')) properties.stream = text('stream_s');
  if (text('pod_s')) properties.pod = text('pod_s');
  const record: DiagnosticRecord = {
    operationName: text('OperationName') ?? 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
    category: text('Category') ?? 'kube-audit',
  };
  if (text('ccpNamespace_s')) record.ccpNamespace = text('ccpNamespace_s');
  if (text('ResourceId')) record.resourceId = text('ResourceId');
  record.properties = properties;
  if (text('TimeGenerated')) record.time = text('TimeGenerated');
  for (const [column, field] of [
    ['Cloud_s', 'Cloud'],
    ['Environment_s', 'Environment'],
    ['UnderlayClass_s', 'UnderlayClass'],
    ['UnderlayName_s', 'UnderlayName'],
  ] as const) {
    if (text(column)) record[field] = text(column);
  }
  return record;
}

/** The body of a message as the service sends it: the JSON text of {"records": [...]}. */
export function messageBody(records: readonly DiagnosticRecord[]): Buffer {
  return Buffer.from(JSON.stringify({ records }), 'utf8');
}

/** A body cut in the middle, as a record truncated in transit is (Azure/AKS#4635): not JSON. */
export function malformedBody(records: readonly DiagnosticRecord[]): Buffer {
  const text = JSON.stringify({ records });
  return Buffer.from(text.slice(0, Math.max(1, Math.floor(text.length / 2))), 'utf8');
}

/** A line in klog's text format, as kube-apiserver's own log (category kube-apiserver) holds them. */
export function klogLine(record: DiagnosticRecord | undefined): string {
  const time = typeof record?.time === 'string' ? new Date(record.time) : new Date(0);
  const t = Number.isNaN(time.getTime()) ? new Date(0) : time;
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const stamp = `${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}.${pad(t.getUTCMilliseconds(), 3)}000`;
  return `I${stamp}       1 httplog.go:132] "HTTP" verb="GET" URI="/readyz" latency="1.130432ms" userAgent="kube-probe/1.29" audit-ID="" srcIP="10.224.0.4:50312" resp=200\n`;
}

function envelopeOf(record: DiagnosticRecord | undefined, category: string, log: string): DiagnosticRecord {
  const pod = isObject(record?.properties) && typeof record.properties.pod === 'string' ? record.properties.pod : 'kube-apiserver-0';
  return {
    operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
    category,
    ...(typeof record?.resourceId === 'string' ? { resourceId: record.resourceId } : {}),
    properties: { log, stream: 'stderr', pod },
    time: typeof record?.time === 'string' ? record.time : new Date(0).toISOString(),
  };
}

/** A record of a category the bridge does not read, routed to the same hub (Azure/AKS#4750). */
export function foreignRecord(like: DiagnosticRecord | undefined): DiagnosticRecord {
  return envelopeOf(like, 'kube-apiserver', klogLine(like));
}

/** A kube-audit record whose properties.log is klog text instead of an audit Event. */
export function klogRecord(like: DiagnosticRecord | undefined): DiagnosticRecord {
  return envelopeOf(like, 'kube-audit', klogLine(like));
}

/** The value at a dotted path ("resourceId", "properties.pod") as text, for partitioning by key. */
export function keyOf(record: DiagnosticRecord, path: string): string | undefined {
  let v: unknown = record;
  for (const part of path.split('.')) {
    if (!isObject(v)) return undefined;
    v = v[part];
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}
