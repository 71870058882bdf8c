// The Cloud Logging filter a gke source sends (src/sources/gke/README.md, What it sends). logName must be %2F-encoded;
// timestamps carry the full fraction (second-precision bounds lose entries).

import { formatTimeNs } from './time.js';

export interface GkeFilterOptions {
  projectId: string;
  logs: readonly ('activity' | 'data_access')[];
  clusters?: readonly string[];
  locations?: readonly string[];
  /** The user's own filter, ANDed. */
  extra?: string;
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function anyOf(field: string, values: readonly string[]): string {
  const terms = values.map((v) => `${field}=${quote(v)}`);
  return terms.length === 1 ? terms[0]! : `(${terms.join(' OR ')})`;
}

export function logNameOf(projectId: string, log: 'activity' | 'data_access'): string {
  return `projects/${projectId}/logs/cloudaudit.googleapis.com%2F${log}`;
}

/** The static part: resource type, log names, clusters, locations and the user's filter. */
export function baseFilter(options: GkeFilterOptions): string {
  const lines = ['resource.type="k8s_cluster"', anyOf('logName', options.logs.map((l) => logNameOf(options.projectId, l)))];
  if (options.clusters?.length) lines.push(anyOf('resource.labels.cluster_name', options.clusters));
  if (options.locations?.length) lines.push(anyOf('resource.labels.location', options.locations));
  if (options.extra?.trim()) lines.push(`(${options.extra.trim()})`);
  return lines.join('\n');
}

/** The window [fromNs, toNs) on `timestamp`. */
export function windowFilter(base: string, fromNs: bigint, toNs: bigint): string {
  return `${base}\ntimestamp>="${formatTimeNs(fromNs)}" timestamp<"${formatTimeNs(toNs)}"`;
}
