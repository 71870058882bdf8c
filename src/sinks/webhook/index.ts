import type { SinkComponent } from '../../component/sink.js';
import { webhookSinkSchema, type WebhookSinkConfig } from './config.js';
import { WebhookSink } from './sink.js';

export const webhookSink: SinkComponent<WebhookSinkConfig> = {
  type: 'webhook',
  summary: 'batched POSTs to Falco, Sysdig or any HTTP endpoint (EventList, array, event, ndjson; TLS, mTLS)',
  schema: webhookSinkSchema,
  create: (config, ctx) => new WebhookSink(config, ctx),
  demo: async (ctx) => (await import('./demo.js')).falcoPart(ctx),
};
