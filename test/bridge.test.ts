import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../src/bridge.js';
import { parseConfig } from '../src/config/load.js';
import { AuditWebhookClient } from '../src/sources/webhook/apiserver-client.js';
import type { AuditEvent } from '../src/event/event.js';
import { validateEvent } from '../src/event/event.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { makeEvents, readJsonLines } from './helpers/events.js';
import { tempDir } from './helpers/fs.js';

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

describe('bridge built from a config file', () => {
  it('serves /healthz, /readyz and /metrics, and delivers webhook posts to every sink', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'token'), 'bridge-test-token\n');
    const config = parseConfig(
      `
sources:
  - name: onprem
    type: webhook
    cluster: lab-1
    bearerTokenFile: ${join(dir, 'token')}
sinks:
  - name: archive
    type: file
    path: ${join(dir, 'audit.jsonl')}
  - name: console
    type: stdout
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
      'test.yaml',
      {},
    );
    const stdout = new PassThrough();
    const lines: string[] = [];
    stdout.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    const bridge = await Bridge.create(config, { logger: silentLogger(), stdout });
    const { port } = await bridge.start();
    const base = `http://127.0.0.1:${port}`;

    expect(await get(`${base}/healthz`)).toEqual({ status: 200, text: 'ok\n' });
    expect(await get(`${base}/readyz`)).toEqual({ status: 200, text: '{"ready":true,"problems":[]}\n' });

    const events = makeEvents(0, 25);
    const result = await new AuditWebhookClient({ url: `${base}/audit/onprem`, bearerToken: 'bridge-test-token' }).post(events);
    expect(result).toMatchObject({ delivered: 25, dropped: 0, statuses: [200] });

    const archived = readJsonLines(join(dir, 'audit.jsonl')) as AuditEvent[];
    expect(archived.map((e) => e.auditID)).toEqual(events.map((e) => e.auditID));
    expect(archived.every((e) => e.annotations?.cluster_name === 'lab-1' && validateEvent(e).length === 0)).toBe(true);
    expect(lines).toHaveLength(25);

    const metrics = (await get(`${base}/metrics`)).text;
    expect(metrics).toContain('kube_audit_bridge_events_received_total{source="onprem"} 25');
    expect(metrics).toContain('kube_audit_bridge_events_delivered_total{sink="archive"} 25');
    expect(metrics).toContain('kube_audit_bridge_events_delivered_total{sink="console"} 25');
    expect(metrics).toContain('kube_audit_bridge_webhook_source_requests_total{source="onprem",code="200"} 1');
    expect(metrics).toMatch(/kube_audit_bridge_source_lag_seconds\{source="onprem"\} \d+/);

    await bridge.stop();
    // After a stop the dedupe window is on disk beside the checkpoint.
    const dedupe = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'checkpoints.dedupe.json'), 'utf8')) as {
      sources: Record<string, string[]>;
    };
    expect(dedupe.sources.onprem).toHaveLength(25);
  });
});
