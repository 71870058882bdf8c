import { z } from 'zod';
import { byteSize, componentName, duration, filePath, positiveInt } from '../../config/fields.js';

export const SUBSCRIPTION_HINT = 'a subscription name such as projects/my-project/subscriptions/kube-audit';
// Project ids may carry a domain (example.com:proj); subscription ids are Pub/Sub's resource names.
const SUBSCRIPTION = /^projects\/([a-z0-9][a-z0-9.:-]*)\/subscriptions\/([A-Za-z][A-Za-z0-9._~%+-]{2,254})$/;

/** The project and subscription id of a full subscription name, or undefined when it is not one. */
export function parseSubscription(name: string): { project: string; id: string } | undefined {
  const m = SUBSCRIPTION.exec(name);
  return m ? { project: m[1]!, id: m[2]! } : undefined;
}

/** Pub/Sub takes stream ack deadlines of 10 to 600 s; the emulator also takes shorter ones (tests). */
export const SERVICE_MIN_ACK_DEADLINE_MS = 10_000;
const MAX_ACK_DEADLINE_MS = 600_000;

// A Pub/Sub subscription fed by a Cloud Logging Log Router sink (README.md beside this file).
export const gkePubsubSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('gke-pubsub'),
  subscription: z.string({ error: SUBSCRIPTION_HINT }).refine((text) => parseSubscription(text) !== undefined, { message: SUBSCRIPTION_HINT }),
  /** host:port of a Pub/Sub endpoint (an emulator, a regional or private endpoint); default the Google API. */
  endpoint: z
    .string({ error: 'host:port of a Pub/Sub endpoint' })
    .regex(/^(\[[^\]]+\]|[^:/\s]+)(:\d{1,5})?$/, { message: 'host:port of a Pub/Sub endpoint, such as 127.0.0.1:8085' })
    .optional(),
  /** Plaintext gRPC and no Google auth: only for a local emulator. */
  insecure: z.boolean().default(false),
  /** Service account key file; default GOOGLE_APPLICATION_CREDENTIALS or workload identity. */
  keyFile: filePath.optional(),
  /** Keep GKE's "@type" key in request/response objects (removed by default: native events lack it). */
  keepTypeKey: z.boolean().default(false),
  /** Messages per batch handed to the pipeline. */
  maxBatchMessages: positiveInt('a whole number of messages from 1 to 10000').max(10_000, { message: 'a whole number of messages from 1 to 10000' }).default(500),
  /** How long a partial batch waits for more messages before it goes. */
  maxBatchWait: duration({ min: 1, max: 60_000 }).prefault('100ms'),
  /** Messages received and not yet acknowledged; default (maxInFlightBatches + 1) × maxBatchMessages. */
  maxOutstandingMessages: positiveInt('a whole number of messages, at least 1').optional(),
  /** Bytes of message data received and not yet acknowledged. */
  maxOutstandingBytes: byteSize({ min: 1024 }).prefault('32MiB'),
  /** StreamingPull streams; each carries the flow control limits on its own. */
  streams: positiveInt('a whole number of streams from 1 to 10').max(10, { message: 'a whole number of streams from 1 to 10' }).default(1),
  /** Bounds of the ack deadline the client asks for and extends by (it follows the 99th percentile of delivery times). */
  minAckDeadline: duration({ min: 1000, max: MAX_ACK_DEADLINE_MS }).prefault('10s'),
  maxAckDeadline: duration({ min: 1000, max: MAX_ACK_DEADLINE_MS }).prefault('10m'),
  /** How long a message's lease is extended while its batch is undelivered; after that Pub/Sub may redeliver it. */
  maxLeaseExtension: duration({ min: 1000, max: 24 * 3_600_000 }).prefault('1h'),
  /** run --once: the source ends once nothing new has arrived for this long. */
  quietPeriod: duration({ min: 100, max: 3_600_000 }).prefault('10s'),
  maxInFlightBatches: positiveInt('a whole number of batches, at least 1').optional(),
});
export type GkePubsubSourceConfig = z.output<typeof gkePubsubSourceSchema>;

/** The pipeline's default maxInFlightBatches (src/config/schema.ts), when neither the source nor its context sets one. */
export const DEFAULT_IN_FLIGHT_BATCHES = 4;

/** Flow control: what the runner can hold undelivered plus the batch being filled. */
export function maxOutstandingMessages(config: Pick<GkePubsubSourceConfig, 'maxOutstandingMessages' | 'maxBatchMessages' | 'maxInFlightBatches'>): number {
  return config.maxOutstandingMessages ?? ((config.maxInFlightBatches ?? DEFAULT_IN_FLIGHT_BATCHES) + 1) * config.maxBatchMessages;
}
