import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedRequest {
  n: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** As sent (still compressed when Content-Encoding says so). */
  raw: Buffer;
  /** Decoded text. */
  text: string;
  /** The test's clock at arrival, when one was given. */
  at: number | undefined;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** Decides the answer; may return a promise to hold the request (a slow receiver). */
export type Responder = (req: ReceivedRequest) => Reply | Promise<Reply>;

/**
 * A receiver on 127.0.0.1 that records every request and answers as the test says (200 by
 * default). HTTPS when `tls` is given; with `tls.ca`, clients must present a certificate.
 */
export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Requests being held by the responder. */
  holding = 0;
  respond: Responder = () => ({ status: 200 });
  tlsErrors = 0;

  private readonly server: Server;
  private url_ = '';

  private constructor(
    tls: { cert: string; key: string; ca?: string } | undefined,
    private readonly now?: () => number,
  ) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.server = tls
      ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : createHttpServer(handler);
    this.server.on('tlsClientError', () => this.tlsErrors++);
  }

  static async start(options: { port?: number; tls?: { cert: string; key: string; ca?: string }; path?: string; now?: () => number } = {}): Promise<TestReceiver> {
    const receiver = new TestReceiver(options.tls, options.now);
    const port = await listen(receiver.server, options.port ?? 0);
    receiver.url_ = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}${options.path ?? '/ingest'}`;
    return receiver;
  }

  get url(): string {
    return this.url_;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** The decoded bodies parsed as JSON. */
  json<T = unknown>(): T[] {
    return this.requests.map((r) => JSON.parse(r.text) as T);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    const received: ReceivedRequest = {
      n: this.requests.length + 1,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      raw,
      text,
      at: this.now?.(),
    };
    this.requests.push(received);
    this.holding++;
    let reply: Reply;
    try {
      reply = await this.respond(received);
    } finally {
      this.holding--;
    }
    if (res.destroyed) return;
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body ?? '');
  }
}

export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A latch the test opens to release held requests. */
export class Gate {
  private opened = false;
  private waiters: (() => void)[] = [];

  wait(): Promise<void> {
    if (this.opened) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  open(): void {
    this.opened = true;
    for (const w of this.waiters.splice(0)) w();
  }
}
