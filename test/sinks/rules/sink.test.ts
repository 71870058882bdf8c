import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../../src/checkpoint/file-store.js';
import { rulesSinkSchema } from '../../../src/sinks/rules/config.js';
import { createLocalPki } from '../../../src/util/certs.js';
import { FileDeadLetter } from '../../../src/pipeline/dead-letter.js';
import { createRulesSink, RulesLoadError, type RulesSink } from '../../../src/sinks/rules/sink.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { Health } from '../../../src/pipeline/health.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { PermanentDeliveryError } from '../../../src/pipeline/types.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock, type Clock } from '../../../src/util/clock.js';
import { VirtualClock } from '../../helpers/clock.js';
import { FIXTURES, readJsonLines } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { eventually, ListSource } from '../../helpers/pipeline.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  authorized?: boolean;
}
type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hold';

/** A local HTTP(S) endpoint that records requests and answers from a script (200 once it runs out). */
class Endpoint {
  readonly received: Received[] = [];
  readonly held: (() => void)[] = [];
  replies: Reply[] = [];
  private server!: Server;

  static async start(tls?: { key: string; cert: string; ca: string }): Promise<Endpoint> {
    const endpoint = new Endpoint();
    const handler = (req: IncomingMessage, res: ServerResponse): void => endpoint.handle(req, res);
    endpoint.server = tls ? createHttpsServer({ ...tls, requestCert: true, rejectUnauthorized: false }, handler) : createHttpServer(handler);
    endpoint.server.listen(0, '127.0.0.1');
    await once(endpoint.server, 'listening');
    servers.push(endpoint);
    return endpoint;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `${'cert' in this.server ? 'https' : 'http'}://127.0.0.1:${port}/hook/secret-part`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      this.received.push({ path: req.url ?? '', headers: req.headers, body, ...(socket.encrypted ? { authorized: socket.authorized } : {}) });
      const reply = this.replies.shift() ?? { status: 200, body: 'ok' };
      if (reply === 'hold') {
        this.held.push(() => res.writeHead(200).end('ok'));
        return;
      }
      res.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? '');
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const servers: Endpoint[] = [];
const sinks: RulesSink[] = [];
// Alerts an output refuses are written here (one file per sink built), for the tests to read.
const deadLetterDir = mkdtempSync(join(tmpdir(), 'kab-rules-sink-'));
const deadLetterOf = new Map<RulesSink, string>();
let built = 0;
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const s of servers.splice(0)) await s.close();
});

function fixture(name: string): AuditEvent[] {
  return readJsonLines(`${FIXTURES}rules/events/${name}.json`) as AuditEvent[];
}
const PRIVILEGED = fixture('falco_create_nginx_pod_privileged');
const EXEC = fixture('falco_exec_pod');
const QUIET = fixture('falco_create_nginx_pod_unprivileged');

function sink(config: Record<string, unknown>, options: { clock?: Clock; stdout?: PassThrough; metrics?: Metrics } = {}): { sink: RulesSink; metrics: Metrics; out: PassThrough } {
  const metrics = options.metrics ?? new Metrics();
  const out = options.stdout ?? new PassThrough();
  const parsed = rulesSinkSchema.parse({ name: 'detections', type: 'rules', rules: ['config/rules/library.yaml'], enable: ['all'], ...config });
  const clock = options.clock ?? systemClock;
  const deadLetterPath = join(deadLetterDir, `dead-${++built}.jsonl`);
  const created = createRulesSink(parsed, {
    logger: silentLogger(),
    metrics,
    clock,
    health: new Health(clock, metrics),
    deadLetter: new FileDeadLetter(deadLetterPath),
    stdout: out,
    hostname: 'bridge-0',
  });
  deadLetterOf.set(created, deadLetterPath);
  sinks.push(created);
  return { sink: created, metrics, out };
}

function lines(out: PassThrough): Record<string, unknown>[] {
  const text = (out.read() as Buffer | null)?.toString() ?? '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const fast = { initialBackoff: '1s', maxBackoff: '60s' };

describe('rules sink', () => {
  it('sends each alert to stdout, the webhook and Slack (above its minimum priority); quiet events send nothing', async () => {
    const webhook = await Endpoint.start();
    const slack = await Endpoint.start();
    const { sink: s, metrics, out } = sink({
      alerts: [{ type: 'stdout' }, { type: 'webhook', url: webhook.url, headers: { 'x-tenant': 'blue' } }, { type: 'slack', url: slack.url, minPriority: 'WARNING', channel: '#sec' }],
    });
    await s.write([...PRIVILEGED, ...EXEC, ...QUIET], new AbortController().signal);

    const stdout = lines(out);
    expect(stdout.map((a) => [a.rule, a.priority, a.source, a.auditID, a.hostname])).toEqual([
      ['Privileged pod created', 'Warning', 'k8s_audit', PRIVILEGED[0]!.auditID, 'bridge-0'],
      ['Pod exec or attach', 'Notice', 'k8s_audit', EXEC[0]!.auditID, 'bridge-0'],
    ]);
    // Falcosidekick's shape: one alert per POST, as JSON.
    expect(webhook.received.map((r) => [r.path, r.headers['content-type'], r.headers['x-tenant']])).toEqual([
      ['/hook/secret-part', 'application/json', 'blue'],
      ['/hook/secret-part', 'application/json', 'blue'],
    ]);
    expect(webhook.received.map((r) => (JSON.parse(r.body) as { rule: string }).rule).sort()).toEqual(['Pod exec or attach', 'Privileged pod created']);
    expect(JSON.parse(webhook.received.find((r) => r.body.includes('Privileged'))!.body)).toEqual(stdout[0]);
    // Slack only gets the Warning; the Notice is below its minimum.
    expect(slack.received.map((r) => JSON.parse(r.body) as Record<string, unknown>)).toMatchObject([{ channel: '#sec', text: '*Warning* Privileged pod created' }]);

    const counted = await metrics.registry.getSingleMetricAsString('kube_audit_bridge_alerts_delivered_total');
    expect(counted).toContain('kube_audit_bridge_alerts_delivered_total{sink="detections",output="webhook"} 2');
    expect(counted).toContain('kube_audit_bridge_alerts_delivered_total{sink="detections",output="slack"} 1');

    await s.write(QUIET, new AbortController().signal);
    expect(webhook.received).toHaveLength(2);
  });

  it('write() resolves only once the alerts are delivered', async () => {
    const webhook = await Endpoint.start();
    webhook.replies = ['hold'];
    const { sink: s } = sink({ alerts: [{ type: 'webhook', url: webhook.url }] });
    let settled = false;
    const write = s.write(PRIVILEGED, new AbortController().signal).finally(() => (settled = true));
    await eventually(() => webhook.held.length === 1, 5000, 'the POST');
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    webhook.held[0]!();
    await write;
    expect(settled).toBe(true);
  });

  it('retries 5xx and 429 with backoff, honouring Retry-After, until delivered', async () => {
    const webhook = await Endpoint.start();
    webhook.replies = [{ status: 503, headers: { 'retry-after': '7' } }, { status: 429 }, { status: 500 }];
    const clock = new VirtualClock();
    const start = clock.now();
    const { sink: s, metrics } = sink({ alerts: [{ type: 'webhook', url: webhook.url, retry: fast }] }, { clock });
    await s.write(PRIVILEGED, new AbortController().signal);
    expect(webhook.received).toHaveLength(4);
    expect(new Set(webhook.received.map((r) => r.body)).size).toBe(1);
    // 7 s from Retry-After, then two full-jitter waits of at most 2 s and 4 s.
    const waited = clock.now() - start;
    expect(waited).toBeGreaterThanOrEqual(7000);
    expect(waited).toBeLessThanOrEqual(7000 + 2000 + 4000);
    expect(await metrics.registry.getSingleMetricAsString('kube_audit_bridge_alert_retries_total')).toContain('{sink="detections",output="webhook"} 3');
  });

  it('retries when the endpoint is down, and delivers once it is up', async () => {
    const webhook = await Endpoint.start();
    const url = webhook.url;
    await webhook.close();
    servers.splice(servers.indexOf(webhook), 1);
    const clock = new VirtualClock();
    const { sink: s, metrics } = sink({ alerts: [{ type: 'webhook', url, retry: fast }] }, { clock });
    const write = s.write(PRIVILEGED, new AbortController().signal);
    await eventually(async () => (await metrics.registry.getSingleMetricAsString('kube_audit_bridge_alert_retries_total')).includes('} 2'), 10_000, 'two retries');
    // Back on the same port.
    const port = Number(new URL(url).port);
    const received: string[] = [];
    const revived = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    revived.listen(port, '127.0.0.1');
    await once(revived, 'listening');
    try {
      await write;
      expect(received).toHaveLength(1);
    } finally {
      revived.closeAllConnections();
      await new Promise((r) => revived.close(r));
    }
  });

  it('an alert refused for good (4xx) goes to the dead-letter file alone, with the output, the rule and the answer; the write resolves', async () => {
    const slack = await Endpoint.start();
    slack.replies = [{ status: 404, body: 'no_service' }];
    const { sink: s, metrics } = sink({ alerts: [{ type: 'slack', url: slack.url }] });
    await s.write(PRIVILEGED, new AbortController().signal);
    const origin = new URL(slack.url).origin;
    const dead = readJsonLines(deadLetterOf.get(s)!) as Record<string, unknown>[];
    expect(dead).toMatchObject([
      {
        kind: 'alert',
        sink: 'detections',
        output: 'slack',
        reason: `HTTP 404 from ${origin}`,
        status: 404,
        response: { size: 10, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown },
        alerts: [{ rule: 'Privileged pod created', auditID: PRIVILEGED[0]!.auditID }],
      },
    ]);
    expect(slack.received).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('kube_audit_bridge_alert_refusals_total')).toContain('output="slack"} 1');
  });

  it('an abort while retrying rejects the write with the abort, not a refusal', async () => {
    const webhook = await Endpoint.start();
    webhook.replies = Array<Reply>(1000).fill({ status: 503 });
    const { sink: s } = sink({ alerts: [{ type: 'webhook', url: webhook.url, retry: { initialBackoff: '1ms', maxBackoff: '5ms' } }] });
    const abort = new AbortController();
    const write = s.write(PRIVILEGED, abort.signal).catch((e: unknown) => e);
    await eventually(() => webhook.received.length >= 3, 5000, 'three attempts');
    abort.abort(new Error('shutting down'));
    const error = await write;
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(PermanentDeliveryError);
    expect((error as Error).message).toBe('shutting down');
  });

  it('webhook alerts over mutual TLS with a bearer token from a file; basic auth from the environment', async () => {
    const pki = await createLocalPki();
    const dir = await tempDir();
    const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem'), token: join(dir, 'token') };
    await writeFile(files.ca, pki.ca.cert);
    await writeFile(files.cert, pki.client.cert);
    await writeFile(files.key, pki.client.key);
    await writeFile(files.token, 'tok-123\n');
    const secure = await Endpoint.start({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert });
    const basic = await Endpoint.start();
    process.env.KAB_TEST_ALERT_PASSWORD = 'pw';
    const { sink: s } = sink({
      alerts: [
        { type: 'webhook', url: secure.url, caFile: files.ca, certFile: files.cert, keyFile: files.key, bearerTokenFile: files.token },
        { type: 'webhook', url: basic.url, basicAuth: { username: 'bridge', passwordEnv: 'KAB_TEST_ALERT_PASSWORD' } },
      ],
    });
    await s.write(PRIVILEGED, new AbortController().signal);
    expect(secure.received.map((r) => [r.authorized, r.headers.authorization])).toEqual([[true, 'Bearer tok-123']]);
    expect(basic.received.map((r) => r.headers.authorization)).toEqual([`Basic ${Buffer.from('bridge:pw').toString('base64')}`]);
  });

  it('refuses a server certificate it cannot verify, and keeps retrying rather than dropping', async () => {
    const pki = await createLocalPki();
    const secure = await Endpoint.start({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert });
    const clock = new VirtualClock();
    const { sink: s, metrics } = sink({ alerts: [{ type: 'webhook', url: secure.url, retry: fast }] }, { clock });
    const abort = new AbortController();
    const write = s.write(PRIVILEGED, abort.signal).catch((e: unknown) => e);
    await eventually(async () => (await metrics.registry.getSingleMetricAsString('kube_audit_bridge_alert_retries_total')).includes('} 2'), 10_000, 'retries');
    expect(secure.received).toEqual([]);
    abort.abort(new Error('stop'));
    expect(await write).toMatchObject({ message: 'stop' });
  });

  it('refuses to start with rule files that have problems, listing every one', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'bad.yaml'), 'rules:\n  - name: x\n    condition: jpath("verb" = "create"\n    message: m\n    priority: high\n');
    const error = (() => {
      try {
        sink({ rules: [join(dir, 'bad.yaml'), join(dir, 'none-*.yaml')], enable: ['tag:nothing'] });
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(RulesLoadError);
    expect((error as RulesLoadError).problems).toEqual([
      `${join(dir, 'none-*.yaml')}: no rule file matches this pattern`,
      `${join(dir, 'bad.yaml')}:3:16: rule "x": condition, line 1, column 14: expected ")" after the path (jpath takes one path), found "="`,
      `${join(dir, 'bad.yaml')}:5:15: rule "x": priority: expected one of emergency, alert, critical, error, warning, notice, informational (or info), debug, found "high"`,
      'enable "tag:nothing": no rule has the tag "nothing"',
    ]);
  });
});

describe('rules sink in the pipeline', () => {
  it('commits once alerts are delivered; a refused batch goes to the dead-letter file with the refusal and delivery continues', async () => {
    const dir = await tempDir();
    const slack = await Endpoint.start();
    slack.replies = [{ status: 400, body: 'invalid_payload' }];
    const metrics = new Metrics();
    const out = new PassThrough();
    const { sink: rules } = sink({ alerts: [{ type: 'stdout' }, { type: 'slack', url: slack.url }] }, { metrics, stdout: out });
    const store = await FileCheckpointStore.open(join(dir, 'checkpoints.json'));
    const deadLetterPath = join(dir, 'dead.jsonl');
    const pipeline = new Pipeline({
      sources: [new ListSource('src', [{ events: PRIVILEGED }, { events: [...EXEC, ...QUIET] }])],
      sinks: [{ sink: rules }],
      checkpoints: store,
      deadLetter: new FileDeadLetter(deadLetterPath),
      metrics,
      health: new Health(systemClock, metrics),
      logger: silentLogger(),
      clock: systemClock,
      maxInFlightBatches: 1,
      dedupeMaxKeys: 1000,
      dedupeSaveIntervalMs: 60_000,
      shutdownTimeoutMs: 2000,
      sinkBackoff: { initialMs: 5, maxMs: 20 },
    });
    await pipeline.run();
    expect(await store.load('src')).toEqual({ next: 2 });
    expect(slack.received.map((r) => (JSON.parse(r.body) as { text: string }).text)).toEqual(['*Warning* Privileged pod created', '*Notice* Pod exec or attach']);
    expect(lines(out).map((a) => a.rule)).toEqual(['Privileged pod created', 'Pod exec or attach']);
    // The refused alert is kept (the events themselves were delivered to the sink, which evaluated them).
    const dead = readJsonLines(deadLetterOf.get(rules)!) as Record<string, unknown>[];
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      kind: 'alert',
      sink: 'detections',
      output: 'slack',
      reason: `HTTP 400 from ${new URL(slack.url).origin}`,
      // The receiver's answer may echo event content: without deadLetter.keepRaw only its size and digest are kept.
      response: { size: 15, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown },
      alerts: [{ rule: 'Privileged pod created', auditID: PRIVILEGED[0]!.auditID }],
    });
    await store.close();
  });
});
