import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SourceStoppedError } from '../../../src/pipeline/source-runner.js';
import { EksEmulator } from '../../../src/sources/eks/emulator/server.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { auditIDs, drain, eksConfig, eksSource, lastCursor, ManualClock, records } from './helpers.js';
import { tempDir } from '../../helpers/fs.js';
import { eventually } from '../../helpers/pipeline.js';
import { metricValue } from '../../helpers/webhook.js';

const GROUP = '/aws/eks/demo-eks/cluster';
const emulators: EksEmulator[] = [];

async function emulator(options: Partial<Parameters<typeof EksEmulator.start>[0]> = {}): Promise<EksEmulator> {
  const e = await EksEmulator.start({ logGroup: GROUP, ...options });
  emulators.push(e);
  return e;
}

afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()));
});

/** A fast bucket for tests that are not about pacing (the default is the AWS quota, 5/s). */
function fastQuotas(): QuotaRegistry {
  const quotas = new QuotaRegistry(systemClock);
  quotas.bucket('aws-logs:FilterLogEvents:123456789012:us-east-1', 100, 1000);
  return quotas;
}

/**
 * A window read as one chain of pages: for tests that check requests or cursor positions page by
 * page (the default reads the rest of a window whose first page is full in parallel ranges, which
 * the tests in 'parallel reads' cover).
 */
const ONE_CHAIN = { parallelReads: 1 };

function expectEachOnce(ids: string[], expected: string[]): void {
  expect([...ids].sort()).toEqual([...expected].sort());
  expect(new Set(ids).size).toBe(ids.length);
}

describe('EKS source against the CloudWatch Logs emulator (real SDK)', () => {
  it('pages to the end through partial and empty pages that still carry a nextToken', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(20, (i) => now - 20_000 + i * 100), faults: 'page-size=3,empty-every=2' });
    const { source } = eksSource(eksConfig(emu.url), { quotas: fastQuotas() });
    const batches = await drain(source);
    const ids = auditIDs(batches);
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => `eks-t-${i}`)); // in timestamp order
    const emptyWithToken = emu.requests.filter((r) => r.status === 200 && r.events === 0 && r.nextToken);
    expect(emptyWithToken.length).toBeGreaterThan(2);
    // The query the issue specifies: the cluster's group, the audit stream prefix, limit 10000, ms bounds.
    const first = emu.requests[0]!.body;
    expect(first).toMatchObject({ logGroupName: GROUP, logStreamNamePrefix: 'kube-apiserver-audit', limit: 10000 });
    expect(first.endTime).toBeLessThanOrEqual(Date.now() - 200 - 1); // now − settleLag, exclusive
    expect(first.startTime).toBeGreaterThanOrEqual(now - 60_000 - 1000); // startFrom -1m
    expect(batches.at(-1)!.cursor).toMatchObject({ watermark: (first.endTime as number) + 1 });
    expect(batches.at(-1)!.cursor!.resume).toBeUndefined();
    // Only the window's last page says the source has nothing more before its next poll.
    expect(batches.length).toBeGreaterThan(2);
    expect(batches.map((b) => b.caughtUp === true)).toEqual([...Array<boolean>(batches.length - 1).fill(false), true]);
  });

  it('gets pages of at most 1 MB, as CloudWatch sends them, and follows them to the end', async () => {
    const now = Date.now();
    const big = records(7, (i) => now - 5000 + i).map((r) => {
      const event = JSON.parse(r.message) as Record<string, unknown>;
      return { ...r, message: JSON.stringify({ ...event, annotations: { padding: 'x'.repeat(300_000) } }) };
    });
    const emu = await emulator({ records: big });
    // One chain of pages (ONE_CHAIN): the requests are what the test checks.
    const batches = await drain(eksSource(eksConfig(emu.url, ONE_CHAIN), { quotas: fastQuotas() }).source);
    expect(auditIDs(batches)).toEqual(Array.from({ length: 7 }, (_, i) => `eks-t-${i}`));
    expect(emu.requests.map((r) => r.events)).toEqual([3, 3, 1]);
  });

  it('delivers events sharing one millisecond across page boundaries exactly once each', async () => {
    const t = Date.now() - 5000;
    const emu = await emulator({ records: records(11, () => t), faults: 'page-size=3' });
    const { source } = eksSource(eksConfig(emu.url, ONE_CHAIN), { quotas: fastQuotas() });
    const batches = await drain(source);
    expectEachOnce(auditIDs(batches), Array.from({ length: 11 }, (_, i) => `eks-t-${i}`));
    expect(emu.requests.filter((r) => r.status === 200)).toHaveLength(4);
  });

  it('delivers events sharing the millisecond at a window edge exactly once, also those that arrive in it later', async () => {
    const clock = new ManualClock(Date.now());
    const emu = await emulator({ now: () => clock.now(), faults: 'page-size=2' });
    const config = eksConfig(emu.url, { settleLag: '1s', overlap: '5s', startFrom: '-30s', ...ONE_CHAIN });
    const quotas = fastQuotas();
    const metrics = new Metrics();
    const edge = clock.now() - 1000 - 1; // the last millisecond of the first window (endTime is inclusive)
    emu.add(records(3, () => edge, { tag: 'edge' }));
    emu.add(records(2, () => edge + 1, { tag: 'next' })); // visible already, but after the window
    const first = await drain(eksSource(config, { clock, quotas, metrics }).source);
    expectEachOnce(auditIDs(first), ['eks-edge-0', 'eks-edge-1', 'eks-edge-2']);

    // One more event at the edge millisecond arrives late, from another API server.
    clock.time += 2000;
    emu.add(records(1, () => edge, { tag: 'late' }).map((r) => ({ ...r, logStreamName: 'kube-apiserver-audit-ffffffffffffffffffffffffffffffff', ingestionTime: clock.now() })));
    const second = await drain(eksSource(config, { clock, quotas, metrics }).source, lastCursor(first));
    expectEachOnce(auditIDs(second), ['eks-late-0', 'eks-next-0', 'eks-next-1']);
    // The second window re-read the edge (overlap) from before the first window's end.
    const secondQueries = emu.requests.slice(-3).map((r) => r.body.startTime as number);
    expect(Math.min(...secondQueries)).toBeLessThanOrEqual(edge);
    expect((await metrics.lateEvents.get()).values[0]?.value).toBe(1);
  });

  it('delivers events ingested up to settleLag + overlap late exactly once, and counts them as late', async () => {
    const start = Date.now();
    const clock = new ManualClock(start);
    const emu = await emulator({ now: () => clock.now() });
    const settle = 1000;
    const overlap = 4000;
    const config = eksConfig(emu.url, { settleLag: '1s', overlap: '4s', startFrom: '-1s', pollInterval: '500ms' });
    // 30 events over 3 s; every third is ingested almost settleLag + overlap after its time.
    const recs = records(30, (i) => start + i * 100, { ingestAt: (i) => (i % 3 === 0 ? start + i * 100 + settle + overlap - 50 : start + i * 100 + 20) });
    emu.add(recs);
    const quotas = fastQuotas();
    const metrics = new Metrics();
    const delivered: string[] = [];
    let cursor;
    for (let step = 0; step < 20; step++) {
      clock.time += 500; // one poll per poll interval
      const batches = await drain(eksSource(config, { clock, quotas, metrics }).source, cursor);
      delivered.push(...auditIDs(batches));
      cursor = lastCursor(batches, cursor);
    }
    expectEachOnce(delivered, Array.from({ length: 30 }, (_, i) => `eks-t-${i}`));
    const late = (await metrics.lateEvents.get()).values[0]?.value ?? 0;
    expect(late).toBe(10);
    const lag = await metrics.ingestionLag.get();
    expect(lag.values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(30);
  });

  it('loses nothing in a throttling storm and never exceeds 5 requests per second, with two clusters on one account', async () => {
    const now = Date.now();
    const emu = await emulator({ faults: 'throttle-every=2,page-size=2' });
    emu.add(records(8, (i) => now - 10_000 + i, { tag: 'a' }));
    emu.add(records(8, (i) => now - 10_000 + i, { tag: 'b' }).map((r) => ({ ...r, logGroupName: '/aws/eks/other/cluster' })));
    const quotas = new QuotaRegistry(systemClock); // the default: the AWS quota of 5 per second
    const a = eksSource(eksConfig(emu.url, { name: 'eks-a' }), { quotas });
    const b = eksSource(eksConfig(emu.url, { name: 'eks-b', cluster: 'other' }), { quotas });
    const [ba, bb] = await Promise.all([drain(a.source), drain(b.source)]);
    expectEachOnce(auditIDs(ba), Array.from({ length: 8 }, (_, i) => `eks-a-${i}`));
    expectEachOnce(auditIDs(bb), Array.from({ length: 8 }, (_, i) => `eks-b-${i}`));
    expect(ba.flatMap((x) => x.events).every((e) => e.annotations?.cluster_name === 'demo-eks')).toBe(true);
    expect(bb.flatMap((x) => x.events).every((e) => e.annotations?.cluster_name === 'other')).toBe(true);

    const throttled = emu.requests.filter((r) => r.errorType === 'ThrottlingException').length;
    expect(throttled).toBeGreaterThanOrEqual(8);
    const counted = async (m: Metrics): Promise<number> => (await m.apiThrottles.get()).values[0]?.value ?? 0;
    expect((await counted(a.metrics)) + (await counted(b.metrics))).toBe(throttled);
    // Any span shorter than a second holds at most 5 requests (a little slack for timer jitter).
    const times = emu.requests.map((r) => r.at).sort((x, y) => x - y);
    for (let i = 0; i < times.length; i++) {
      const inSpan = times.filter((t) => t >= times[i]! && t < times[i]! + 950).length;
      expect(inSpan, `requests in the 950 ms from request ${i}`).toBeLessThanOrEqual(5);
    }
  });

  it('with the emulator\'s late-ingestion fault, late records are delivered once when they appear, and counted', async () => {
    const clock = new ManualClock(Date.now());
    const emu = await emulator({ now: () => clock.now(), faults: 'late-every=3,late-ms=3000,latency-ms=5' });
    const t0 = clock.now();
    emu.add(records(9, (i) => t0 + i * 10));
    const config = eksConfig(emu.url, { settleLag: '500ms', overlap: '5s', startFrom: '-1s' });
    const quotas = fastQuotas();
    const metrics = new Metrics();
    clock.time = t0 + 1000;
    const first = await drain(eksSource(config, { clock, quotas, metrics }).source);
    expectEachOnce(auditIDs(first), ['eks-t-0', 'eks-t-1', 'eks-t-3', 'eks-t-4', 'eks-t-6', 'eks-t-7']);
    clock.time = t0 + 4000;
    const second = await drain(eksSource(config, { clock, quotas, metrics }).source, lastCursor(first));
    expectEachOnce(auditIDs(second), ['eks-t-2', 'eks-t-5', 'eks-t-8']);
    expect((await metrics.lateEvents.get()).values[0]?.value).toBe(3);
  });

  it('retries 5xx answers from the cursor and counts them by code', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(9, (i) => now - 5000 + i * 10), faults: 'error-every=2,page-size=2' });
    const { source, metrics } = eksSource(eksConfig(emu.url), { quotas: fastQuotas() });
    const ids = auditIDs(await drain(source));
    expectEachOnce(ids, Array.from({ length: 9 }, (_, i) => `eks-t-${i}`));
    const errors = (await metrics.apiErrors.get()).values;
    expect(errors).toEqual([{ labels: { source: 'prod-eks', code: 'ServiceUnavailableException' }, value: emu.requests.filter((r) => r.status === 500).length }]);
  });

  it('loses nothing across a restart mid-window, and repeats nothing that was committed', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(10, (i) => now - 8000 + Math.floor(i / 2)), faults: 'page-size=3' });
    const config = eksConfig(emu.url, ONE_CHAIN);
    const quotas = fastQuotas();
    // The first process stops after two pages (their batches delivered and committed).
    const first = await drain(eksSource(config, { quotas }).source, undefined, (b) => b.length === 2);
    const cursor = lastCursor(first);
    expect(cursor).toMatchObject({ resume: now - 8000 + 2 });
    emu.add(records(3, (i) => now - 7000 + i, { tag: 'after' }));
    const second = await drain(eksSource(config, { quotas }).source, cursor);
    expectEachOnce([...auditIDs(first), ...auditIDs(second)], [
      ...Array.from({ length: 10 }, (_, i) => `eks-t-${i}`),
      ...Array.from({ length: 3 }, (_, i) => `eks-after-${i}`),
    ]);
  });

  it('rejects truncated and malformed messages with a reason and keeps going', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(10, (i) => now - 5000 + i), faults: 'truncate-every=4,malformed-every=5' });
    const batches = await drain(eksSource(eksConfig(emu.url), { quotas: fastQuotas() }).source);
    const rejects = batches.flatMap((b) => b.rejects);
    expect(rejects.map((r) => r.reason.split(':')[0])).toEqual(['truncated message', 'malformed message', 'truncated message', 'malformed message']);
    expect(rejects[0]!.reason).toContain('auditID eks-t-3');
    expect(rejects[0]!.ref).toMatch(/^eventId \d{56}$/);
    expect(auditIDs(batches)).toHaveLength(6);
  });

  it('annotates events with cluster, region and account', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(2, (i) => now - 5000 + i) });
    const [event] = (await drain(eksSource(eksConfig(emu.url), { quotas: fastQuotas() }).source)).flatMap((b) => b.events);
    expect(event!.annotations).toMatchObject({ cluster_name: 'demo-eks', region: 'us-east-1', account_id: '123456789012' });
  });
});

describe('EKS source: parallel reads (a window whose first page is full is read in ranges, parallelReads at once)', () => {
  it('delivers a dense backlog once each, in timestamp order, with requests in flight together', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(300, (i) => now - 20_000 + i * 10), faults: 'page-size=20,latency-ms=40' });
    const { source } = eksSource(eksConfig(emu.url, { parallelReads: 4 }), { quotas: fastQuotas() });
    const ids = auditIDs(await drain(source));
    expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => `eks-t-${i}`));
    const ok = emu.requests.filter((r) => r.status === 200);
    // Ranges: requests with different bounds, and some that arrived within one latency of each other.
    expect(new Set(ok.map((r) => r.body.startTime)).size).toBeGreaterThan(4);
    const times = ok.map((r) => r.at).sort((a, b) => a - b);
    expect(times.some((t, i) => i > 0 && t - times[i - 1]! < 20)).toBe(true);
    // About one range per page: not many more requests than one chain (15 pages) would make.
    expect(ok.length).toBeLessThanOrEqual(15 + 8);
  });

  it('delivers events sharing one millisecond across pages and ranges once each', async () => {
    const t = Date.now() - 5000;
    const emu = await emulator({ records: [...records(11, () => t), ...records(11, () => t + 1, { tag: 'next' })], faults: 'page-size=3' });
    const ids = auditIDs(await drain(eksSource(eksConfig(emu.url, { parallelReads: 3 }), { quotas: fastQuotas() }).source));
    expectEachOnce(ids, [...Array.from({ length: 11 }, (_, i) => `eks-t-${i}`), ...Array.from({ length: 11 }, (_, i) => `eks-next-${i}`)]);
  });

  it('loses nothing across a restart mid-window, and repeats nothing that was committed', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(60, (i) => now - 8000 + i * 20), faults: 'page-size=5' });
    const config = eksConfig(emu.url, { parallelReads: 3 });
    const quotas = fastQuotas();
    const first = await drain(eksSource(config, { quotas }).source, undefined, (b) => b.length === 4);
    const second = await drain(eksSource(config, { quotas }).source, lastCursor(first));
    expectEachOnce([...auditIDs(first), ...auditIDs(second)], Array.from({ length: 60 }, (_, i) => `eks-t-${i}`));
  });

  it('loses nothing in a throttling storm and stays within 5 requests per second', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(40, (i) => now - 10_000 + i * 50), faults: 'throttle-every=3,page-size=5' });
    const ids = auditIDs(await drain(eksSource(eksConfig(emu.url, { parallelReads: 4 }), { quotas: new QuotaRegistry(systemClock) }).source));
    expectEachOnce(ids, Array.from({ length: 40 }, (_, i) => `eks-t-${i}`));
    expect(emu.requests.filter((r) => r.errorType === 'ThrottlingException').length).toBeGreaterThan(2);
    const times = emu.requests.map((r) => r.at).sort((x, y) => x - y);
    for (let i = 0; i < times.length; i++) expect(times.filter((t) => t >= times[i]! && t < times[i]! + 950).length).toBeLessThanOrEqual(5);
  }, 60_000);
});

describe('EKS source credentials (AWS default chain, against the emulator\'s STS)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  function isolateChain(dir: string): void {
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE']) delete process.env[key];
    process.env.AWS_CONFIG_FILE = join(dir, 'no-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials');
  }

  it('assumes roleArn on top of environment credentials', async () => {
    const dir = await tempDir();
    isolateChain(dir);
    process.env.AWS_ACCESS_KEY_ID = 'AKIDFROMENV';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret-from-env';
    const now = Date.now();
    const emu = await emulator({ records: records(2, (i) => now - 5000 + i) });
    const config = eksConfig(emu.url, { roleArn: 'arn:aws:iam::210987654321:role/audit-reader', stsEndpoint: emu.url, accountId: undefined });
    const batches = await drain(eksSource(config, { quotas: new QuotaRegistry(systemClock), credentials: null }).source);
    expect(auditIDs(batches)).toHaveLength(2);
    expect(emu.stsCalls).toMatchObject([{ action: 'AssumeRole', roleArn: 'arn:aws:iam::210987654321:role/audit-reader', sessionName: 'kube-audit-bridge' }]);
    expect(emu.requests.every((r) => r.accessKeyId === emu.stsCalls[0]!.issuedAccessKeyId)).toBe(true);
    // The account comes from the role when accountId is not set.
    expect(batches[0]!.events[0]!.annotations?.account_id).toBe('210987654321');
  });

  it('uses the named profile of the shared credentials file', async () => {
    const dir = await tempDir();
    isolateChain(dir);
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
    await writeFile(process.env.AWS_SHARED_CREDENTIALS_FILE, '[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n[audit]\naws_access_key_id = AKIDAUDITPROFILE\naws_secret_access_key = a\n');
    const now = Date.now();
    const emu = await emulator({ records: records(1, () => now - 5000) });
    const batches = await drain(eksSource(eksConfig(emu.url, { profile: 'audit' }), { quotas: new QuotaRegistry(systemClock), credentials: null }).source);
    expect(auditIDs(batches)).toEqual(['eks-t-0']);
    expect(emu.requests.map((r) => r.accessKeyId)).toEqual(['AKIDAUDITPROFILE']);
  });

  it('uses IRSA web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)', async () => {
    const dir = await tempDir();
    isolateChain(dir);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'eyJhbGciOi.fake.token');
    process.env.AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/irsa-audit';
    process.env.AWS_WEB_IDENTITY_TOKEN_FILE = tokenFile;
    const now = Date.now();
    const emu = await emulator({ records: records(1, () => now - 5000) });
    const batches = await drain(eksSource(eksConfig(emu.url, { stsEndpoint: emu.url }), { quotas: new QuotaRegistry(systemClock), credentials: null }).source);
    expect(auditIDs(batches)).toEqual(['eks-t-0']);
    expect(emu.stsCalls).toMatchObject([{ action: 'AssumeRoleWithWebIdentity', roleArn: 'arn:aws:iam::123456789012:role/irsa-audit', webIdentityToken: 'eyJhbGciOi.fake.token' }]);
    expect(emu.requests[0]!.accessKeyId).toBe(emu.stsCalls[0]!.issuedAccessKeyId);
  });
});

describe('EKS source: an error retrying cannot fix', () => {
  const LINE = new RegExp(
    '^source prod-eks: CloudWatch Logs FilterLogEvents answered AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/audit-reader/kube-audit-bridge is not authorized to perform: logs:FilterLogEvents .*\\. ' +
      "Likely fix: allow logs:FilterLogEvents on arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/demo-eks/cluster:\\* to the bridge's IAM identity$",
  );

  it('AccessDeniedException turns /readyz red with one line (source, answer, permission to allow) and counts source_lasting_errors_total{reason}', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(3, (i) => now - 5000 + i), faults: 'denied-every=1' });
    const { source, metrics, health } = eksSource(eksConfig(emu.url), { quotas: fastQuotas(), once: false });
    health.markStarted();
    const abort = new AbortController();
    const reading = (async () => {
      for await (const batch of source.batches(undefined, abort.signal)) void batch;
    })();
    await eventually(async () => (await metricValue(metrics.sourceLastingErrors, { source: 'prod-eks', reason: 'permission_denied' })) >= 1, 10_000, 'a lasting error');
    expect(health.readiness().problems).toEqual([expect.stringMatching(LINE)]);
    expect(await metricValue(metrics.sourceFailing, { source: 'prod-eks', reason: 'permission_denied' })).toBe(1);
    expect(await metricValue(metrics.apiErrors, { source: 'prod-eks', code: 'AccessDeniedException' })).toBe(1);
    abort.abort();
    await reading;
    expect(emu.requests).toHaveLength(1); // the next try waits five minutes
  });

  it('an unknown log group is a lasting error whose fix enables the audit log type; once mode ends with it', async () => {
    const emu = await emulator({ records: [] });
    const err = await drain(eksSource(eksConfig(emu.url, { cluster: 'missing' }), { quotas: fastQuotas() }).source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceStoppedError);
    expect((err as SourceStoppedError).line).toBe(
      'source prod-eks: CloudWatch Logs FilterLogEvents answered ResourceNotFoundException: The specified log group does not exist. ' +
        "Likely fix: log group /aws/eks/missing/cluster does not exist in us-east-1: enable the cluster's audit log type (aws eks update-cluster-config --region us-east-1 --name missing --logging '{\"clusterLogging\":[{\"types\":[\"audit\"],\"enabled\":true}]}'), or set logGroup",
    );
  });
});

describe('EKS source: checkpoints of the previous version', () => {
  it('resumes mid-window from {watermark, floor, resume, seen: {ms: eventIds}} without loss or repeats', async () => {
    const now = Date.now();
    const emu = await emulator({ records: records(10, (i) => now - 8000 + Math.floor(i / 2)), faults: 'page-size=3' });
    const config = eksConfig(emu.url, ONE_CHAIN);
    const quotas = fastQuotas();
    const first = await drain(eksSource(config, { quotas }).source, undefined, (b) => b.length === 2);
    // The previous version wrote the same fields without the unit tag.
    const { unit, ...old } = lastCursor(first)!;
    expect(unit).toBe('ms');
    expect(Object.keys(old).sort()).toEqual(['floor', 'resume', 'seen', 'watermark']);
    const second = await drain(eksSource(config, { quotas }).source, old);
    expectEachOnce([...auditIDs(first), ...auditIDs(second)], Array.from({ length: 10 }, (_, i) => `eks-t-${i}`));
    expect(emu.requests.at(-1)!.body.startTime).toBe(old.resume);
  });
});
