import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isPlainObject, isRfc3339 } from '../../../event/event.js';

const MiB = 1024 * 1024;

export interface FalcoReceiverOptions {
  /** Default 0 (any free port); always on 127.0.0.1. */
  port?: number;
  /** Default /k8s-audit, the k8saudit plugin's conventional endpoint. */
  path?: string;
  /** Serve HTTPS; with `ca`, clients must present a certificate it signed (mutual TLS). */
  tls?: { cert: string; key: string; ca?: string };
  /** webhookMaxBatchSize; default 12 MiB. */
  maxBodyBytes?: number;
  /** maxEventSize; default 256 KiB. */
  maxEventBytes?: number;
  /** Keep every accepted event (tests); the demo only counts. Default true. */
  keepEvents?: boolean;
  /**
   * Fault injection: the status to answer a request with instead of Falco's own handling
   * (the body is then not parsed). Return undefined to behave as Falco does.
   */
  fault?: (request: number) => { status: number; headers?: Record<string, string>; body?: string } | undefined;
  /** Called for every POST that Falco's handler accepted, after parsing it. */
  onBatch?: (batch: ReceivedBatch) => void;
}

export interface DroppedEvent {
  reason: string;
  auditID?: string;
}

export interface ReceivedBatch {
  bytes: number;
  contentType: string;
  accepted: number;
  dropped: DroppedEvent[];
}

export interface RefusedRequest {
  status: number;
  reason: string;
}

/**
 * A stand-in for Falco's k8saudit webhook (falcosecurity/plugins plugins/k8saudit, source.go),
 * enforcing its input rules (the `falco` preset in src/sinks/webhook/README.md): POST only (else 405), a Content-Type
 * containing application/json (else 400), a body of at most 12 MiB (else 400); then 200 before
 * parsing, as Falco answers. Parsing then accepts an Event, an EventList or a JSON array of them,
 * and drops, as Falco does, an event without an RFC 3339 stageTimestamp or above 256 KiB; it also
 * reports an event without auditID, for which Falco would fill no ka.* field. What Falco only
 * logs is recorded here so tests and the demo can see it.
 */
export class FalcoReceiver {
  readonly events: Record<string, unknown>[] = [];
  readonly batches: ReceivedBatch[] = [];
  readonly dropped: DroppedEvent[] = [];
  readonly refused: RefusedRequest[] = [];
  accepted = 0;
  requests = 0;
  private readonly maxBodyBytes: number;
  private readonly maxEventBytes: number;
  private readonly server: Server;

  private constructor(private readonly options: FalcoReceiverOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? 12 * MiB;
    this.maxEventBytes = options.maxEventBytes ?? 256 * 1024;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    const tls = options.tls;
    this.server = tls
      ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : createHttpServer(handler);
  }

  /** Listens on 127.0.0.1; `url` is the full endpoint URL. */
  static async start(options: FalcoReceiverOptions = {}): Promise<FalcoReceiver> {
    const receiver = new FalcoReceiver(options);
    const server = receiver.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return receiver;
  }

  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}${this.options.path ?? '/k8s-audit'}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const number = ++this.requests;
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== (this.options.path ?? '/k8s-audit')) return this.refuse(req, res, 404, '404 page not found');
    if (req.method !== 'POST') return this.refuse(req, res, 405, `${req.method} method not allowed`);
    if (!(req.headers['content-type'] ?? '').includes('application/json')) return this.refuse(req, res, 400, 'wrong Content Type');

    const fault = this.options.fault?.(number);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.maxBodyBytes) tooBig = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooBig) return this.refuse(req, res, 400, 'bad request: http: request body too large');
      if (fault) {
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers });
        res.end(fault.body ?? '');
        return;
      }
      res.writeHead(200);
      res.end();
      this.parse(Buffer.concat(chunks, size), String(req.headers['content-type']));
    });
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, reason: string): void {
    this.refused.push({ status, reason });
    req.resume();
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${reason}\n`);
  }

  private parse(body: Buffer, contentType: string): void {
    const batch: ReceivedBatch = { bytes: body.length, contentType, accepted: 0, dropped: [] };
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      batch.dropped.push({ reason: `not JSON: ${(err as Error).message}` });
    }
    if (value !== undefined) {
      const items = this.collect(value);
      if (items === undefined) batch.dropped.push({ reason: 'data not recognized as a k8s audit event' });
      else for (const item of items) this.check(item, batch);
    }
    this.batches.push(batch);
    this.dropped.push(...batch.dropped);
    this.options.onBatch?.(batch);
  }

  /** Falco's ParseAuditEventsJSON: an array (recursively), an EventList's items, or one Event. */
  private collect(value: unknown): unknown[] | undefined {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (const v of value) {
        const inner = this.collect(v);
        if (inner === undefined) return undefined;
        out.push(...inner);
      }
      return out;
    }
    if (isPlainObject(value) && value.kind === 'EventList' && Array.isArray(value.items)) return value.items as unknown[];
    if (isPlainObject(value) && value.kind === 'Event') return [value];
    return undefined;
  }

  private check(item: unknown, batch: ReceivedBatch): void {
    if (!isPlainObject(item)) {
      batch.dropped.push({ reason: "can't read stageTimestamp" });
      return;
    }
    const auditID = typeof item.auditID === 'string' ? item.auditID : undefined;
    const tag = auditID !== undefined ? { auditID } : {};
    if (item.stageTimestamp === undefined) return void batch.dropped.push({ reason: "can't read stageTimestamp", ...tag });
    if (!isRfc3339(item.stageTimestamp)) return void batch.dropped.push({ reason: 'stageTimestamp is not RFC 3339', ...tag });
    const size = Buffer.byteLength(JSON.stringify(item));
    if (size > this.maxEventBytes) return void batch.dropped.push({ reason: `event larger than maxEventSize: size=${size}`, ...tag });
    if (!auditID) return void batch.dropped.push({ reason: 'no auditID: every ka.* field would be empty' });
    batch.accepted++;
    this.accepted++;
    if (this.options.keepEvents ?? true) this.events.push(item);
  }
}
