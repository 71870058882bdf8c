import type { SourceComponent } from '../../component/source.js';
import { eksSourceSchema, type EksSourceConfig } from './config.js';
import { EksSource } from './source.js';

export const eksSource: SourceComponent<EksSourceConfig> = {
  type: 'eks',
  summary: 'EKS audit logs from CloudWatch Logs (FilterLogEvents)',
  schema: eksSourceSchema,
  create: (config, ctx) => ({ source: new EksSource(config, ctx) }),
  converter: async () => (await import('./normalize.js')).eksConverter,
  emulator: {
    name: 'eks',
    summary: 'CloudWatch Logs FilterLogEvents (JSON protocol) and STS',
    options: [
      { flags: '--cluster <name>', description: 'eks: cluster whose log group /aws/eks/<name>/cluster is served' },
      { flags: '--log-group <name>', description: 'eks: the log group name' },
    ],
    load: async () => (await import('./emulator/index.js')).eksEmulatorModule,
  },
  demo: async (ctx) => (await import('./demo.js')).eksPart(ctx),
};
