import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback webhook receiver for the end-to-end figures. It counts events by finding auditIDs in
 * the body (cheaper than parsing, so the receiver is not what is measured), records when each
 * arrived, and can accept at a fixed rate: a body of n events is answered only once the receiver's
 * budget has n events in it, which is how a slow Falco or SIEM pushes back.
 */
export class BenchReceiver {
  events = 0;
  bytes = 0;
  readonly arrivals = new Map<string, number>();
  private server: Server | undefined;
  private url_ = '';
  private nextFree = 0;

  constructor(private readonly options: { eventsPerSecond?: number; recordArrivals?: boolean } = {}) {}

  get url(): string {
    return this.url_;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const ids = body.match(/"auditID":"[^"]+"/g) ?? [];
        const answer = (): void => {
          const now = Date.now();
          this.events += ids.length;
          this.bytes += body.length;
          if (this.options.recordArrivals) {
            for (const match of ids) {
              const id = match.slice('"auditID":"'.length, -1);
              if (!this.arrivals.has(id)) this.arrivals.set(id, now);
            }
          }
          res.writeHead(200);
          res.end();
        };
        const rate = this.options.eventsPerSecond;
        if (!rate) return answer();
        // Serialize acceptance: each body waits its turn for the time its events cost at `rate`.
        const now = Date.now();
        const start = Math.max(now, this.nextFree);
        this.nextFree = start + (ids.length * 1000) / rate;
        setTimeout(answer, this.nextFree - now);
      });
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url_ = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/k8s-audit`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** Resolves when `done()` holds, checking every `everyMs`; rejects after `timeoutMs`. */
export async function waitFor(done: () => boolean, timeoutMs: number, onTick?: () => void, everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    onTick?.();
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Percentile of a sorted list (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
