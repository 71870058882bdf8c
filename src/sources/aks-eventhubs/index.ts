import type { ComponentCheck, SourceComponent } from '../../component/source.js';
import { aksEventHubsSourceSchema, type AksEventHubsSourceConfig } from './config.js';
import { AksEventHubsSource } from './source.js';

export const aksEventHubsSource: SourceComponent<AksEventHubsSourceConfig> = {
  type: 'aks-eventhubs',
  summary: 'AKS kube-audit streamed from the Event Hub a diagnostic setting writes to; partitions shared by replicas through a Blob checkpoint store',
  schema: aksEventHubsSourceSchema,
  check: checkAksEventHubsSource,
  create: (config, ctx) => ({ source: new AksEventHubsSource(config, ctx) }),
  converter: async () => (await import('./convert.js')).aksEventHubsConverter,
  emulator: {
    name: 'eventhubs',
    summary: 'an Event Hubs namespace (AMQP 1.0 on 127.0.0.1) with one hub of diagnostic records',
    options: [
      { flags: '--hub <name>', description: 'eventhubs: the Event Hub to serve (AKS writes to insights-logs-kube-audit)' },
      { flags: '--partitions <n>', description: 'eventhubs: number of partitions (default 4)' },
    ],
    load: async () => (await import('./emulator/index.js')).eventHubsEmulatorModule,
  },
  demo: async (ctx) => (await import('./demo.js')).aksEventHubsPart(ctx),
};

/** What the schema cannot say: which way in to the hub and to the checkpoint container. */
export function checkAksEventHubsSource(config: AksEventHubsSourceConfig): ComponentCheck {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (config.connectionStringFile === undefined && config.fullyQualifiedNamespace === undefined) {
    problems.push(': set connectionStringFile (a connection string of a shared access policy with Listen) or fullyQualifiedNamespace with credential (Entra ID)');
  }
  if (config.connectionStringFile !== undefined && config.fullyQualifiedNamespace !== undefined) {
    problems.push('.fullyQualifiedNamespace: the connection string in connectionStringFile names the namespace; set one of the two');
  }
  if (config.connectionStringFile !== undefined && config.credential !== undefined) {
    problems.push('.credential: the connection string in connectionStringFile is the credential; set one of the two');
  }
  const store = config.checkpointStore;
  if (store) {
    if (store.containerUrl === undefined && store.connectionStringFile === undefined) {
      problems.push('.checkpointStore: set containerUrl (with credential) or connectionStringFile with containerName');
    }
    if (store.containerUrl !== undefined && store.connectionStringFile !== undefined) {
      problems.push('.checkpointStore.connectionStringFile: containerUrl and connectionStringFile both name the container; set one of the two');
    }
    if (store.connectionStringFile !== undefined && store.containerUrl === undefined && store.containerName === undefined) {
      problems.push('.checkpointStore.containerName: the container to keep checkpoints in is required with connectionStringFile');
    }
    if (store.connectionStringFile !== undefined && store.credential !== undefined) {
      problems.push('.checkpointStore.credential: the connection string in connectionStringFile is the credential; set one of the two');
    }
    if (store.containerUrl !== undefined && store.containerName !== undefined) {
      problems.push('.checkpointStore.containerName: containerUrl already names the container');
    }
    if (store.containerUrl !== undefined && new URL(store.containerUrl).pathname.replace(/^\/+|\/+$/g, '') === '') {
      problems.push('.checkpointStore.containerUrl: the URL of the container, such as https://myaccount.blob.core.windows.net/eventhub-checkpoints');
    }
    if (config.startPosition.kind === 'ago') {
      warnings.push('.startPosition: with a checkpoint store a relative start is taken again at every start of the bridge for a partition with no checkpoint yet; an absolute time, earliest or latest does not move');
    }
  }
  const { updateInterval, ownershipExpiration } = config.loadBalancing;
  if (ownershipExpiration < 2 * updateInterval) {
    problems.push(`.loadBalancing.ownershipExpiration: at least twice updateInterval (${updateInterval} ms), or claims expire between two renewals and partitions move back and forth`);
  }
  return { problems, warnings };
}
