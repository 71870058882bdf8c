// The columns the emulator serves, with their Log Analytics types (samples/aks/*-columns.csv).
import type { ColumnType, TableSchema } from './kql.js';

const AKSAUDIT: Record<string, ColumnType> = {
  TenantId: 'string',
  TimeGenerated: 'datetime',
  Level: 'string',
  AuditId: 'string',
  Stage: 'string',
  RequestUri: 'string',
  Verb: 'string',
  User: 'dynamic',
  SourceIps: 'dynamic',
  UserAgent: 'string',
  ObjectRef: 'dynamic',
  ResponseStatus: 'dynamic',
  RequestObject: 'dynamic',
  ResponseObject: 'dynamic',
  RequestReceivedTime: 'datetime',
  StageReceivedTime: 'datetime',
  Annotations: 'dynamic',
  PodName: 'string',
  SourceSystem: 'string',
  Type: 'string',
  _ResourceId: 'string',
  _SubscriptionId: 'string',
  _BilledSize: 'real',
  _IsBillable: 'string',
};

const AZURE_DIAGNOSTICS: Record<string, ColumnType> = {
  TenantId: 'string',
  TimeGenerated: 'datetime',
  ResourceId: 'string',
  Category: 'string',
  ResourceGroup: 'string',
  SubscriptionId: 'string',
  ResourceProvider: 'string',
  Resource: 'string',
  ResourceType: 'string',
  OperationName: 'string',
  log_s: 'string',
  pod_s: 'string',
  stream_s: 'string',
  containerID_s: 'string',
  ccpNamespace_s: 'string',
  Cloud_s: 'string',
  Environment_s: 'string',
  UnderlayClass_s: 'string',
  UnderlayName_s: 'string',
  SourceSystem: 'string',
  Type: 'string',
  _ResourceId: 'string',
  _SubscriptionId: 'string',
};

export const TABLE_NAMES = ['AKSAudit', 'AKSAuditAdmin', 'AzureDiagnostics'] as const;
export type EmulatedTable = (typeof TABLE_NAMES)[number];

export function isTableName(name: unknown): name is EmulatedTable {
  return typeof name === 'string' && (TABLE_NAMES as readonly string[]).includes(name);
}

export function schemaOf(table: EmulatedTable): TableSchema {
  return { types: table === 'AzureDiagnostics' ? AZURE_DIAGNOSTICS : AKSAUDIT };
}
