import { z } from 'zod';
import { byteSize, componentName, duration, filePath, positiveInt } from '../fields.js';

// The kube-apiserver's audit webhook backend posts EventLists to /audit/<name> on the server port.
export const webhookSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('webhook'),
  /** File holding the bearer token senders must present; re-read when it changes. */
  bearerTokenFile: filePath.optional(),
  /** Largest request body accepted, after gzip decoding. */
  maxBodyBytes: byteSize({ min: 1024 }).prefault('32MiB'),
  /** How long a request waits for every sink to acknowledge before it is answered 503 (the apiserver's timeout is 30 s). */
  ackTimeout: duration({ min: 100 }).prefault('20s'),
  /** Requests waiting to enter the pipeline beyond this are answered 503 at once, so the sender backs off. */
  maxPendingRequests: positiveInt('a whole number of requests, at least 1').default(16),
  /** Sets annotations.cluster_name on every event (where Falco's ka.cluster.name looks). */
  cluster: z.string().min(1).optional(),
});
export type WebhookSourceConfig = z.output<typeof webhookSourceSchema>;
