import { z } from 'zod';
import { componentName, duration, filePath, httpUrl, positiveInt } from '../../config/fields.js';
import { isRfc3339 } from '../../event/event.js';
import { parseDuration } from '../../util/duration.js';
import { aksSourceSchema } from '../aks/config.js';

/** The `credential` block of the `aks` source, as is: one identity setup for both AKS sources. */
export const azureCredentialSchema = aksSourceSchema.shape.credential.unwrap();
export type AzureCredentialConfig = z.output<typeof azureCredentialSchema>;

/** The hub a diagnostic setting creates when it is given a namespace and no hub name. */
export const DEFAULT_EVENT_HUB = 'insights-logs-kube-audit';

export type StartPosition = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'time'; epochMs: number } | { kind: 'ago'; ms: number };
const START_HINT = '"earliest", "latest", an RFC 3339 time such as 2026-01-02T15:04:05Z, or a negative duration such as -24h';

const startPosition = z
  .string({ error: START_HINT })
  .default('latest')
  .transform((text, ctx): StartPosition => {
    if (text === 'earliest' || text === 'latest') return { kind: text };
    if (text.startsWith('-')) {
      const ms = parseDuration(text.slice(1));
      if (ms !== undefined) return { kind: 'ago', ms };
    } else if (isRfc3339(text)) {
      return { kind: 'time', epochMs: Date.parse(text) };
    }
    ctx.addIssue({ code: 'custom', message: START_HINT });
    return z.NEVER;
  });

// An Event Hubs namespace host: <name>.servicebus.windows.net in the public cloud.
const NAMESPACE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,250}[A-Za-z0-9])?(:\d{1,5})?$/;

const checkpointStoreSchema = z.strictObject({
  /** https://<account>.blob.core.windows.net/<container>, for `credential`. */
  containerUrl: httpUrl().optional(),
  /** With connectionStringFile: the container's name. */
  containerName: z
    .string({ error: 'a Blob container name' })
    .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, { message: 'a Blob container name: 3 to 63 lower-case letters, digits and single hyphens' })
    .optional(),
  /** A storage connection string, read from this file at every (re)subscription. */
  connectionStringFile: filePath.optional(),
  credential: azureCredentialSchema.optional(),
});

// Event Hubs consumer through @azure/event-hubs; reference: README.md in this folder.
export const aksEventHubsSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('aks-eventhubs'),
  /** <namespace>.servicebus.windows.net, for `credential`; a connection string names it itself. */
  fullyQualifiedNamespace: z
    .string({ error: 'an Event Hubs namespace host such as my-namespace.servicebus.windows.net' })
    .regex(NAMESPACE, { message: 'an Event Hubs namespace host such as my-namespace.servicebus.windows.net (no scheme, no path)' })
    .optional(),
  eventHub: z.string({ error: 'an Event Hub name' }).min(1).default(DEFAULT_EVENT_HUB),
  consumerGroup: z.string({ error: 'a consumer group name' }).min(1).default('$Default'),
  /** A namespace or hub connection string (a shared access policy with Listen), read from this file. */
  connectionStringFile: filePath.optional(),
  credential: azureCredentialSchema.optional(),
  /** Several replicas share the partitions through this container; without it positions go to the bridge's checkpoint file. */
  checkpointStore: checkpointStoreSchema.optional(),
  /** Where a partition with no position yet starts. */
  startPosition,
  /** Name for the cluster_name annotation; default the last segment of each record's resourceId. */
  clusterName: z.string().min(1).optional(),
  /** Messages per batch and partition (a message holds one or more records). */
  maxBatchSize: positiveInt('a number of messages, from 1 to 1000').max(1000, { message: 'a number of messages, from 1 to 1000' }).default(50),
  /** How long a partition waits to fill a batch before it hands over what it has. */
  maxWaitTime: duration({ min: 10, max: 60_000 }).prefault('1s'),
  /** Messages a partition's receiver may hold ahead of the pipeline; default maxBatchSize. */
  prefetchCount: positiveInt('a number of messages').max(10_000).optional(),
  /** run --once: stop when nothing new has arrived for this long. */
  quietPeriod: duration({ min: 100 }).prefault('10s'),
  loadBalancing: z
    .strictObject({
      /** balanced: one partition claimed per round (little churn); greedy: every claimable one at once. */
      strategy: z.enum(['balanced', 'greedy']).default('balanced'),
      /** How often partitions are claimed, ownerships renewed and stopped partitions restarted. */
      updateInterval: duration({ min: 100, max: 600_000 }).prefault('5s'),
      /** A replica that has not renewed its claim for this long is taken to be gone. */
      ownershipExpiration: duration({ min: 1000, max: 3_600_000 }).prefault('30s'),
    })
    .prefault({}),
  maxInFlightBatches: positiveInt('a whole number of batches, at least 1').optional(),
});
export type AksEventHubsSourceConfig = z.output<typeof aksEventHubsSourceSchema>;
export type CheckpointStoreConfig = NonNullable<AksEventHubsSourceConfig['checkpointStore']>;
