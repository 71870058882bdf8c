import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Health } from '../pipeline/health.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { sendJson, sendText } from './respond.js';

/** Something that answers POST /audit/<name>: the inbound audit webhook of one source. */
export interface AuditReceiver {
  readonly name: string;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface BridgeServerOptions {
  host: string;
  port: number;
  health: Health;
  metrics: Metrics;
  logger: Logger;
  receivers: readonly AuditReceiver[];
}

/** /healthz, /readyz, /metrics and the inbound audit webhook (DESIGN §10). */
export class BridgeServer {
  private readonly server: Server;
  private readonly receivers: Map<string, AuditReceiver>;

  constructor(private readonly options: BridgeServerOptions) {
    this.receivers = new Map(options.receivers.map((r) => [r.name, r]));
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        options.logger.error({ error: (err as Error).message, path: req.url }, 'request failed');
        sendJson(res, 500, { error: 'internal error' });
      });
    });
    // The apiserver's webhook client times out at 30 s; keep connections a little longer than that.
    this.server.keepAliveTimeout = 35_000;
    this.server.requestTimeout = 120_000;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.options.logger.info({ host: address.address, port: address.port }, 'server listening');
    return address;
  }

  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** Stops accepting connections but lets open requests (webhook posts waiting for acks) finish. */
  stopAccepting(): void {
    this.server.close();
    this.server.closeIdleConnections();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path === '/healthz') return sendText(res, 200, 'ok\n');
    if (path === '/readyz') {
      const { ready, problems } = this.options.health.readiness();
      return sendJson(res, ready ? 200 : 503, { ready, problems });
    }
    if (path === '/metrics') {
      const { registry } = this.options.metrics;
      return sendText(res, 200, await registry.metrics(), registry.contentType);
    }
    const audit = /^\/audit\/([^/]+)\/?$/.exec(path);
    if (audit) {
      const receiver = this.receivers.get(decodeURIComponent(audit[1]!));
      if (receiver) return receiver.handle(req, res);
      req.resume();
      return sendJson(res, 404, { error: `no webhook source named "${audit[1]}"; configured: ${[...this.receivers.keys()].join(', ') || 'none'}` });
    }
    req.resume();
    return sendJson(res, 404, { error: 'not found' });
  }
}
