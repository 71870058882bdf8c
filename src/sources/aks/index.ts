import type { SourceComponent } from '../../component/source.js';
import { aksSourceSchema, type AksSourceConfig } from './config.js';
import { AksSource } from './source.js';

export const aksSource: SourceComponent<AksSourceConfig> = {
  type: 'aks',
  summary: 'AKS kube-audit from a Log Analytics workspace (AKSAudit, AKSAuditAdmin, AzureDiagnostics)',
  schema: aksSourceSchema,
  create: (config, ctx) => ({ source: new AksSource(config, ctx) }),
  converter: async () => (await import('./convert.js')).aksConverter,
  emulator: {
    name: 'aks',
    summary: 'the Log Analytics query API and a fake Entra ID, over HTTPS',
    options: [{ flags: '--table <table>', description: 'aks: AKSAudit, AKSAuditAdmin or AzureDiagnostics' }],
    load: async () => (await import('./emulator/index.js')).aksEmulatorModule,
  },
  demo: async (ctx) => (await import('./demo.js')).aksPart(ctx),
};
