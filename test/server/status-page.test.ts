import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { parseConfig } from '../../src/config/load.js';
import type { AuditEvent } from '../../src/event/event.js';
import { Health } from '../../src/pipeline/health.js';
import { cleanText, reasonHead, ReportingHealth, Ring, STATUS_RING_SIZE, StatusBoard, summarizeCursor } from '../../src/pipeline/status.js';
import type { DeadLetter } from '../../src/pipeline/dead-letter.js';
import { escapeHtml, formatDuration, renderStatusPage, statusView, type StatusView } from '../../src/server/status-page.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import { VirtualClock } from '../helpers/clock.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';
import { captureLogger, onCleanup } from '../helpers/webhook.js';

// The status page's parts without a browser: what the board keeps (bounded, cleaned, never a
// payload), how the page escapes it, and the route on the server. test/server/status-page.chromium.test.ts
// renders it in a real browser against a running bridge.

const MARK = 'hunter2-§SECRET§';

/** A Secret create whose request carries MARK in its data, a Secret get whose response does. */
function secretEvents(n: number): AuditEvent[] {
  const data = { password: Buffer.from(MARK).toString('base64'), note: MARK };
  return [
    makeEvent(n, {
      verb: 'create',
      level: 'RequestResponse',
      requestURI: '/api/v1/namespaces/default/secrets',
      objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
      requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'default' }, data },
    }),
    makeEvent(n + 1, {
      verb: 'get',
      level: 'RequestResponse',
      requestURI: '/api/v1/namespaces/default/secrets/db',
      objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
      responseObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'default' }, data },
    }),
  ];
}

describe('the status board', () => {
  it('keeps the newest entries of a ring and counts all of them', () => {
    const ring = new Ring<number>(3);
    for (let i = 1; i <= 5; i++) ring.push(i);
    ring.skipped(10);
    expect(ring.newestFirst()).toEqual([5, 4, 3]);
    expect(ring.total).toBe(15);
  });

  it('keeps at most a ring of rejects, refusals and alerts, however many come at once', () => {
    const board = new StatusBoard(new VirtualClock());
    board.sourceRegistered('in', undefined);
    board.rejected('in', Array.from({ length: 500 }, (_, i) => ({ reason: `invalid audit event: item ${i}`, raw: { secret: MARK }, ref: `items[${i}]` })));
    for (let i = 0; i < 50; i++) board.refused('siem', makeEvents(i * 10, 10), `HTTP 400 from http://127.0.0.1:9/k8s-audit?token=${MARK}`);
    board.alertsRaised(
      'rules',
      Array.from({ length: 100 }, (_, i) => ({ rule: `rule ${i}`, priority: 'Warning', output: `Secret read ${MARK}`, output_fields: { secret: MARK } })),
    );
    const snap = board.snapshot();
    expect(snap.rejects).toHaveLength(STATUS_RING_SIZE);
    expect(snap.refusals).toHaveLength(STATUS_RING_SIZE);
    expect(snap.alerts).toHaveLength(STATUS_RING_SIZE);
    expect(snap.totals).toEqual({ rejects: 500, refusals: 50, alerts: 100 });
    expect(snap.rejects[0]).toMatchObject({ ref: 'items[499]', reason: 'invalid audit event', from: 'in' });
    expect(snap.alerts[0]).toEqual({ at: expect.any(Number) as unknown, sink: 'rules', rule: 'rule 99', priority: 'Warning' });
    // A refused batch is its count and the first event's identity; the reason's URL is its origin.
    expect(snap.refusals[0]).toEqual({
      at: expect.any(Number) as unknown,
      kind: 'refused',
      from: 'siem',
      reason: 'HTTP 400 from http://127.0.0.1:9',
      count: 10,
      event: { auditID: makeEvent(490).auditID, stage: 'ResponseComplete' },
    });
    const text = JSON.stringify(snap);
    expect(text).not.toContain(MARK);
    expect(text).not.toContain('configmaps');
  });

  it('learns from Health and from the dead-letter file as they are told, without changing readiness', async () => {
    const clock = new VirtualClock();
    const board = new StatusBoard(clock);
    const metrics = new Metrics();
    const health = new ReportingHealth(board, clock, metrics);
    const plain = new Health(clock, metrics);
    for (const h of [health, plain]) {
      h.registerSource('gke', 10_000);
      h.registerSink('siem', 1000);
      h.markStarted();
    }
    clock.advance(5000);
    for (const h of [health, plain]) {
      h.sourcePolled('gke');
      h.sinkFailed('siem', 'connect ECONNREFUSED 127.0.0.1:9');
    }
    clock.advance(2000);
    health.sourceFailed('gke', 'PERMISSION_DENIED: caller lacks logging.logEntries.list on https://logging.googleapis.com/v2/entries:list?key=abc');
    plain.sourceFailed('gke', 'x');
    expect(health.readiness().ready).toBe(false);
    expect(health.readiness().problems).toEqual(plain.readiness().problems);
    const snap = board.snapshot();
    expect(snap.sources[0]).toMatchObject({ name: 'gke', pollIntervalMs: 10_000, lastSuccess: clock.now() - 2000, lastErrorAt: clock.now() });
    expect(snap.sources[0]!.lastError).toBe('PERMISSION_DENIED: caller lacks logging.logEntries.list on https://logging.googleapis.com');
    expect(snap.sinks[0]).toMatchObject({ name: 'siem', thresholdMs: 1000, failingSince: clock.now() - 2000, lastError: 'connect ECONNREFUSED 127.0.0.1:9' });
    health.sinkRecovered('siem');
    expect(board.snapshot().sinks[0]).toMatchObject({ failingSince: undefined, lastError: undefined });
    // A source that gave up (run --once on a lasting error) shows its line, as /readyz does.
    health.sourceStopped('gke', 'source gke: PERMISSION_DENIED; grant roles/logging.viewer');
    expect(board.snapshot().sources[0]).toMatchObject({ stopped: true, lastError: 'source gke: PERMISSION_DENIED; grant roles/logging.viewer' });
    expect(renderStatusPage(await statusView(board, metrics, health))).toMatch(/<tr data-source="gke" data-state="stopped"[^>]*>.*PERMISSION_DENIED; grant roles\/logging\.viewer/s);

    const written: string[] = [];
    const file: DeadLetter = {
      rejects: async (source) => void written.push(`rejects ${source}`),
      refused: async (component) => void written.push(`refused ${component}`),
      alerts: async (sink, output) => void written.push(`alerts ${sink}/${output}`),
      close: async () => void written.push('close'),
    };
    const watched = board.watchDeadLetter(file);
    await watched.rejects('gke', [{ reason: 'unreadable entry', raw: MARK, ref: 'insertId abc' }]);
    await watched.refused('siem', [makeEvent(1)], 'HTTP 400 from http://127.0.0.1:9');
    await watched.alerts('rules', 'slack', [{ output: MARK }], 'HTTP 404 from https://hooks.slack.com');
    await watched.close();
    expect(written).toEqual(['rejects gke', 'refused siem', 'alerts rules/slack', 'close']);
    expect(board.snapshot().refusals.map((r) => `${r.kind} ${r.from} ${r.count}`)).toEqual(['alert rules/slack 1', 'refused siem 1']);
    expect(JSON.stringify(board.snapshot())).not.toContain(MARK);

    // A write the file failed is not noted: its caller tries it again.
    const failing = board.watchDeadLetter({ ...file, rejects: () => Promise.reject(new Error('ENOSPC')) });
    await expect(failing.rejects('gke', [{ reason: 'again', raw: null }])).rejects.toThrow('ENOSPC');
    expect(board.snapshot().totals.rejects).toBe(1);
  });

  it('cleans what it keeps: control characters, URLs down to their origin, credentials, length', () => {
    expect(cleanText('line\nbreak\u001b[31m red\u2028x', 100)).toBe('line break [31m red x');
    expect(cleanText('POST https://user:pa55@hooks.slack.com/services/T0/B0/XYZ?x=1 failed', 100)).toBe('POST https://hooks.slack.com failed');
    expect(cleanText('to grpc://[::1]:8085/v2 and http://127.0.0.1:9/k8s-audit.', 100)).toBe('to grpc://[::1]:8085 and http://127.0.0.1:9.');
    expect(cleanText('at http://x.example:9, then (http://y.example/a?b)', 100)).toBe('at http://x.example:9, then (http://y.example)');
    expect(cleanText('Authorization: Bearer abc.def.ghi rejected', 100)).toBe('Authorization: Bearer [redacted] rejected');
    expect(cleanText('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`);
  });

  it('keeps of a reject or a refusal only the words before what it quotes', () => {
    expect(reasonHead('truncated message: cut by CloudWatch Logs at 1514 characters (auditID 1, verb create, requestURI /api/v1/namespaces/default/secrets)')).toBe('truncated message');
    expect(reasonHead('invalid audit event: items[3].level: expected one of Metadata, got "x"')).toBe('invalid audit event');
    expect(reasonHead('processing stage scrub failed: TypeError: bad value')).toBe('processing stage scrub failed');
    expect(reasonHead('event too deep (nests objects deeper than 256 levels)')).toBe('event too deep');
    expect(reasonHead('HTTP 400 from https://falco.example:9765/k8s-audit')).toBe('HTTP 400 from https://falco.example:9765');
  });

  it('summarizes each kind of cursor as a time or a position, never as written', () => {
    expect(summarizeCursor(undefined)).toBeUndefined();
    // gke: RFC 3339 with nanoseconds; resume inside the next window wins over the watermark.
    expect(summarizeCursor({ watermark: '2026-01-02T03:04:05.123456789Z', seen: [`1|${MARK}`], since: '2026-01-01T00:00:00Z' })).toEqual({
      timeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 123),
      text: 'windows complete up to',
    });
    expect(summarizeCursor({ watermark: '2026-01-02T03:04:05Z', resume: '2026-01-02T03:05:00Z', seen: [] })).toEqual({ timeMs: Date.UTC(2026, 0, 2, 3, 5), text: 'read up to' });
    // eks: epoch milliseconds.
    expect(summarizeCursor({ watermark: Date.UTC(2026, 0, 2), floor: 1, seen: { '1': [MARK] } })).toEqual({ timeMs: Date.UTC(2026, 0, 2), text: 'windows complete up to' });
    // The window cursor of src/sources/polling/: the unit says which time it is.
    expect(summarizeCursor({ unit: 'ms', watermark: Date.UTC(2026, 0, 2), floor: 1, resume: Date.UTC(2026, 0, 2, 0, 1), seen: {} })).toEqual({ timeMs: Date.UTC(2026, 0, 2, 0, 1), text: 'read up to' });
    expect(summarizeCursor({ unit: '100ns', watermark: '2026-01-02T03:04:05.1234567Z', floor: '2026-01-01T00:00:00.0000000Z', seen: { x: [MARK] } })).toEqual({
      timeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 123),
      text: 'ingested up to',
    });
    // aks, older cursors: Kusto ticks text.
    expect(summarizeCursor({ ingested: '2026-01-02T03:04:05.1234567Z', seen: [] })).toEqual({ timeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 123), text: 'ingested up to' });
    // Event Hubs: sequence numbers per partition, at most four named.
    const partitions = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [String(i), { sequenceNumber: i * 10, offset: MARK }]));
    expect(summarizeCursor({ v: 1, eventHub: 'audit', consumerGroup: '$Default', partitions })).toEqual({ text: 'partition 0: #0, 1: #10, 2: #20, 3: #30 and 2 more' });
    expect(summarizeCursor({ token: MARK })).toEqual({ text: 'committed (a position that is not a time)' });
  });
});

function view(overrides: Partial<StatusView> = {}): StatusView {
  const now = Date.UTC(2026, 0, 2, 6, 0, 0);
  return {
    now,
    ready: false,
    problems: ['sink siem failing for 120 s (connect ECONNREFUSED 127.0.0.1:9)'],
    sources: [
      {
        name: 'prod-gke',
        pollIntervalMs: 10_000,
        cursor: { timeMs: now - 3 * 3600_000, text: 'read up to' },
        cursorAt: now - 5000,
        lagSeconds: 3 * 3600 + 12,
        received: 12345,
        rejected: 2,
        lastSuccess: now - 4000,
        lastError: undefined,
        lastErrorAt: undefined,
        stopped: false,
      },
      { name: 'onprem', pollIntervalMs: undefined, cursor: undefined, cursorAt: undefined, lagSeconds: 20, received: 10, rejected: 0, lastSuccess: undefined, lastError: undefined, lastErrorAt: undefined, stopped: false },
    ],
    sinks: [
      { name: 'siem', down: true, failingSince: now - 120_000, lastError: 'connect ECONNREFUSED 127.0.0.1:9', retries: 17, alertRetries: 0, delivered: 12000, deadLettered: 1 },
      { name: 'archive', down: false, failingSince: undefined, lastError: undefined, retries: 0, alertRetries: 0, delivered: 12355, deadLettered: 0 },
    ],
    deadLetters: [{ at: now - 60_000, kind: 'reject', from: 'prod-gke', reason: 'unreadable protoPayload', ref: 'insertId 1x2y', count: 1 }],
    totals: { rejects: 2, refusals: 1 },
    alertsByRule: [{ rule: 'Secret read by a non-system user', priority: 'Warning', count: 3 }],
    recentAlerts: [{ at: now - 30_000, sink: 'detections', rule: 'Secret read by a non-system user', priority: 'Warning' }],
    ...overrides,
  };
}

describe('the status page', () => {
  it('shows each source with its position, lag, poll and error, and each sink with its state and retries', () => {
    const html = renderStatusPage(view());
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<meta http-equiv="refresh" content="5">');
    expect(html).toContain('not ready');
    expect(html).toMatch(/<tr data-source="prod-gke" data-state="lagging" data-lagging="true">.*read up to <time[^>]*>2026-01-02 03:00:00Z<\/time>.*3 h<.*12,345/s);
    expect(html).toMatch(/<tr data-source="onprem" data-state="ok" data-lagging="false">.*none committed yet.*not polled \(push\)/s);
    expect(html).toMatch(/<tr data-sink="siem" data-state="failing">.*failing since (<[^>]+>)*2026-01-02 05:58:00Z<\/time> <span class="muted">\(2 min ago\).*>17<.*connect ECONNREFUSED 127\.0\.0\.1:9/s);
    expect(html).toMatch(/<tr data-sink="archive" data-state="ok">/);
    expect(html).toMatch(/reject<\/td><td>prod-gke<\/td>.*unreadable protoPayload.*insertId 1x2y/s);
    expect(html).toMatch(/Secret read by a non-system user<\/td><td>Warning<\/td><td class="num">3</);
  });

  it('escapes every value and loads nothing: no script, no outside URL, no resource but an empty data: icon', () => {
    const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&\``;
    const html = renderStatusPage(
      view({
        problems: [evil],
        sources: [{ ...view().sources[0]!, name: evil, lastError: evil, lastErrorAt: 1 }],
        sinks: [{ ...view().sinks[0]!, name: evil, lastError: evil }],
        deadLetters: [{ at: 1, kind: 'refused', from: evil, reason: evil, ref: evil, count: 1, event: { auditID: evil, stage: evil } }],
        alertsByRule: [{ rule: evil, priority: evil, count: 1 }],
        recentAlerts: [{ at: 1, sink: evil, rule: evil, priority: evil }],
      }),
    );
    expect(html).not.toMatch(/<script|<img|<iframe|<object|<embed|<form/i);
    expect(html).toContain(escapeHtml(evil));
    expect(html.split(escapeHtml(evil)).length - 1).toBeGreaterThanOrEqual(12);
    expect(html).not.toMatch(/(src|href)="(?!data:,"|readyz"|metrics")/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/@import|url\(/);
  });

  it('says so when there is nothing yet, and formats durations as a person says them', () => {
    const html = renderStatusPage(view({ ready: true, problems: [], deadLetters: [], alertsByRule: [], recentAlerts: [] }));
    expect(html).toContain('<span class="ready" id="readiness">ready</span>');
    expect(html).toContain('Nothing has gone to the dead-letter file since the start.');
    expect(html).toContain('No alert since the start.');
    expect([0, 45_000, 60_000, 184_000, 3600_000, 7_500_000, 49 * 3600_000, 72 * 3600_000].map(formatDuration)).toEqual([
      '0 s',
      '45 s',
      '1 min',
      '3 min 4 s',
      '1 h',
      '2 h 5 min',
      '2 d 1 h',
      '3 d',
    ]);
  });

  it('reads lag, counts, retries and alerts by rule from the metrics', async () => {
    const clock = new VirtualClock();
    const board = new StatusBoard(clock);
    const metrics = new Metrics();
    const health = new ReportingHealth(board, clock, metrics);
    health.registerSource('in');
    health.registerSink('siem');
    health.registerSink('rules');
    metrics.addCollector(() => metrics.sourceLag.set({ source: 'in' }, 7200));
    metrics.eventsReceived.inc({ source: 'in' }, 40);
    metrics.eventsRejected.inc({ source: 'in', reason: 'invalid audit event' }, 2);
    metrics.sinkRetries.inc({ sink: 'siem' }, 5);
    metrics.alertRetries.inc({ sink: 'rules', output: 'slack' }, 3);
    metrics.eventsDelivered.inc({ sink: 'siem' }, 30);
    metrics.deadLettered.inc({ kind: 'refused', component: 'siem' }, 4);
    metrics.deadLettered.inc({ kind: 'reject', component: 'in' }, 2);
    metrics.alertsRaised.inc({ sink: 'rules', rule: 'B rule', priority: 'Warning' }, 2);
    metrics.alertsRaised.inc({ sink: 'other', rule: 'B rule', priority: 'Warning' }, 1);
    metrics.alertsRaised.inc({ sink: 'rules', rule: 'A rule', priority: 'Critical' }, 1);
    const v = await statusView(board, metrics, health);
    expect(v.sources).toMatchObject([{ name: 'in', lagSeconds: 7200, received: 40, rejected: 2 }]);
    expect(v.sinks).toMatchObject([
      { name: 'siem', retries: 5, alertRetries: 0, delivered: 30, deadLettered: 4 },
      { name: 'rules', retries: 0, alertRetries: 3 },
    ]);
    expect(v.alertsByRule).toEqual([
      { rule: 'B rule', priority: 'Warning', count: 3 },
      { rule: 'A rule', priority: 'Critical', count: 1 },
    ]);
  });
});

describe('GET / on the server', () => {
  async function start(server: string): Promise<{ bridge: Bridge; main: string; telemetry: string | undefined }> {
    const dir = await tempDir();
    await writeFile(join(dir, 'token'), 'status-test-token\n');
    const config = parseConfig(
      `
sources:
  - { name: in, type: webhook, bearerTokenFile: ${join(dir, 'token')} }
sinks:
  - { name: archive, type: file, path: ${join(dir, 'audit.jsonl')} }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0, ${server} }
`,
      'test.yaml',
      {},
    );
    const bridge = await Bridge.create(config, { logger: captureLogger('info').logger });
    const { port } = await bridge.start();
    onCleanup(() => bridge.stop());
    const t = bridge.telemetryAddress;
    return { bridge, main: `http://127.0.0.1:${port}`, telemetry: t ? `http://127.0.0.1:${t.port}` : undefined };
  }

  const get = async (url: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> => {
    const res = await request(url);
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  it('serves the page by default beside the probes, with a policy that forbids scripts and outside resources', async () => {
    const { main } = await start('');
    const events = [...makeEvents(1, 3), ...secretEvents(10)];
    const post = await request(`${main}/audit/in`, {
      method: 'POST',
      body: AuditWebhookClient.body(events),
      headers: { 'content-type': 'application/json', authorization: 'Bearer status-test-token' },
    });
    expect(post.statusCode).toBe(200);
    await post.body.dump();
    const page = await get(`${main}/`);
    expect(page.status).toBe(200);
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': expect.stringContaining("default-src 'none'") as unknown,
    });
    expect(page.headers['content-security-policy']).not.toMatch(/script-src/);
    expect(page.text).toMatch(/<tr data-source="in"[^>]*>.*>5</s);
    expect(page.text).toMatch(/<tr data-sink="archive" data-state="ok">.*>5</s);
    expect(page.text).not.toContain(MARK);
    expect(page.text).not.toContain(Buffer.from(MARK).toString('base64'));
    expect(page.text).not.toContain('status-test-token');
    expect(page.text).not.toContain('audit.jsonl');
  });

  it('serves it on the telemetry port only when there is one, and not at all with statusPage: false', async () => {
    const split = await start('telemetry: { port: 0, host: 127.0.0.1 }');
    expect((await get(`${split.telemetry!}/`)).status).toBe(200);
    expect((await get(`${split.main}/`)).status).toBe(404);
    const off = await start('statusPage: false');
    expect((await get(`${off.main}/`)).status).toBe(404);
    expect((await get(`${off.main}/healthz`)).status).toBe(200);
  });
});
