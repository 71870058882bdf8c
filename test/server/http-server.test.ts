import { copyFile, writeFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { Agent, request } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { parseConfig } from '../../src/config/load.js';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import { createLocalPki, type LocalPki } from '../../src/util/certs.js';
import { BridgeServer, SERVER_TIMEOUTS } from '../../src/server/http-server.js';
import { Health } from '../../src/pipeline/health.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { systemClock } from '../../src/util/clock.js';
import { makeEvents, readJsonLines } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';
import { eventually } from '../helpers/pipeline.js';
import { captureLogger, onCleanup } from '../helpers/webhook.js';

// The server and the webhook source as `run` builds them, against requests a hostile or careless
// client would send: every answer checked on a real socket on 127.0.0.1.

const TOKEN = 'server-test-token-7d1c';
let pki: LocalPki;
let other: LocalPki;

beforeAll(async () => {
  pki = await createLocalPki('server test');
  other = await createLocalPki('rotated');
});

interface Started {
  bridge: Bridge;
  base: string;
  dir: string;
  logs: ReturnType<typeof captureLogger>;
}

/** A bridge with one webhook source `in` (token-protected unless `source` says otherwise) and a file sink. */
async function startBridge(extra: { source?: (dir: string) => string; server?: (dir: string) => string } = {}): Promise<Started> {
  const dir = await tempDir();
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  for (const [name, pem] of Object.entries({ 'server.crt': pki.server.cert, 'server.key': pki.server.key, 'ca.crt': pki.ca.cert })) {
    await writeFile(join(dir, name), pem);
  }
  const logs = captureLogger('info');
  const config = parseConfig(
    `
sources:
  - name: in
    type: webhook
    ${extra.source?.(dir) ?? `bearerTokenFile: ${join(dir, 'token')}`}
sinks:
  - { name: archive, type: file, path: ${join(dir, 'audit.jsonl')} }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server:
  host: 127.0.0.1
  port: 0
  ${extra.server?.(dir) ?? ''}
`,
    'test.yaml',
    {},
  );
  const bridge = await Bridge.create(config, { logger: logs.logger });
  const { port } = await bridge.start();
  onCleanup(() => bridge.stop());
  const scheme = config.server.tls ? 'https' : 'http';
  return { bridge, base: `${scheme}://127.0.0.1:${port}`, dir, logs };
}

async function post(url: string, body: string, headers: Record<string, string> = {}, dispatcher?: Agent): Promise<{ status: number; text: string }> {
  const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, ...(dispatcher ? { dispatcher } : {}) });
  return { status: res.statusCode, text: await res.body.text() };
}

const auth = { authorization: `Bearer ${TOKEN}` };
const body = (from: number, n = 1): string => AuditWebhookClient.body(makeEvents(from, n));

/** Sends raw bytes on a new TCP connection and resolves with what came back when the server closed it. */
function raw(port: number, chunks: (string | Buffer)[], options: { gapMs?: number; until?: (text: string) => boolean } = {}): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connectTcp(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (options.until?.(text)) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
    void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    })();
  });
}

describe('the audit port is closed by default', () => {
  it('answers 401 without the token or with a wrong one, and takes the right one', async () => {
    const { base } = await startBridge();
    expect((await post(`${base}/audit/in`, body(0))).status).toBe(401);
    expect((await post(`${base}/audit/in`, body(0), { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post(`${base}/audit/in`, body(0), { authorization: `Basic ${TOKEN}` })).status).toBe(401);
    expect((await post(`${base}/audit/in`, body(0), auth)).status).toBe(200);
  });

  it('refuses everyone when a source with no authentication is built in code anyway', async () => {
    // checkConfig refuses such a config; a source that gets past it must still fail closed.
    const { WebhookSource } = await import('../../src/sources/webhook/source.js');
    const { webhookSourceSchema } = await import('../../src/sources/webhook/config.js');
    const source = new WebhookSource(webhookSourceSchema.parse({ name: 'in', type: 'webhook' }), { logger: silentLogger(), metrics: new Metrics(), clock: systemClock });
    const server = new BridgeServer({ host: '127.0.0.1', port: 0, health: new Health(systemClock), metrics: new Metrics(), logger: silentLogger(), receivers: [source] });
    const { port } = await server.listen();
    onCleanup(() => server.close());
    const answer = await post(`http://127.0.0.1:${port}/audit/in`, body(0));
    expect(answer).toEqual({ status: 401, text: '{"error":"this source has no authentication configured, so it accepts no one"}\n' });
  });

  it('logs allowUnauthenticated as a warning at start', async () => {
    const { base, logs } = await startBridge({ source: () => 'allowUnauthenticated: true' });
    expect((await post(`${base}/audit/in`, body(0))).status).toBe(200);
    expect(logs.lines().some((l) => l.level === 'warn' && String(l.warning).includes('accepts requests from anyone who can reach the port'))).toBe(true);
  });

  it('over TLS with client certificates: no certificate, an unknown CA or a name not allowed get 401; the right one gets in', async () => {
    const { base, bridge } = await startBridge({
      source: () => `allowedClientNames: ["server test client"]`,
      server: (dir) => `tls: { certFile: ${join(dir, 'server.crt')}, keyFile: ${join(dir, 'server.key')}, clientCaFile: ${join(dir, 'ca.crt')} }\n  telemetry: { port: 0 }`,
    });
    const agent = (cert?: { cert: string; key: string }): Agent => {
      const a = new Agent({ connect: { ca: pki.ca.cert, ...(cert ?? {}) } });
      onCleanup(() => a.close());
      return a;
    };
    expect((await post(`${base}/audit/in`, body(0), {}, agent())).status).toBe(401);
    expect((await post(`${base}/audit/in`, body(0), {}, agent(other.client))).status).toBe(401);
    // The client certificate's name is "server test client": allowed. A name outside the list is not.
    expect((await post(`${base}/audit/in`, body(0), {}, agent(pki.client))).status).toBe(200);
    // The probes and /metrics are on the telemetry port, in plain HTTP; the audit port does not serve them.
    const telemetry = `http://127.0.0.1:${bridge.telemetryAddress!.port}`;
    expect((await request(`${telemetry}/healthz`)).statusCode).toBe(200);
    expect(await (await request(`${telemetry}/metrics`)).body.text()).toContain('kube_audit_bridge_webhook_source_requests_total{source="in",code="401"} 2');
    expect((await request(`${base}/metrics`, { dispatcher: agent(pki.client) })).statusCode).toBe(404);
    expect((await request(`${telemetry}/audit/in`, { method: 'POST', body: body(1), headers: { 'content-type': 'application/json' } })).statusCode).toBe(404);
  });

  it('refuses a client certificate whose name is not in allowedClientNames', async () => {
    const { base } = await startBridge({
      source: () => `allowedClientNames: ["apiserver-1"]`,
      server: (dir) => `tls: { certFile: ${join(dir, 'server.crt')}, keyFile: ${join(dir, 'server.key')}, clientCaFile: ${join(dir, 'ca.crt')} }`,
    });
    const agent = new Agent({ connect: { ca: pki.ca.cert, ...pki.client } });
    onCleanup(() => agent.close());
    const answer = await post(`${base}/audit/in`, body(0), {}, agent);
    expect(answer).toEqual({ status: 401, text: '{"error":"the client certificate is not one of allowedClientNames"}\n' });
  });

  it('serves a renewed certificate without a restart once its files change', async () => {
    const { base, dir } = await startBridge({
      server: (d) => `tls: { certFile: ${join(d, 'server.crt')}, keyFile: ${join(d, 'server.key')}, reloadInterval: 1s }`,
    });
    const issuer = async (): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connectTls({ host: '127.0.0.1', port: Number(new URL(base).port), rejectUnauthorized: false }, () => {
          resolve(socket.getPeerCertificate().issuer.CN as string);
          socket.end();
        });
        socket.on('error', reject);
      });
    expect(await issuer()).toBe('server test CA');
    // As cert-manager does: new files in place of the old ones.
    await writeFile(join(dir, 'new.crt'), other.server.cert);
    await writeFile(join(dir, 'new.key'), other.server.key);
    await copyFile(join(dir, 'new.key'), join(dir, 'server.key'));
    await copyFile(join(dir, 'new.crt'), join(dir, 'server.crt'));
    await eventually(async () => (await issuer()) === 'rotated CA', 5000, 'the renewed certificate');
    // Requests go on over the new certificate.
    const agent = new Agent({ connect: { ca: other.ca.cert } });
    onCleanup(() => agent.close());
    expect((await post(`${base}/audit/in`, body(0), auth, agent)).status).toBe(200);
  });
});

describe('every request does bounded work', () => {
  it('answers a malformed path 400, an unknown one 404 without naming the sources, and takes only JSON', async () => {
    const { base } = await startBridge();
    expect((await post(`${base}/audit/%E0%A4%A`, body(0), auth)).status).toBe(400);
    expect(await post(`${base}/audit/other`, body(0), auth)).toEqual({ status: 404, text: '{"error":"no webhook source at this path"}\n' });
    expect((await post(`${base}/audit/in`, body(0), { ...auth, 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post(`${base}/audit/in`, body(0), { ...auth, 'content-type': 'text/json-ish' })).status).toBe(415);
    const res = await request(`${base}/audit/in`, { method: 'POST', body: body(0), headers: auth });
    expect(res.statusCode).toBe(415); // no Content-Type at all
    await res.body.dump();
    expect((await post(`${base}/audit/in`, body(1), { ...auth, 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('answers an oversized chunked body 413 (the client reads the answer, not a reset)', async () => {
    const { base } = await startBridge({ source: (dir) => `bearerTokenFile: ${join(dir, 'token')}\n    maxBodyBytes: 64KiB\n    maxPendingBytes: 1MiB` });
    const port = Number(new URL(base).port);
    const chunk = `[${'{"a":"xxxxxxxxxxxxxxxx"},'.repeat(400)}`;
    const head = `POST /audit/in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const chunks = [head, ...Array.from({ length: 20 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`)];
    const { text } = await raw(port, chunks, { gapMs: 5, until: (t) => t.includes('}\n') });
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('body exceeds the limit of 65536 bytes');
  });

  it('answers a body that would cost more than maxPendingBytes once parsed 413, and 503 while others fill it', async () => {
    const { base } = await startBridge({ source: (dir) => `bearerTokenFile: ${join(dir, 'token')}\n    maxBodyBytes: 256KiB\n    maxPendingBytes: 1MiB` });
    // 200 KiB of empty objects: 3 bytes each in the text, some 64 bytes each once parsed.
    const bomb = `[${Array(70_000).fill('{}').join(',')}]`;
    const answer = await post(`${base}/audit/in`, bomb, auth);
    expect(answer.status).toBe(413);
    expect(answer.text).toContain('more than maxPendingBytes');
    // Four chunked uploads still being sent hold maxBodyBytes each, the whole budget: the next waits its turn.
    const port = Number(new URL(base).port);
    const head = `POST /audit/in HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n`;
    const uploads = Array.from({ length: 4 }, () => {
      const socket = connectTcp(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(head);
      return socket;
    });
    onCleanup(async () => uploads.forEach((u) => u.destroy()));
    await eventually(async () => (await post(`${base}/audit/in`, body(0), auth)).status === 503, 5000, 'a 503 while the budget is held');
    for (const u of uploads) u.destroy();
    await eventually(async () => (await post(`${base}/audit/in`, body(0), auth)).status === 200, 5000, 'a 200 once the uploads are gone');
  });

  it('refuses a body of more events than maxEventsPerRequest with 413, and a gzip bomb once decoded', async () => {
    const { base } = await startBridge({ source: (dir) => `bearerTokenFile: ${join(dir, 'token')}\n    maxEventsPerRequest: 5` });
    expect((await post(`${base}/audit/in`, body(0, 6), auth)).status).toBe(413);
    const { gzipSync } = await import('node:zlib');
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const res = await request(`${base}/audit/in`, { method: 'POST', body: bomb, headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(res.statusCode).toBe(413);
    await res.body.dump();
    expect((await post(`${base}/audit/in`, body(10, 5), auth)).status).toBe(200);
  });

  it('closes a connection that trickles its headers, at the headers timeout', async () => {
    const dir = await tempDir();
    const server = new BridgeServer({
      host: '127.0.0.1',
      port: 0,
      health: new Health(systemClock),
      metrics: new Metrics(),
      logger: silentLogger(),
      receivers: [],
      timeouts: { headersTimeout: 500, connectionsCheckingInterval: 100 },
    });
    void dir;
    const { port } = await server.listen();
    onCleanup(() => server.close());
    const trickle = Array.from({ length: 100 }, (_, i) => (i === 0 ? 'POST /audit/in HTTP/1.1\r\n' : `X-${i}: y\r\n`));
    const { text, closedAfterMs } = await raw(port, trickle, { gapMs: 50 });
    expect(closedAfterMs).toBeLessThan(2500); // not the 5 s the trickle would take
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    // What `run` uses: the kube-apiserver's client gives up after 30 s, so nothing holds longer.
    expect(SERVER_TIMEOUTS).toMatchObject({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 });
  });

  it('closes connections beyond maxConnections and serves again once they are gone', async () => {
    const { base } = await startBridge({ server: () => 'maxConnections: 8' });
    const port = Number(new URL(base).port);
    const sockets: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = connectTcp(port, '127.0.0.1');
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    await eventually(() => sockets.filter((s) => s.destroyed || s.closed).length >= 12, 5000, 'the extra connections closed');
    for (const s of sockets) s.destroy();
    await eventually(async () => (await post(`${base}/audit/in`, body(0), auth).catch(() => ({ status: 0 }))).status === 200, 5000, 'service again');
  });

  it('logs refusals at a bounded rate', async () => {
    const { base, logs } = await startBridge();
    for (let i = 0; i < 50; i++) await post(`${base}/audit/in`, body(0));
    const refused = logs.lines().filter((l) => l.msg === 'webhook request refused');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThanOrEqual(5);
    expect(logs.text()).not.toContain(TOKEN);
    // Each line names its source once (a child logger's key repeated by a call's fields made two).
    for (const line of logs.text().split('\n').filter(Boolean)) expect(line.match(/"source":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
    expect(refused.every((l) => l.source === 'in')).toBe(true);
  });

  it('keeps the good events of a body with an event nested too deep, and dead-letters that one alone', async () => {
    const { base, dir } = await startBridge();
    const good = makeEvents(0, 2);
    const deep = `${'{"d":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const badText = JSON.stringify({ ...makeEvents(5, 1)[0], responseStatus: { code: 200, details: 'DEEP' } }).replace('"DEEP"', deep);
    const text = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${JSON.stringify(good[0])},${badText},${JSON.stringify(good[1])}]}`;
    expect(await post(`${base}/audit/in`, text, auth)).toEqual({ status: 200, text: '{"status":"ok","events":2,"rejected":1}\n' });
    expect((readJsonLines(join(dir, 'audit.jsonl')) as { auditID: string }[]).map((e) => e.auditID)).toEqual(good.map((e) => e.auditID));
    const dead = readJsonLines(join(dir, 'dead.jsonl')) as Record<string, unknown>[];
    expect(dead).toMatchObject([{ kind: 'reject', source: 'in', ref: 'items[1]' }]);
    expect(dead[0]).not.toHaveProperty('record');
    expect(String(dead[0]!.reason)).toContain('responseStatus: nests objects and arrays deeper than 256 levels');
  });
});
