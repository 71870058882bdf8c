import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type BrowserContext } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { loadSampleEvents, SAMPLES_DIR } from '../../src/component/samples.js';
import { parseConfig } from '../../src/config/load.js';
import { formatMicroTime, type AuditEvent } from '../../src/event/event.js';
import { goJSON } from '../../src/event/encode.js';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import { EksEmulator, type EmulatorRecord } from '../../src/sources/eks/emulator/server.js';
import { LIBRARY_PATH } from '../../src/sinks/rules/demo.js';
import { REPO } from '../helpers/cli.js';
import { tempDir } from '../helpers/fs.js';
import { TestReceiver } from '../helpers/http-receiver.js';
import { eventually } from '../helpers/pipeline.js';
import { captureLogger, onCleanup } from '../helpers/webhook.js';

// The status page in a real browser (Debian's chromium, driven by playwright-core) against a bridge set
// up like the demo: a kube-apiserver webhook source fed the sample events three hours late, an EKS
// source polling the CloudWatch Logs emulator, and a Falco webhook sink, a file and the rule library
// as sinks. The Falco receiver refuses one event for good and then goes away, so the page must show a
// lagging source, a failing sink, rejects, a refusal and alerts, and none of the Secret values the
// events carry nor any credential of the config. JavaScript is off: the page needs none.
//
// Chromium never reaches beyond 127.0.0.1: every request the page makes to another host is aborted
// (and the test fails if there is one), host names resolve to nothing but loopback, and the flags turn
// off its own background traffic.
//
// UPDATE_STATUS_PAGE_SCREENSHOT=1 also writes the screenshot to docs/status-page.png (the README's).

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];
const MARK = 'hunter2-§SECRET§';
const TOKEN = 'status-page-webhook-token-51d2';
const SINK_KEY = 'status-page-sink-api-key-9f3a';
const AWS_SECRET = 'status-page-aws-secret-0c7e';
const HOURS = 3600_000;

const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  // The EKS source signs with these (the emulator does not check); nothing else in the chain is tried.
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE']) saved[key] = process.env[key];
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDSTATUSPAGE', AWS_SECRET_ACCESS_KEY: AWS_SECRET, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
});
afterAll(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

/** Events as new requests from `startMs` on, one second apart: fresh auditIDs, shared by the stages of a request. */
function rebase(events: readonly AuditEvent[], startMs: number): AuditEvent[] {
  const ids = new Map<string, string>();
  return events.map((event, i) => {
    if (!ids.has(event.auditID)) ids.set(event.auditID, randomUUID());
    const t = formatMicroTime(BigInt(startMs + i * 1000) * 1000n);
    return { ...event, auditID: ids.get(event.auditID)!, requestReceivedTimestamp: t, stageTimestamp: t };
  });
}

/** A Secret created and read back by a person: the values carry MARK, the read raises an alert. */
function secretEvents(atMs: number): AuditEvent[] {
  const t = formatMicroTime(BigInt(atMs) * 1000n);
  const secret = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db-credentials', namespace: 'payments' }, data: { password: Buffer.from(MARK).toString('base64') }, stringData: { note: MARK } };
  const base: Omit<AuditEvent, 'auditID' | 'verb' | 'requestURI'> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    stage: 'ResponseComplete',
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    sourceIPs: ['203.0.113.7'],
    userAgent: 'kubectl/v1.33.0',
    objectRef: { resource: 'secrets', namespace: 'payments', name: 'db-credentials', apiVersion: 'v1' },
    requestReceivedTimestamp: t,
    stageTimestamp: t,
  };
  return [
    { ...base, auditID: randomUUID(), verb: 'create', requestURI: '/api/v1/namespaces/payments/secrets', requestObject: secret, responseStatus: { metadata: {}, code: 201 } },
    { ...base, auditID: randomUUID(), verb: 'get', requestURI: '/api/v1/namespaces/payments/secrets/db-credentials', responseObject: secret, responseStatus: { metadata: {}, code: 200 } },
  ];
}

/** The EKS samples as records of the last few minutes (the truncated one stays, and is rejected). */
async function eksRecords(): Promise<EmulatorRecord[]> {
  const samples = (JSON.parse(await readFile(`${SAMPLES_DIR}eks/filterlogevents-records.json`, 'utf8')) as { events: { logStreamName: string; message: string }[] }).events;
  const start = Date.now() - 6 * 60_000;
  return samples.map((r, i) => {
    const timestamp = start + i * 5000;
    let message = r.message;
    try {
      const event = JSON.parse(r.message) as Record<string, unknown>;
      const t = formatMicroTime(BigInt(timestamp) * 1000n);
      message = goJSON({ ...event, auditID: randomUUID(), requestReceivedTimestamp: t, stageTimestamp: t });
    } catch {
      // the truncated sample stays as it is
    }
    return { logStreamName: r.logStreamName, timestamp, message, ingestionTime: timestamp + 1000 };
  });
}

describe('the status page in headless Chromium', () => {
  it.skipIf(!existsSync(CHROMIUM))(
    `shows a lagging source and a failing sink, with rejects, a refusal and alerts, and no Secret value (skipped when ${CHROMIUM} is absent: apt-get install chromium)`,
    async () => {
      const dir = await tempDir();
      await writeFile(join(dir, 'token'), `${TOKEN}\n`);

      // Falco's receiver: takes everything but the event marked for refusal, until the test closes it.
      const falco = await TestReceiver.start({ path: '/k8s-audit' });
      let refuseId = '';
      falco.respond = (req) => (refuseId && req.text.includes(refuseId) ? { status: 400, body: `{"error":"refused ${MARK}"}` } : { status: 200 });
      let falcoOpen = true;
      onCleanup(async () => {
        if (falcoOpen) await falco.close();
      });

      const eks = await EksEmulator.start({ logGroup: '/aws/eks/demo-eks/cluster', records: await eksRecords(), faults: 'page-size=10' });
      onCleanup(() => eks.close());

      const config = parseConfig(
        `
sources:
  - name: onprem
    type: webhook
    bearerTokenFile: ${join(dir, 'token')}
    cluster: onprem-1
    ackTimeout: 20s
  - name: demo-eks
    type: eks
    region: us-east-1
    cluster: demo-eks
    accountId: "123456789012"
    endpoint: ${eks.url}
    pollInterval: 500ms
    settleLag: 1s
    overlap: 30s
    startFrom: -15m
sinks:
  - name: falco
    type: webhook
    preset: falco
    url: ${falco.url}
    headers: { X-Api-Key: "${SINK_KEY}" }
    batchMaxWait: 50ms
    requestTimeout: 2s
    failureThreshold: 1s
    retry: { initialBackoff: 200ms, maxBackoff: 1s }
  - { name: archive, type: file, path: ${join(dir, 'audit.jsonl')} }
  - name: detections
    type: rules
    rules: [${LIBRARY_PATH}]
    enable: [all]
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead-letter.jsonl')} }
pipeline: { shutdownTimeout: 1s }
server:
  host: 127.0.0.1
  port: 0
  telemetry: { host: 127.0.0.1, port: 0 }
`,
        'status-page.yaml',
        {},
      );
      const logs = captureLogger('info');
      const alerts: string[] = [];
      const stdout = new Writable({
        write(chunk: Buffer, _enc, done) {
          alerts.push(chunk.toString());
          done();
        },
      });
      const bridge = await Bridge.create(config, { logger: logs.logger, stdout });
      const { port } = await bridge.start();
      onCleanup(() => bridge.stop());
      const audit = `http://127.0.0.1:${port}/audit/onprem`;
      const statusUrl = `http://127.0.0.1:${bridge.telemetryAddress!.port}/`;
      const post = (events: readonly unknown[]): Promise<number> =>
        request(audit, {
          method: 'POST',
          body: AuditWebhookClient.body(events as AuditEvent[]),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        }).then(async (res) => {
          await res.body.dump();
          return res.statusCode;
        });

      // Three hours late: the samples, the Secret, and an item that is no Event (a reject).
      const late = [...rebase(await loadSampleEvents(), Date.now() - 3 * HOURS), ...secretEvents(Date.now() - 3 * HOURS + 60_000)];
      const refused = rebase(await loadSampleEvents(), Date.now() - 3 * HOURS + 120_000)[0]!;
      refuseId = refused.auditID;
      expect(await post([...late, { kind: 'Event', auditID: 'no-stage', verb: 'get' }])).toBe(200);
      expect(await post([refused])).toBe(200);
      await eventually(async () => (await bridge.metrics.eventsDelivered.get()).values.some((v) => v.labels.sink === 'archive' && v.value >= late.length + 30), 20_000, 'the EKS samples delivered');

      // Falco goes away: the next request waits on a sink that keeps failing.
      await falco.close();
      falcoOpen = false;
      // Not aborted: the bridge answers it when it stops (a request its client abandons would hold the
      // server's close until the request timeout).
      void post(rebase(await loadSampleEvents(), Date.now() - 2 * HOURS).slice(0, 3)).catch(() => undefined);
      await eventually(() => bridge.health.readiness().problems.some((p) => p.startsWith('sink falco failing')), 15_000, 'the falco sink reported failing');

      const userDataDir = await tempDir('kab-chromium-');
      const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        javaScriptEnabled: false,
        viewport: { width: 1440, height: 900 },
        colorScheme: 'light',
      });
      onCleanup(() => context.close());
      const requested: string[] = [];
      const blocked: string[] = [];
      await context.route('**/*', (route) => {
        const url = route.request().url();
        requested.push(url);
        if (new URL(url).hostname === '127.0.0.1') return route.continue();
        blocked.push(url);
        return route.abort('blockedbyclient');
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const response = await page.goto(statusUrl);
      expect(response?.status()).toBe(200);

      expect(await page.title()).toBe('(not ready) kube-audit-bridge status');
      expect(await page.locator('#readiness').innerText()).toBe('not ready');
      const falcoRow = page.locator('tr[data-sink="falco"]');
      expect(await falcoRow.getAttribute('data-state')).toBe('failing');
      expect(await falcoRow.innerText()).toMatch(/failing\s+failing since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(\d+ s ago\)/);
      expect(await falcoRow.innerText()).toMatch(/ECONNREFUSED|connect|network/i);
      expect(await page.locator('tr[data-sink="archive"]').getAttribute('data-state')).toBe('ok');
      const onprem = page.locator('tr[data-source="onprem"]');
      expect(await onprem.getAttribute('data-lagging')).toBe('true');
      expect(await onprem.innerText()).toMatch(/lagging[\s\S]*\b[23] h( \d+ min)?\b[\s\S]*not polled \(push\)/);
      const eksRow = page.locator('tr[data-source="demo-eks"]');
      expect(await eksRow.getAttribute('data-state')).toBe('ok');
      expect(await eksRow.innerText()).toMatch(/(read|windows complete) up to \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
      const deadLetters = await page.locator('#dead-letters').innerText();
      expect(deadLetters).toMatch(/reject\s+demo-eks\s+1\s+truncated message/);
      expect(deadLetters).toMatch(/reject\s+onprem\s+1\s+invalid audit event.*\s+items\[\d+\]/);
      expect(deadLetters).toContain(`events refused\tfalco\t1\tHTTP 400 from http://127.0.0.1:${falco.port}\tauditID ${refused.auditID}`);
      expect(await page.locator('#alerts').innerText()).toMatch(/Secret read by a non-system user\s+(Notice|Warning)\s+\d+/);

      // Nothing secret: not the Secret's values, nor the token, the sink's key, the AWS secret, the paths of the config.
      const html = await page.content();
      for (const secret of [MARK, Buffer.from(MARK).toString('base64'), TOKEN, SINK_KEY, AWS_SECRET, dir, '/k8s-audit', 'db-credentials', 'alice@example.com', '/api/v1/', 'requestURI']) {
        expect(html, secret).not.toContain(secret);
      }
      expect(alerts.join('')).toContain('Secret read by a non-system user'); // the alerts were raised, just not shown
      expect(blocked).toEqual([]);
      expect(requested).toEqual([statusUrl]);

      const shot = await page.screenshot({ fullPage: true, path: join(dir, 'status-page.png') });
      expect(shot.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      if (process.env.UPDATE_STATUS_PAGE_SCREENSHOT === '1') await copyFile(join(dir, 'status-page.png'), join(REPO, 'docs/status-page.png'));

      // It refreshes itself, without JavaScript.
      const reloaded = page.waitForResponse((r) => r.url() === statusUrl, { timeout: 10_000 });
      expect((await reloaded).status()).toBe(200);
      expect(blocked).toEqual([]);
    },
    90_000,
  );
});
