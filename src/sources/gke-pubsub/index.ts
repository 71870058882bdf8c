import type { ComponentCheck, SourceComponent } from '../../component/source.js';
import { gkePubsubSourceSchema, maxOutstandingMessages, SERVICE_MIN_ACK_DEADLINE_MS, type GkePubsubSourceConfig } from './config.js';
import { GkePubsubSource } from './source.js';

export const gkePubsubSource: SourceComponent<GkePubsubSourceConfig> = {
  type: 'gke-pubsub',
  summary: 'GKE audit logs streamed from a Pub/Sub subscription that a Log Router sink feeds',
  schema: gkePubsubSourceSchema,
  check: checkGkePubsubSource,
  create: (config, ctx) => ({ source: new GkePubsubSource(config, ctx) }),
  emulator: {
    name: 'pubsub',
    summary: 'Pub/Sub StreamingPull, Acknowledge, ModifyAckDeadline and Publish over gRPC, one subscription',
    options: [{ flags: '--subscription <name>', description: 'pubsub: the subscription served, projects/P/subscriptions/S' }],
    load: async () => (await import('./emulator/index.js')).pubsubEmulatorModule,
  },
  demo: async (ctx) => (await import('./demo.js')).gkePubsubPart(ctx),
};

function checkGkePubsubSource(source: GkePubsubSourceConfig): ComponentCheck {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (source.insecure && source.endpoint === undefined) {
    problems.push('.insecure: plaintext and no auth are only for a local emulator; set endpoint to its host:port, or remove insecure');
  }
  if (!source.insecure && source.minAckDeadline < SERVICE_MIN_ACK_DEADLINE_MS) {
    problems.push(`.minAckDeadline: Pub/Sub takes ack deadlines of 10s to 10m; shorter ones only against an emulator (insecure: true)`);
  }
  if (source.maxAckDeadline < source.minAckDeadline) {
    problems.push('.maxAckDeadline: at least minAckDeadline');
  }
  if (source.insecure && source.keyFile !== undefined) {
    warnings.push('.keyFile: not used with insecure: true (no Google auth)');
  }
  if (maxOutstandingMessages(source) < source.maxBatchMessages) {
    warnings.push(`.maxOutstandingMessages: below maxBatchMessages (${source.maxBatchMessages}); no batch will be full`);
  }
  return { problems, warnings };
}
