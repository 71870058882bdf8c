import { z } from 'zod';
import { componentName, filePath, pollingFields, positiveInt } from '../../config/fields.js';

// Cloud Logging entries.list over gRPC; the keys and defaults are in src/sources/gke/README.md.
export const gkeSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('gke'),
  projectId: z.string({ error: 'the Google Cloud project id that holds the cluster logs' }).min(1),
  clusters: z.array(z.string().min(1)).optional(),
  locations: z.array(z.string().min(1)).optional(),
  logs: z
    .array(z.enum(['activity', 'data_access']))
    .min(1, { message: 'at least one of activity, data_access' })
    .default(['activity']),
  /** Extra Cloud Logging filter ANDed to the bridge's own (e.g. to drop lease heartbeats). */
  filter: z.string().optional(),
  pageSize: positiveInt('a page size from 1 to 1000').max(1000, { message: 'a page size from 1 to 1000' }).default(1000),
  /** Shared by every source on the same project: Cloud Logging allows 60 entries.list per minute. */
  requestsPerMinute: positiveInt('a whole number of requests per minute').default(60),
  /** host:port of a Cloud Logging endpoint (an emulator); default the Google API. */
  endpoint: z.string().min(1).optional(),
  /** Plaintext gRPC and no Google auth: only for a local emulator. */
  insecure: z.boolean().default(false),
  /** Service account key file; default GOOGLE_APPLICATION_CREDENTIALS or workload identity. */
  keyFile: filePath.optional(),
  /** Keep GKE's "@type" key in request/response objects (removed by default: native events lack it). */
  keepTypeKey: z.boolean().default(false),
  ...pollingFields({ pollInterval: '10s', settleLag: '30s', overlap: '2m' }),
});
export type GkeSourceConfig = z.output<typeof gkeSourceSchema>;
