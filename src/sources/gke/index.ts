import type { SourceComponent } from '../../component/source.js';
import { gkeSourceSchema, type GkeSourceConfig } from './config.js';
import { GkeSource } from './source.js';

export const gkeSource: SourceComponent<GkeSourceConfig> = {
  type: 'gke',
  summary: 'GKE audit logs from Cloud Logging (entries.list over gRPC)',
  schema: gkeSourceSchema,
  create: (config, ctx) => ({ source: new GkeSource(config, ctx) }),
  converter: async () => (await import('./normalize.js')).gkeConverter,
  emulator: {
    name: 'gke',
    summary: 'Cloud Logging ListLogEntries over gRPC',
    load: async () => (await import('./emulator/index.js')).gkeEmulatorModule,
  },
  demo: async (ctx) => (await import('./demo.js')).gkePart(ctx),
};
