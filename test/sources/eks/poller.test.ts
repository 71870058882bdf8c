// The EKS poller on a FilterLogEvents stand-in: a burst in one millisecond, and how it classifies
// the answers of AWS.
import type { FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { describe, expect, it, vi } from 'vitest';
import type { Cursor, SourceBatch } from '../../../src/pipeline/types.js';
import type { FilterLogEvents } from '../../../src/sources/eks/client.js';
import { EksPoller } from '../../../src/sources/eks/poller.js';
import { SeenSet } from '../../../src/sources/polling/window.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { systemClock } from '../../../src/util/clock.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { eksConfig, records } from './helpers.js';

function poller(call: FilterLogEvents, overrides: Record<string, unknown> = {}): EksPoller {
  return new EksPoller(eksConfig('http://127.0.0.1:1', overrides), {
    metrics: new Metrics(),
    bucket: new TokenBucket(1, 1, systemClock),
    filterLogEvents: () => Promise.resolve(call),
    context: { cluster: 'demo-eks', region: 'us-east-1', accountId: '123456789012' },
  });
}

describe('EKS poller', () => {
  it('hands on a burst of 10,000 events in one millisecond once each, writing the cursor once per page', async () => {
    const now = Date.now();
    const t = now - 1000; // settled, and inside the overlap the next window re-reads
    const burst = records(10_000, () => t).map((r, i) => ({ ...r, eventId: `${String(t).padStart(16, '0')}${String(i).padStart(40, '0')}` }));
    const pageSize = 1000;
    const call: FilterLogEvents = (input) => {
      const from = input.nextToken ? Number(input.nextToken) : 0;
      const events = burst.slice(from, from + pageSize);
      const more = from + pageSize < burst.length;
      return Promise.resolve({ events, ...(more ? { nextToken: String(from + pageSize) } : {}), $metadata: {} } as FilterLogEventsCommandOutput);
    };
    // This fake ignores startTime and endTime: one chain, which is what the test is about.
    const p = poller(call, { parallelReads: 1 });
    const start = p.initialCursor(now - 60_000);
    const writes = vi.spyOn(SeenSet.prototype, 'toJson');
    const adds = vi.spyOn(SeenSet.prototype, 'add');
    const batches: (SourceBatch & { cursor: Cursor })[] = [];
    for await (const b of p.poll(start, { signal: new AbortController().signal, nowMs: now })) batches.push(b);
    const counted = { writes: writes.mock.calls.length, adds: adds.mock.calls.length };
    vi.restoreAllMocks();

    expect(batches).toHaveLength(10);
    const ids = batches.flatMap((b) => b.events.map((e) => e.auditID));
    expect(new Set(ids).size).toBe(10_000);
    // Work per event is one add; the cursor is written out once per page (one batch), not per event.
    expect(counted).toEqual({ writes: 10, adds: 10_000 });
    expect(batches.at(-1)!.cursor.seen).toEqual({ [t]: burst.map((r) => r.eventId) });
  });

  it('tells lasting answers (permission, log group, credentials, filter) from transient ones', () => {
    const p = poller(() => Promise.reject(new Error('unused')), { roleArn: 'arn:aws:iam::123456789012:role/audit-reader' });
    const aws = (name: string, status = 400, message = 'm'): Error => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
    expect(p.classify(aws('ThrottlingException'))).toEqual({ code: 'ThrottlingException', throttled: true });
    expect(p.classify(aws('ServiceUnavailableException', 503))).toEqual({ code: 'ServiceUnavailableException', throttled: false });
    expect(p.classify(new TypeError('fetch failed'))).toMatchObject({ code: 'TypeError', throttled: false });
    expect(p.classify(aws('AccessDeniedException')).lasting).toEqual({
      reason: 'permission_denied',
      fix: "allow logs:FilterLogEvents on arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/demo-eks/cluster:* to the bridge's IAM identity (the role arn:aws:iam::123456789012:role/audit-reader, and sts:AssumeRole on it for the identity that assumes it)",
    });
    expect(p.classify(aws('AccessDenied', 403)).lasting?.reason).toBe('permission_denied'); // STS refusing roleArn
    const notFound = p.classify(aws('ResourceNotFoundException'));
    expect(notFound.lasting?.reason).toBe('not_found');
    expect(notFound.lasting?.fix).toContain(`aws eks update-cluster-config --region us-east-1 --name demo-eks --logging '{"clusterLogging":[{"types":["audit"],"enabled":true}]}'`);
    expect(p.classify(aws('UnrecognizedClientException')).lasting?.reason).toBe('bad_credentials');
    expect(p.classify(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' })).lasting?.reason).toBe('bad_credentials');
    expect(p.classify(aws('InvalidParameterException', 400, 'Invalid filter pattern')).lasting?.reason).toBe('invalid_query');
    expect(p.classify(aws('InvalidParameterException', 400, 'The specified nextToken is invalid.')).lasting).toBeUndefined();
  });
});
