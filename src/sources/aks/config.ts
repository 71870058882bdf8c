import { z } from 'zod';
import { componentName, duration, filePath, httpUrl, pollingFields, positiveInt } from '../../config/fields.js';

const credentialSchema = z.strictObject({
  type: z.enum(['default', 'clientSecret', 'clientCertificate', 'workloadIdentity', 'managedIdentity']).default('default'),
  tenantId: z.string().optional(),
  clientId: z.string().optional(),
  /** Entra login host; an emulator's fake token endpoint in tests. */
  authorityHost: httpUrl(['https']).optional(),
  certificateFile: filePath.optional(),
  tokenFile: filePath.optional(),
  /** clientSecret: the secret, read from this file (re-read when it changes); default AZURE_CLIENT_SECRET. */
  clientSecretFile: filePath.optional(),
});

// Log Analytics query API; the keys and defaults are in src/sources/aks/README.md.
export const aksSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('aks'),
  workspaceId: z
    .string({ error: 'the Log Analytics workspace id (a GUID)' })
    .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, {
      message: 'the Log Analytics workspace id (a GUID)',
    }),
  table: z.enum(['AKSAudit', 'AKSAuditAdmin', 'AzureDiagnostics']).default('AKSAudit'),
  /** AzureDiagnostics only. */
  categories: z.array(z.enum(['kube-audit', 'kube-audit-admin'])).min(1).default(['kube-audit']),
  /** The cluster's ARM resource id, to read one cluster of a shared workspace. */
  resourceId: z.string().startsWith('/subscriptions/', { message: 'an ARM resource id starting with /subscriptions/' }).optional(),
  /** Name for the cluster_name annotation; default the last segment of resourceId. */
  clusterName: z.string().optional(),
  pageSize: positiveInt('a number of rows per query, at most 500000').max(500000).default(5000),
  serverTimeout: duration({ min: 1000, max: 600_000 }).prefault('3m'),
  /** Shared by every source on the same identity: 200 requests per 30 s. */
  requestsPer30s: positiveInt('a whole number of requests per 30 s').max(200).default(200),
  /** How far TimeGenerated may lag behind ingestion time: the query's TimeGenerated range is this much wider. */
  maxLateness: duration({ min: 0 }).prefault('1h'),
  // The SDK appends /workspaces/{id}/query to the endpoint as given: without /v1 every query is a 404.
  endpoint: httpUrl(['https'])
    .refine((text) => /^https:\/\/[^/]+\/v1\/?$/i.test(text), {
      message: 'the query API base URL ending with /v1, such as https://api.loganalytics.io/v1',
    })
    .optional(),
  caFile: filePath.optional(),
  credential: credentialSchema.prefault({}),
  ...pollingFields({ pollInterval: '60s', settleLag: '5m', overlap: '10m' }),
});
export type AksSourceConfig = z.output<typeof aksSourceSchema>;
