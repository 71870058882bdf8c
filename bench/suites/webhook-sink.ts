import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { webhookSinkSchema } from '../../src/sinks/webhook/config.js';
import { WebhookSink } from '../../src/sinks/webhook/sink.js';
import type { AuditEvent } from '../../src/event/event.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { systemClock } from '../../src/util/clock.js';
import { rate, withBaseline, type Figure, type Suite } from '../harness.js';

/** The EKS sample events (kube-apiserver log lines), repeated with distinct auditIDs. */
function sampleEvents(count: number): AuditEvent[] {
  const file = join(process.cwd(), 'samples/eks/filterlogevents-records.json');
  const records = JSON.parse(readFileSync(file, 'utf8')) as { events: { message: string }[] };
  const base = records.events.filter((e) => !e.message.includes('[Truncated...]')).map((e) => JSON.parse(e.message) as AuditEvent);
  return Array.from({ length: count }, (_, i) => ({ ...base[i % base.length]!, auditID: `bench-${i}` }));
}

/** A loopback receiver that reads each body to the end and answers 200. */
async function startReceiver(): Promise<{ url: string; server: Server; bytes: () => number }> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/k8s-audit`, server, bytes: () => bytes };
}

export const webhookSinkSuite: Suite = {
  name: 'webhook-sink',
  description: 'events through the webhook sink to a loopback receiver (4 concurrent writes, as the pipeline hands them), vs JSON.stringify of the same events',
  async run(ctx) {
    const perWrite = ctx.quick ? 1000 : 4000;
    const writers = 4;
    const events = sampleEvents(perWrite * writers);
    const chunks = Array.from({ length: writers }, (_, w) => events.slice(w * perWrite, (w + 1) * perWrite));
    const minMs = ctx.quick ? 500 : 2000;

    const stringify = await rate(() => {
      let n = 0;
      for (const e of events) n += JSON.stringify(e).length;
      return n;
    }, events.length, { minMs });
    ctx.log(`JSON.stringify: ${Math.round(stringify.opsPerSecond)} events/s`);

    const figures: Figure[] = [];
    const receiver = await startReceiver();
    try {
      for (const variant of [
        { key: 'eventlist', label: 'webhook sink, EventList', settings: {} },
        { key: 'eventlist_gzip', label: 'webhook sink, EventList + gzip', settings: { gzip: true } },
        { key: 'ndjson', label: 'webhook sink, ndjson', settings: { format: 'ndjson' } },
      ]) {
        const metrics = new Metrics();
        const config = webhookSinkSchema.parse({ name: 'bench', type: 'webhook', url: receiver.url, batchMaxWait: '10ms', ...variant.settings });
        const sink = new WebhookSink(config, { logger: silentLogger(), metrics, clock: systemClock });
        const signal = new AbortController().signal;
        const before = receiver.bytes();
        const r = await rate(() => Promise.all(chunks.map((c) => sink.write(c, signal))), events.length, { minMs, warmup: 2 });
        const sentBytes = receiver.bytes() - before;
        await sink.close();
        ctx.log(`${variant.label}: ${Math.round(r.opsPerSecond)} events/s, ${(sentBytes / 1e6).toFixed(1)} MB on the wire`);
        figures.push(
          withBaseline(
            { key: `webhook_sink.${variant.key}.events_per_s`, label: variant.label, value: r.opsPerSecond, unit: 'events/s' },
            'JSON.stringify',
            stringify.opsPerSecond,
          ),
        );
      }
    } finally {
      await new Promise<void>((resolve) => {
        receiver.server.close(() => resolve());
        receiver.server.closeAllConnections();
      });
    }
    return figures;
  },
};
