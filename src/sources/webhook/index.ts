import type { CheckContext, ComponentCheck, SourceComponent } from '../../component/source.js';
import { webhookSourceSchema, type WebhookSourceConfig } from './config.js';
import { WebhookSource } from './source.js';

export const webhookSource: SourceComponent<WebhookSourceConfig> = {
  type: 'webhook',
  summary: "the kube-apiserver's audit webhook backend (self-managed clusters)",
  schema: webhookSourceSchema,
  check: checkWebhookSource,
  create(config, ctx) {
    const source = new WebhookSource(config, { logger: ctx.logger, metrics: ctx.metrics, clock: ctx.clock, mtls: ctx.mtls ?? false });
    return { source, receiver: source };
  },
  demo: async (ctx) => (await import('./demo.js')).apiserverPart(ctx),
};

/** Closed unless the config says otherwise: a bearer token, client certificates, or both. */
function checkWebhookSource(source: WebhookSourceConfig, ctx: CheckContext): ComponentCheck {
  const problems: string[] = [];
  const warnings: string[] = [];
  const token = source.bearerTokenFile !== undefined;
  const mtls = ctx.clientCertificates;
  if (!token && !mtls && !source.allowUnauthenticated) {
    problems.push(
      `: the webhook source ${source.name} would accept audit events from anyone who can reach the port; ` +
        'set bearerTokenFile (a file holding the token the kube-apiserver presents) or server.tls.clientCaFile (client certificates), ' +
        'or allowUnauthenticated: true if a NetworkPolicy or a private network keeps everyone else out',
    );
  }
  if (source.allowedClientNames !== undefined && !mtls) {
    problems.push('.allowedClientNames: client names are checked only with client certificates; set server.tls.clientCaFile too, or remove it');
  }
  if (source.maxBodyBytes > source.maxPendingBytes) {
    problems.push(`.maxBodyBytes: at most maxPendingBytes (${source.maxPendingBytes} bytes), or a body that size could never be taken`);
  }
  if (source.allowUnauthenticated && !token && !mtls) {
    warnings.push(`: the webhook source ${source.name} accepts requests from anyone who can reach the port (allowUnauthenticated: true)`);
  }
  // On loopback the token never crosses a network (the demo, a sidecar); elsewhere it does.
  if (!ctx.serverTls && !ctx.serverLoopback) {
    warnings.push(`: the webhook source ${source.name} is served over plain HTTP${token ? ': its bearer token crosses the network in clear text' : ''}; set server.tls`);
  }
  return { problems, warnings };
}
