import { z } from 'zod';
import { byteSize, componentName, duration, httpUrl, positiveInt } from '../fields.js';
import { checkHttpClient, httpClientFields } from './http.js';

// POSTs events to any HTTP endpoint (DESIGN §6). Batching names follow the kube-apiserver's
// --audit-webhook-batch-* flags.
export const webhookSinkSchema = z
  .strictObject({
    name: componentName,
    type: z.literal('webhook'),
    url: httpUrl(),
    /** falco: /k8s-audit on 9765 with Falco's limits; sysdig: /k8s_audit on 7765. */
    preset: z.enum(['falco', 'sysdig']).optional(),
    format: z.enum(['EventList', 'array', 'event', 'ndjson']).optional(),
    gzip: z.boolean().default(false),
    batchMaxSize: positiveInt('a whole number of events, at least 1').default(400),
    batchMaxBytes: byteSize({ min: 1024 }).optional(),
    batchMaxWait: duration().prefault('1s'),
    maxEventBytes: byteSize({ min: 1024 }).optional(),
    maxConcurrentRequests: positiveInt('a whole number of requests, at least 1').default(4),
    /** A sink failing for longer than this makes /readyz fail. */
    failureThreshold: duration({ min: 1000 }).prefault('5m'),
    /** Per-sink override of process.scrubSecrets. */
    scrubSecrets: z.boolean().optional(),
    ...httpClientFields,
  })
  .superRefine(checkHttpClient);
export type WebhookSinkConfig = z.output<typeof webhookSinkSchema>;
