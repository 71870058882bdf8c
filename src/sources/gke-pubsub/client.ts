// The Pub/Sub client: @google-cloud/pubsub (streaming pull over gRPC), imported only when a
// gke-pubsub source runs so the CLI does not load google-gax for anything else.

import type { ClientConfig, PubSub, Subscription, SubscriberOptions } from '@google-cloud/pubsub';
import { maxOutstandingMessages, parseSubscription, type GkePubsubSourceConfig } from './config.js';

type Config = Pick<
  GkePubsubSourceConfig,
  | 'subscription'
  | 'endpoint'
  | 'insecure'
  | 'keyFile'
  | 'maxBatchMessages'
  | 'maxOutstandingMessages'
  | 'maxOutstandingBytes'
  | 'maxInFlightBatches'
  | 'streams'
  | 'minAckDeadline'
  | 'maxAckDeadline'
  | 'maxLeaseExtension'
>;

/** A stream the service ends is opened again by the client after at most this long (its default is 60 s). */
export const STREAM_RETRY_MAX_MS = 10_000;

/** How long the client gathers acks before it sends them. */
export const ACK_FLUSH_MS = 10;

export interface PubsubClient {
  /** A new subscriber on the configured subscription; it opens when a 'message' listener is added. */
  subscription(): Subscription;
  close(): Promise<void>;
}

export async function createPubsubClient(config: Config): Promise<PubsubClient> {
  const { PubSub, Duration } = await import('@google-cloud/pubsub');
  const parsed = parseSubscription(config.subscription);
  if (!parsed) throw new Error(`subscription ${JSON.stringify(config.subscription)}: expected projects/P/subscriptions/S`);
  // Always the project: without one the client asks google-auth-library, which may probe the
  // GCE metadata server.
  const options: ClientConfig = { projectId: parsed.project };
  if (config.endpoint) options.apiEndpoint = config.endpoint;
  if (config.insecure) {
    options.emulatorMode = true;
    // The universe domain is stated so that nothing asks the GCE metadata server for it.
    options.universeDomain = 'googleapis.com';
  } else {
    // The client would take any host not under googleapis.com for an emulator and drop TLS and
    // credentials; a private or regional endpoint must keep both.
    if (config.endpoint) options.emulatorMode = false;
    if (config.keyFile) options.keyFilename = config.keyFile;
  }
  const pubsub: PubSub = new PubSub(options);
  const subscriber: SubscriberOptions = {
    flowControl: {
      maxMessages: maxOutstandingMessages(config),
      maxBytes: config.maxOutstandingBytes,
      // Every message received is handed over at once; the source holds what the pipeline has
      // no room for (the service stops sending at the limit, per stream).
      allowExcessMessages: true,
    },
    minAckDeadline: Duration.from({ milliseconds: config.minAckDeadline }),
    maxAckDeadline: Duration.from({ milliseconds: Math.max(config.minAckDeadline, config.maxAckDeadline) }),
    maxExtensionTime: Duration.from({ milliseconds: config.maxLeaseExtension }),
    // Acks and modacks go out this soon after a batch settles (the client's default is 100 ms): the
    // messages of a settled batch count against flow control until Pub/Sub has the ack, and after a
    // crash those acked too late come back. A settled batch's acks leave in one call anyway.
    batching: { maxMilliseconds: ACK_FLUSH_MS },
    streamingOptions: { maxStreams: config.streams, retryMaxBackoff: Duration.from({ milliseconds: STREAM_RETRY_MAX_MS }) },
    // A subscriber that closes (the source stopping, or the client after an error it does not
    // retry) keeps extending and acknowledging what it holds until the pipeline has settled it;
    // the source nacks anything it has not handed on. Only past this does the client nack the rest.
    closeOptions: { behavior: 'WAIT', timeout: Duration.from({ milliseconds: config.maxLeaseExtension }) },
  };
  return {
    subscription: () => pubsub.subscription(parsed.id, subscriber),
    close: () => pubsub.close(),
  };
}
