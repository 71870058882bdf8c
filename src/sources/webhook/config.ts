import { z } from 'zod';
import { byteSize, componentName, duration, filePath, positiveInt } from '../../config/fields.js';

// The kube-apiserver's audit webhook backend posts EventLists to /audit/<name> on the server port.
// Every limit below bounds the work one request can cause; docs/security.md explains the defaults.
export const webhookSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('webhook'),
  /** File holding the bearer token senders must present; re-read when it changes. */
  bearerTokenFile: filePath.optional(),
  /**
   * With server.tls.clientCaFile, senders must present a certificate that CA signed; when this list
   * is given, its subject common name or a DNS name of it must also be one of these.
   */
  allowedClientNames: z.array(z.string().min(1)).min(1).optional(),
  /** Accept requests with neither a bearer token nor a client certificate (a warning at every start). */
  allowUnauthenticated: z.boolean().default(false),
  /** Largest request body accepted, after gzip decoding. */
  maxBodyBytes: byteSize({ min: 1024 }).prefault('8MiB'),
  /** Events one request may carry (the kube-apiserver sends at most --audit-webhook-batch-max-size, 400 by default). */
  maxEventsPerRequest: positiveInt('a whole number of events, at least 1').default(10_000),
  /**
   * Memory the bodies of requests being read, waiting or in flight may take together, estimated as
   * their bytes plus 64 bytes per JSON object or array; beyond it requests get 503 and are retried.
   */
  maxPendingBytes: byteSize({ min: 64 * 1024 }).prefault('64MiB'),
  /** How long a request waits for every sink to acknowledge before it is answered 503 (the apiserver's timeout is 30 s). */
  ackTimeout: duration({ min: 100 }).prefault('20s'),
  /** Requests being read or waiting to enter the pipeline beyond this are answered 503 at once, so the sender backs off. */
  maxPendingRequests: positiveInt('a whole number of requests, at least 1').default(16),
  /** Sets annotations.cluster_name on every event (where Falco's ka.cluster.name looks). */
  cluster: z.string().min(1).optional(),
});
export type WebhookSourceConfig = z.output<typeof webhookSourceSchema>;
