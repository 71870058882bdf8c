import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Health } from '../pipeline/health.js';
import type { StatusBoard } from '../pipeline/status.js';
import { LogThrottle } from '../telemetry/log-throttle.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { sendJson, sendText } from './respond.js';
import { renderStatusPage, sendStatusPage, statusView } from './status-page.js';
import { TlsFiles, type TlsSettings } from './tls.js';

/** Something that answers POST /audit/<name>: the inbound audit webhook of one source. */
export interface AuditReceiver {
  readonly name: string;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface BridgeServerOptions {
  host: string;
  port: number;
  /** HTTPS on the main port, and client certificates when clientCaFile is set. */
  tls?: TlsSettings | undefined;
  /** /metrics and the probes on a port of their own (plain HTTP); the main port then serves only /audit/. */
  telemetry?: { host?: string | undefined; port: number } | undefined;
  health: Health;
  metrics: Metrics;
  logger: Logger;
  receivers: readonly AuditReceiver[];
  /** When set, the status page at / beside the probes (server.statusPage). */
  status?: StatusBoard | undefined;
  /** Open connections per listener beyond which new ones are refused; default 256. */
  maxConnections?: number;
  /** Only tests shorten these; the defaults are what senders are held to. */
  timeouts?: Partial<ServerTimeouts>;
}

export interface ServerTimeouts {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
}

// The kube-apiserver's webhook client gives up after 30 s; nothing a sender does may hold a
// connection much longer. Headers must arrive within 10 s, the whole request within 30 s, and the
// server checks these every second (Node's default of 30 s would let a trickle last 90 s).
export const SERVER_TIMEOUTS: ServerTimeouts = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 35_000,
  connectionsCheckingInterval: 1_000,
};

/** /healthz, /readyz, /metrics, the status page and the inbound audit webhook. */
export class BridgeServer {
  private readonly main: Server | HttpsServer;
  private readonly telemetry: Server | undefined;
  private readonly tlsFiles: TlsFiles | undefined;
  private readonly receivers: Map<string, AuditReceiver>;
  private readonly log: LogThrottle;

  constructor(private readonly options: BridgeServerOptions) {
    this.receivers = new Map(options.receivers.map((r) => [r.name, r]));
    this.log = new LogThrottle(options.logger, Date.now);
    const serveTelemetryHere = options.telemetry === undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.dispatch(req, res, { audit: true, telemetry: serveTelemetryHere });
    const timeouts = { ...SERVER_TIMEOUTS, ...options.timeouts };
    if (options.tls) {
      this.tlsFiles = new TlsFiles(options.tls, options.logger);
      this.main = createHttpsServer({ ...timeouts, ...this.tlsFiles.secureOptions() }, handler);
      this.main.on('tlsClientError', (err: Error) => this.log.warn('tls-client-error', { error: err.message }, 'TLS handshake failed'));
    } else {
      this.main = createHttpServer(timeouts, handler);
    }
    this.main.maxConnections = options.maxConnections ?? 256;
    if (options.telemetry) {
      this.telemetry = createHttpServer(timeouts, (req, res) => this.dispatch(req, res, { audit: false, telemetry: true }));
      this.telemetry.maxConnections = options.maxConnections ?? 256;
    }
  }

  /** Listens on the main port (and the telemetry port); returns the main port's address. */
  async listen(): Promise<AddressInfo> {
    await listenOn(this.main, this.options.port, this.options.host);
    if (this.telemetry) await listenOn(this.telemetry, this.options.telemetry!.port, this.options.telemetry!.host ?? this.options.host);
    this.tlsFiles?.watch((context) => (this.main as HttpsServer).setSecureContext(context));
    const address = this.main.address() as AddressInfo;
    this.options.logger.info(
      { host: address.address, port: address.port, tls: this.options.tls !== undefined, ...(this.telemetryAddress ? { telemetryPort: this.telemetryAddress.port } : {}) },
      'server listening',
    );
    return address;
  }

  get address(): AddressInfo | undefined {
    return (this.main.address() as AddressInfo | null) ?? undefined;
  }

  get telemetryAddress(): AddressInfo | undefined {
    return (this.telemetry?.address() as AddressInfo | null | undefined) ?? undefined;
  }

  async close(): Promise<void> {
    this.tlsFiles?.stop();
    await Promise.all([this.main, this.telemetry].flatMap((server) => (server ? [closeServer(server)] : [])));
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, serves: { audit: boolean; telemetry: boolean }): void {
    this.route(req, res, serves).catch((err: unknown) => {
      this.log.error('request-failed', { error: (err as Error).message }, 'request failed');
      sendJson(res, 500, { error: 'internal error' });
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse, serves: { audit: boolean; telemetry: boolean }): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (serves.telemetry) {
      if (path === '/healthz') return done(req, () => sendText(res, 200, 'ok\n'));
      if (path === '/readyz') {
        const { ready, problems } = this.options.health.readiness();
        return done(req, () => sendJson(res, ready ? 200 : 503, { ready, problems }));
      }
      if (path === '/metrics') {
        const { registry } = this.options.metrics;
        const text = await registry.metrics();
        return done(req, () => sendText(res, 200, text, registry.contentType));
      }
      if (path === '/' && this.options.status) {
        const html = renderStatusPage(await statusView(this.options.status, this.options.metrics, this.options.health));
        return done(req, () => sendStatusPage(res, html));
      }
    }
    const audit = serves.audit ? /^\/audit\/([^/]+)\/?$/.exec(path) : null;
    if (audit) {
      let name: string;
      try {
        name = decodeURIComponent(audit[1]!);
      } catch {
        return done(req, () => sendJson(res, 400, { error: 'the path is not valid percent-encoding' }));
      }
      const receiver = this.receivers.get(name);
      if (receiver) return receiver.handle(req, res);
      // The configured names are not said: they would tell a prober which paths exist.
      return done(req, () => sendJson(res, 404, { error: 'no webhook source at this path' }));
    }
    return done(req, () => sendJson(res, 404, { error: 'not found' }));
  }
}

/** Answers a request whose body is not wanted: it is drained so that the client reads the answer. */
function done(req: IncomingMessage, answer: () => void): void {
  req.resume();
  answer();
}

function listenOn(server: Server | HttpsServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
