// What a Cloud Logging Log Router sink publishes to its Pub/Sub topic for one LogEntry: the entry's
// JSON as the data (compact, keys in name order, protoPayload a plain object with "@type") and one
// attribute, logging.googleapis.com/timestamp, holding the entry's own timestamp as written.

import { isPlainObject } from '../../../event/event.js';

// The data file takes the shapes the GKE emulator's does: a gcloud JSON array, JSON lines, one entry.
export { loadGkeEntries as loadLogEntries } from '../../gke/emulator/index.js';

export const TIMESTAMP_ATTRIBUTE = 'logging.googleapis.com/timestamp';

export interface SinkMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

/** JSON with every object's keys sorted, as the sink writes entries ("@type" sorts first). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (!isPlainObject(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = v[k];
    return sorted;
  });
}

export function sinkMessage(entry: unknown): SinkMessage {
  const attributes: Record<string, string> = {};
  if (isPlainObject(entry) && typeof entry.timestamp === 'string') attributes[TIMESTAMP_ATTRIBUTE] = entry.timestamp;
  return { data: Buffer.from(canonicalJson(entry), 'utf8'), attributes };
}

/** The entry's JSON cut in the middle: no JSON parser accepts it. */
export function malformedMessage(entry: unknown): SinkMessage {
  const whole = sinkMessage(entry);
  const text = whole.data.toString('utf8');
  return { data: Buffer.from(text.slice(0, Math.max(1, Math.floor(text.length / 2))), 'utf8'), attributes: whole.attributes };
}

/**
 * A LogEntry a sink with a broad filter also routes: the GKE control-plane API's own audit log
 * (resource.type gke_cluster, serviceName container.googleapis.com), not a Kubernetes API record.
 * It keeps the original's times so it sorts among its neighbours.
 */
export function foreignMessage(entry: unknown, seq: number): SinkMessage {
  const original = isPlainObject(entry) ? entry : {};
  const project = /^projects\/([^/]+)\//.exec(typeof original.logName === 'string' ? original.logName : '')?.[1] ?? 'emulator-project';
  const foreign: Record<string, unknown> = {
    insertId: `foreign-${seq}`,
    logName: `projects/${project}/logs/cloudaudit.googleapis.com%2Factivity`,
    protoPayload: {
      '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
      serviceName: 'container.googleapis.com',
      methodName: 'google.container.v1.ClusterManager.UpdateCluster',
      resourceName: `projects/${project}/locations/us-central1/clusters/emulated`,
      authenticationInfo: { principalEmail: 'admin@example.com' },
      status: {},
    },
    resource: { type: 'gke_cluster', labels: { cluster_name: 'emulated', location: 'us-central1', project_id: project } },
    severity: 'NOTICE',
  };
  if (typeof original.timestamp === 'string') foreign.timestamp = original.timestamp;
  if (typeof original.receiveTimestamp === 'string') foreign.receiveTimestamp = original.receiveTimestamp;
  return sinkMessage(foreign);
}
