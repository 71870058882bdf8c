// The AKS source, running the real @azure/monitor-query-logs and @azure/identity against the
// Log Analytics emulator on 127.0.0.1 (HTTPS, fake Entra token service).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { describe, expect, it } from 'vitest';
import { normalizeAksRow } from '../../../src/sources/aks/normalize.js';
import { isReject, type AuditEvent } from '../../../src/event/event.js';
import { AksQueryError } from '../../../src/sources/aks/poller.js';
import { SourceStoppedError } from '../../../src/pipeline/source-runner.js';
import { VirtualClock } from '../../helpers/clock.js';
import { tempDir } from '../../helpers/fs.js';
import { metricValue } from '../../helpers/webhook.js';
import { eventually } from '../../helpers/pipeline.js';
import { aksSource, CLIENT, drain, keys, sampleRows, SECRET, stamp, startEmulator, TENANT, type Row } from './helpers.js';

const MIN = 60_000;

/** AKSAudit sample rows (46; the 3 AKSAuditAdmin rows go to their own table), ingested over the last 50 minutes. */
function aksAuditRows(nowMs: number): Row[] {
  return stamp(sampleRows('aksaudit-rows.json'), nowMs - 50 * MIN, 60_000);
}

function expectedEvents(rows: readonly Row[], table = 'AKSAudit'): AuditEvent[] {
  return rows.filter((r) => (r.Type ?? table) === table).map((r) => normalizeAksRow(r)).filter((e): e is AuditEvent => !isReject(e));
}

describe('AKS source against the Log Analytics emulator', () => {
  it('reads AKSAudit in keyset pages up to now − settleLag, with a client-secret token on every query', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const emulator = await startEmulator(rows, { now: () => clock.now(), clientSecret: SECRET });
    const { source } = await aksSource(emulator, { pageSize: 7 }, { clock });
    const out = await drain(source);

    // Rows ingested within the last minute (settleLag) wait for a later poll.
    const settled = rows.filter((r) => Date.parse(String(r._TimeReceived)) < clock.now() - MIN);
    expect(keys(out.events)).toEqual(keys(expectedEvents(settled)));
    expect(out.events).toEqual(expectedEvents(settled));
    expect(out.rejects).toEqual([]);
    expect(emulator.queries.length).toBeGreaterThanOrEqual(Math.ceil(settled.length / 7));
    for (const q of emulator.queries) {
      expect(q.status).toBe(200);
      expect(q.query).toContain('| top 7 by _ing asc, _key asc');
      expect(q.prefer).toBe('wait=180');
      expect(q.timespan).toMatch(/^\d{4}-.*Z\/\d{4}-.*Z$/);
    }
    // The token the emulator issued for the secret read from the file is the one every query carried.
    const grants = emulator.tokenCalls.filter((t) => t.accessToken !== '');
    expect(grants.map((t) => [t.clientId, t.clientSecret, t.grantType])).toEqual([[CLIENT, SECRET, 'client_credentials']]);
    expect(new Set(emulator.queries.map((q) => q.token))).toEqual(new Set([grants[0]!.accessToken]));
  });

  it('picks up the settled rest and late rows on the next poll, without repeating anything', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const late = rows.splice(10, 2); // ingested 40 minutes ago, visible only later
    const emulator = await startEmulator(rows, { now: () => clock.now() });
    const { source, metrics } = await aksSource(emulator, { pageSize: 10, overlap: '60m' }, { clock });
    const first = await drain(source);
    emulator.append(late);
    clock.advance(2 * MIN);
    const second = await drain(source, first.cursors.at(-1));
    const all = [...first.events, ...second.events];
    expect(new Set(keys(all)).size).toBe(all.length);
    expect(new Set(keys(all))).toEqual(new Set(keys(expectedEvents([...rows, ...late]))));
    expect(keys(second.events)).toEqual(expect.arrayContaining(keys(expectedEvents(late))));
    expect(await metricValue(metrics.lateEvents, { source: 'aks-test' })).toBe(2);
  });

  it('resumes from any committed cursor without loss or repeats (restart)', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const emulator = await startEmulator(rows, { now: () => clock.now() });
    const { source } = await aksSource(emulator, { pageSize: 5 }, { clock });
    const whole = await drain(source);
    for (const stopAfter of [1, 3, 6]) {
      const before = await drain(source, undefined, stopAfter);
      const after = await drain(source, before.cursors.at(-1));
      expect([...keys(before.events), ...keys(after.events)]).toEqual(keys(whole.events));
    }
  });

  it.each([
    ['a row limit', { rowLimit: 4 }, 'partial'],
    ['partial failures', { partialEvery: 2 }, 'partial'],
    ['gateway timeouts', { timeoutEvery: 3 }, 'timeout'],
  ])('splits windows on %s and still reads every row once', async (_what, faults, reason) => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const emulator = await startEmulator(rows, { now: () => clock.now(), faults });
    const { source, metrics } = await aksSource(emulator, { pageSize: 10 }, { clock });
    const out = await drain(source);
    const settled = rows.filter((r) => Date.parse(String(r._TimeReceived)) < clock.now() - MIN);
    expect(keys(out.events)).toEqual(keys(expectedEvents(settled)));
    expect(await metricValue(metrics.querySplits, { source: 'aks-test', reason })).toBeGreaterThan(0);
  });

  // Every other call: a retried poll resumes after its last page rather than re-reading its overlap.
  it('on 429 honours Retry-After, pauses the shared bucket and carries on', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const emulator = await startEmulator(rows, { now: () => clock.now(), faults: { throttleEvery: 2, retryAfter: 7 } });
    const { source, metrics, quotas } = await aksSource(emulator, { pageSize: 10 }, { clock });
    const started = clock.now();
    const out = await drain(source);
    const throttles = await metricValue(metrics.apiThrottles, { source: 'aks-test' });
    expect(throttles).toBeGreaterThan(0);
    expect(await metricValue(metrics.apiErrors, { source: 'aks-test', code: '429' })).toBe(throttles);
    expect(clock.now() - started).toBeGreaterThanOrEqual(throttles * 7000);
    expect(new Set(keys(out.events)).size).toBe(out.events.length);
    expect(out.events.length).toBe(expectedEvents(rows.filter((r) => Date.parse(String(r._TimeReceived)) < started - MIN)).length);
    // The bucket is the one every source on this identity draws from.
    const bucket = quotas.bucket(`aks:clientSecret:${TENANT}:${CLIENT}`, 1, 1);
    expect(bucket.capacity).toBe(200);
  });

  it('survives damaged rows, 500s and late-visible rows from the emulator\'s faults', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = stamp(sampleRows('azurediagnostics-rows.json').slice(0, 45), clock.now() - 60 * MIN, 60_000);
    const faults = { malformedEvery: 10, truncateEvery: 7, lateEvery: 9, lateMs: 30 * MIN, errorEvery: 4 };
    const emulator = await startEmulator(rows, { now: () => clock.now(), table: 'AzureDiagnostics', faults });
    const { source, metrics } = await aksSource(emulator, { table: 'AzureDiagnostics', categories: ['kube-audit', 'kube-audit-admin'], pageSize: 8, overlap: '60m' }, { clock });
    const first = await drain(source);
    clock.advance(31 * MIN);
    const second = await drain(source, first.cursors.at(-1));
    const rejects = [...first.rejects, ...second.rejects];
    const events = [...first.events, ...second.events];
    // Rows 7, 14, ... are cut at 32,766 bytes; 10, 20, ... are not JSON (70 would be both).
    expect(rejects.filter((r) => r.reason.startsWith('log_s truncated by Azure Diagnostics')).length).toBe(6);
    expect(rejects.filter((r) => r.reason.startsWith('log_s is not valid JSON')).length).toBe(4);
    expect(events.length + rejects.length).toBe(45);
    // Rows 9, 18, ... show up 30 minutes after their ingestion time; 36 and 45 (ingested 25 and 16
    // minutes ago) were not there for the first poll: the second one's overlap found them.
    expect(await metricValue(metrics.lateEvents, { source: 'aks-test' })).toBe(2);
    expect(await metricValue(metrics.apiErrors, { source: 'aks-test', code: '500' })).toBeGreaterThan(0);
  });

  it('reads AzureDiagnostics by category, rejecting the log_s cut at 32,766 bytes with its reason', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = stamp(sampleRows('azurediagnostics-rows.json'), clock.now() - 60 * MIN, 60_000);
    const emulator = await startEmulator(rows, { now: () => clock.now(), table: 'AzureDiagnostics' });
    const one = await drain((await aksSource(emulator, { table: 'AzureDiagnostics', pageSize: 8 }, { clock })).source);
    expect(one.events).toHaveLength(45);
    expect(one.rejects).toHaveLength(1);
    expect(one.rejects[0]!.reason).toMatch(/^log_s truncated by Azure Diagnostics at 32,766 bytes/);
    const both = await drain((await aksSource(emulator, { table: 'AzureDiagnostics', categories: ['kube-audit', 'kube-audit-admin'], pageSize: 8 }, { clock })).source);
    // The admin category repeats 3 events: both copies are read (the pipeline's dedupe drops one).
    expect(both.events).toHaveLength(48);
    expect(new Set(keys(both.events)).size).toBe(45);
    expect(emulator.queries.at(-1)!.query).toContain('| where Category in ("kube-audit", "kube-audit-admin")');
  });

  it('filters on the cluster resource id and names the cluster from it', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const emulator = await startEmulator(rows, { now: () => clock.now() });
    const resourceId = '/subscriptions/BFC31CC5-D3BD-4B36-A40E-D13688D546EC/resourceGroups/kubeauditlogtest/providers/Microsoft.ContainerService/managedClusters/KUBETEST';
    const { source } = await aksSource(emulator, { resourceId }, { clock });
    const out = await drain(source);
    expect(out.events.length).toBe(13);
    expect(new Set(out.events.map((e) => e.annotations?.cluster_name))).toEqual(new Set(['kubetest']));
  });

  it('authenticates with a workload identity token file (client assertion)', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now() });
    const dir = await tempDir();
    const tokenFile = join(dir, 'azure-identity-token');
    await writeFile(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.projected-service-account-token.sig');
    const { source } = await aksSource(
      emulator,
      { credential: { type: 'workloadIdentity', tenantId: TENANT, clientId: CLIENT, tokenFile, authorityHost: emulator.authorityHost } },
      { clock },
    );
    const out = await drain(source);
    expect(out.events.length).toBeGreaterThan(0);
    const grant = emulator.tokenCalls.find((t) => t.accessToken !== '')!;
    expect(grant.clientAssertion).toBe('eyJhbGciOiJSUzI1NiJ9.projected-service-account-token.sig');
    expect(grant.clientSecret).toBeUndefined();
    expect(new Set(emulator.queries.map((q) => q.token))).toEqual(new Set([grant.accessToken]));
  });

  it('authenticates with a client certificate (a signed client assertion)', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now() });
    const dir = await tempDir();
    const certificateFile = join(dir, 'client.pem');
    // MSAL signs client assertions with RS256 or PS256: an RSA key, unlike the emulator's EC PKI.
    const rsa = await selfsigned.generate([{ name: 'commonName', value: 'aks test client' }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256' });
    await writeFile(certificateFile, `${rsa.cert}\n${rsa.private}\n`);
    const { source } = await aksSource(
      emulator,
      { credential: { type: 'clientCertificate', tenantId: TENANT, clientId: CLIENT, certificateFile, authorityHost: emulator.authorityHost } },
      { clock },
    );
    expect((await drain(source)).events.length).toBeGreaterThan(0);
    const grant = emulator.tokenCalls.find((t) => t.accessToken !== '')!;
    // A JWT signed with the certificate's key: header.payload.signature.
    expect(grant.clientAssertion).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(new Set(emulator.queries.map((q) => q.token))).toEqual(new Set([grant.accessToken]));
  });

  it('default: DefaultAzureCredential takes the client secret from the environment', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now(), clientSecret: SECRET });
    const names = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'] as const;
    const saved = names.map((n) => process.env[n]);
    Object.assign(process.env, { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: SECRET });
    try {
      const { source } = await aksSource(emulator, { credential: { type: 'default', authorityHost: emulator.authorityHost } }, { clock });
      expect((await drain(source)).events.length).toBeGreaterThan(0);
    } finally {
      names.forEach((n, i) => {
        if (saved[i] === undefined) delete process.env[n];
        else process.env[n] = saved[i];
      });
    }
    const grant = emulator.tokenCalls.find((t) => t.accessToken !== '')!;
    expect([grant.clientId, grant.clientSecret]).toEqual([CLIENT, SECRET]);
  });

  it('authenticates with a managed identity (App Service endpoint from IDENTITY_ENDPOINT)', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now() });
    const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
    process.env.IDENTITY_ENDPOINT = emulator.msiEndpoint;
    process.env.IDENTITY_HEADER = 'emulated-identity-header';
    try {
      const { source } = await aksSource(emulator, { credential: { type: 'managedIdentity', clientId: CLIENT } }, { clock });
      const out = await drain(source);
      expect(out.events.length).toBeGreaterThan(0);
    } finally {
      for (const [key, value] of [['IDENTITY_ENDPOINT', saved.endpoint], ['IDENTITY_HEADER', saved.header]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    const grant = emulator.tokenCalls.find((t) => t.accessToken !== '')!;
    expect(grant.path).toBe('/msi/token');
    expect(grant.clientId).toBe(CLIENT);
    expect(grant.scope).toBe('https://api.loganalytics.io');
    expect(new Set(emulator.queries.map((q) => q.token))).toEqual(new Set([grant.accessToken]));
  });

  it('turns a refused query into an error with the service message, classified by status', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator([], { now: () => clock.now() });
    const { source } = await aksSource(emulator, {}, { clock });
    // One page with KQL outside what the service (here: the emulator) accepts.
    const poller = (source as unknown as { poller: { page(kql: string, t: unknown, s: AbortSignal): Promise<unknown>; classify(e: unknown): { code: string } } }).poller;
    const err = await poller.page('AKSAudit | summarize count() by Verb', { startTime: new Date(0), endTime: new Date() }, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AksQueryError);
    expect((err as Error).message).toMatch(/unsupported operator 'summarize'/);
    expect(poller.classify(err).code).toBe('400');
    expect(emulator.queries.at(-1)!.status).toBe(400);
  });
});

describe('AKS source: an error retrying cannot fix', () => {
  const LINE =
    "source aks-test: the Log Analytics query API answered 403: The provided credentials have insufficient access to perform the requested operation. Likely fix: give the bridge's identity the Log Analytics Reader role on workspace 7d0a3e59-2c1f-4b8e-9a64-0f3c5b1d2e01";

  it('a 403 turns /readyz red with one line (source, answer, role to give) and counts source_lasting_errors_total{reason}', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now(), faults: { deniedEvery: 1 } });
    const { source, metrics, health } = await aksSource(emulator, {}, { clock, once: false });
    health.markStarted();
    const abort = new AbortController();
    const reading = (async () => {
      for await (const batch of source.batches(undefined, abort.signal)) void batch;
    })();
    await eventually(async () => (await metricValue(metrics.sourceLastingErrors, { source: 'aks-test', reason: 'permission_denied' })) >= 1, 10_000, 'a lasting error');
    expect(health.readiness().problems).toEqual([LINE]);
    expect(await metricValue(metrics.sourceFailing, { source: 'aks-test', reason: 'permission_denied' })).toBe(1);
    abort.abort();
    await reading;
  });

  it('in once mode a 403 ends the source with that line; a table the diagnostic setting does not fill is not_found', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now(), faults: { deniedEvery: 1 } });
    const err = await drain((await aksSource(emulator, {}, { clock })).source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceStoppedError);
    expect((err as SourceStoppedError).line).toBe(LINE);

    const { source } = await aksSource(emulator, { table: 'AKSAuditAdmin' }, { clock });
    const poller = (source as unknown as { poller: { classify(e: unknown): { lasting?: { reason: string; fix: string } } } }).poller;
    const unknownTable = Object.assign(new Error("'where' operator: Failed to resolve table or column expression named 'AKSAuditAdmin'"), { statusCode: 400 });
    expect(poller.classify(unknownTable).lasting).toEqual({
      reason: 'not_found',
      fix: 'send kube-audit to the workspace with a diagnostic setting in the mode that fills AKSAuditAdmin ("resource specific"), or set table to the one it fills',
    });
    expect(poller.classify(Object.assign(new Error('no such workspace'), { statusCode: 404 })).lasting?.reason).toBe('not_found');
    expect(poller.classify(Object.assign(new Error('token'), { statusCode: 401 })).lasting?.reason).toBe('bad_credentials');
    expect(poller.classify(Object.assign(new Error('bad'), { name: 'AuthenticationError' })).lasting?.reason).toBe('bad_credentials');
    expect(poller.classify(Object.assign(new Error('syntax'), { statusCode: 400 })).lasting?.reason).toBe('invalid_query');
    expect(poller.classify(Object.assign(new Error('oops'), { statusCode: 500 })).lasting).toBeUndefined();
  });

  it('wrong client secret: bad_credentials', async () => {
    const clock = new VirtualClock(Date.now());
    const emulator = await startEmulator(aksAuditRows(clock.now()), { now: () => clock.now(), clientSecret: 'another-secret' });
    const err = await drain((await aksSource(emulator, {}, { clock })).source).catch((e: unknown) => e);
    expect((err as SourceStoppedError).line).toMatch(/^source aks-test: Microsoft Entra ID answered credentials: invalid_client: .*Invalid client secret provided.*\. Likely fix: check credential \(clientSecret\): tenantId, clientId and the secret, certificate or token it reads$/);
  });
});

describe('AKS source: checkpoints of the previous version', () => {
  it('resumes after the last row read from {ingested, seen, page: {ing, key}}, without loss or repeats', async () => {
    const clock = new VirtualClock(Date.now());
    const rows = aksAuditRows(clock.now());
    const emulator = await startEmulator(rows, { now: () => clock.now() });
    const { source } = await aksSource(emulator, { pageSize: 5 }, { clock });
    const whole = await drain(source);
    const before = await drain(source, undefined, 2);
    const now = before.cursors.at(-1)!;
    expect(now).toMatchObject({ unit: '100ns', resumeAfter: expect.any(String) as unknown });
    // The previous version moved `ingested` to the last row read and kept that row in `page`.
    const old = { ingested: now.resume, seen: now.seen, page: { ing: now.resume, key: now.resumeAfter } };
    const calls = emulator.queries.length;
    const after = await drain(source, old);
    expect([...keys(before.events), ...keys(after.events)]).toEqual(keys(whole.events));
    expect(emulator.queries[calls]!.query).toContain(`strcmp(_key, "${String(now.resumeAfter)}") > 0`);
  });
});
