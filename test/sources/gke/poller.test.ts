import { describe, expect, it } from 'vitest';
import { parseEndpoint } from '../../../src/sources/gke/client.js';
import { fromWireEntry, readWireEntry } from '../../../src/sources/gke/entry.js';
import { encodeAuditLog } from '../../../src/sources/gke/audit-log.js';
import { GkeWindowPoller } from '../../../src/sources/gke/poller.js';
import { timestampToNs } from '../../../src/sources/gke/time.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { VirtualClock } from '../../helpers/clock.js';
import { gkeConfig } from './helpers.js';

describe('gke poller parts', () => {
  it('parses endpoints as host:port, a bare host meaning 443', () => {
    expect(parseEndpoint('127.0.0.1:8085')).toEqual({ host: '127.0.0.1', port: 8085 });
    expect(parseEndpoint('logging.googleapis.com')).toEqual({ host: 'logging.googleapis.com', port: 443 });
    expect(parseEndpoint('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(() => parseEndpoint('http://x:1')).toThrow(/host:port/);
  });

  it('classifies gRPC failures; only RESOURCE_EXHAUSTED is throttling', () => {
    const clock = new VirtualClock();
    const poller = new GkeWindowPoller(gkeConfig('127.0.0.1:1'), { client: () => Promise.reject(new Error('unused')), quota: new TokenBucket(1, 1, clock), logger: silentLogger() });
    expect(poller.classify(Object.assign(new Error('q'), { code: 8 }))).toEqual({ code: 'RESOURCE_EXHAUSTED', throttled: true });
    expect(poller.classify(Object.assign(new Error('u'), { code: 14 }))).toEqual({ code: 'UNAVAILABLE', throttled: false });
    expect(poller.classify(new Error('other'))).toEqual({ code: 'UNKNOWN', throttled: false });
  });

  it('tells lasting gRPC answers (permission, project, credentials, filter) from transient ones', () => {
    const clock = new VirtualClock();
    const make = (logs: string[]) =>
      new GkeWindowPoller(gkeConfig('127.0.0.1:1', { logs }), { client: () => Promise.reject(new Error('unused')), quota: new TokenBucket(1, 1, clock), logger: silentLogger() });
    const grpc = (code: number, details: string): Error => Object.assign(new Error(`${code} X: ${details}`), { code, details });
    const denied = make(['activity']).classify(grpc(7, 'The caller does not have permission'));
    expect(denied).toEqual({
      code: 'PERMISSION_DENIED',
      throttled: false,
      answer: 'The caller does not have permission',
      lasting: {
        reason: 'permission_denied',
        fix: "grant the bridge's identity the Logs Viewer role (roles/logging.viewer) on project test-project (roles/logging.privateLogViewer too, to read data_access)",
      },
    });
    expect(make(['activity', 'data_access']).classify(grpc(7, 'no')).lasting?.fix).toMatch(/roles\/logging\.viewer\) on project test-project, and Private Logs Viewer \(roles\/logging\.privateLogViewer\)/);
    const poller = make(['activity']);
    expect(poller.classify(grpc(5, 'project not found')).lasting?.reason).toBe('not_found');
    expect(poller.classify(grpc(16, 'bad token')).lasting?.reason).toBe('bad_credentials');
    expect(poller.classify(new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started')).lasting?.reason).toBe('bad_credentials');
    expect(poller.classify(grpc(3, 'invalid filter: unknown field')).lasting?.reason).toBe('invalid_query');
    expect(poller.classify(grpc(3, 'page token is invalid')).lasting).toBeUndefined();
    expect(poller.classify(grpc(14, 'unavailable')).lasting).toBeUndefined();
  });

  it('turns a raw SDK entry into the gcloud JSON shape with nanosecond timestamps', () => {
    const payload = { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', methodName: 'io.k8s.core.v1.pods.get', resourceName: 'core/v1/pods', status: { code: 5 }, response: { kind: 'Status', code: 404, items: [1, 'a', null] } };
    const wire = fromWireEntry({
      insertId: 'x',
      timestamp: { seconds: '1767323045', nanos: 123456789 },
      receiveTimestamp: { seconds: 1767323046, nanos: 0 },
      logName: 'projects/p/logs/cloudaudit.googleapis.com%2Factivity',
      protoPayload: { type_url: payload['@type'], value: Buffer.from(encodeAuditLog(payload)) },
    });
    expect(wire).toMatchObject({ ok: true, insertId: 'x', timestampNs: 1767323045123456789n });
    if (!wire.ok) throw new Error('unexpected');
    expect(wire.json.timestamp).toBe('2026-01-02T03:04:05.123456789Z');
    expect(wire.json.receiveTimestamp).toBe('2026-01-02T03:04:06.000000000Z');
    expect(wire.json.protoPayload).toEqual(payload);
    expect(fromWireEntry({ insertId: 'y', timestamp: { seconds: 1 }, protoPayload: { type_url: payload['@type'], value: Buffer.from([0x3a, 0xff]) } })).toMatchObject({ ok: false, reason: expect.stringMatching(/not a decodable AuditLog/) as unknown });
    expect(timestampToNs({ seconds: { toString: () => '2' }, nanos: 3 })).toBe(2_000_000_003n);
  });

  it('makes an entry whose timestamp no date can show a reject, not an error that fails its page', () => {
    // Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
    expect(timestampToNs({ seconds: '-62135596800' })).toBe(-62_135_596_800_000_000_000n);
    expect(timestampToNs({ seconds: '253402300799', nanos: 999_999_999 })).toBe(253_402_300_799_999_999_999n);
    expect(timestampToNs({ seconds: '-62135596801' })).toBeUndefined();
    expect(timestampToNs({ seconds: '253402300800' })).toBeUndefined();
    // Nanos that carry the instant past the range count too (1e300 made the date text throw).
    expect(timestampToNs({ seconds: '253402300799', nanos: 1_000_000_000 })).toBeUndefined();
    expect(timestampToNs({ seconds: '-62135596800', nanos: -1 })).toBeUndefined();
    expect(timestampToNs({ seconds: 0, nanos: 1e300 })).toBeUndefined();
    const page = [
      { insertId: 'before', timestamp: { seconds: 1 } },
      { insertId: 'far', timestamp: { seconds: '100000000000000' }, receiveTimestamp: { seconds: '-100000000000000' } },
      { insertId: 'after', timestamp: { seconds: 2 } },
    ].map(readWireEntry);
    expect(page.map((e) => (e.ok ? e.insertId : e.reason))).toEqual(['before', 'malformed entry: timestamp is not a Timestamp from year 1 to 9999', 'after']);
    expect(readWireEntry({ insertId: 'none' })).toMatchObject({ ok: false, reason: 'malformed entry: no timestamp' });
  });
});
