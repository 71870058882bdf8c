// An event nested deeper than MAX_EVENT_DEPTH is a reject in every source, before anything
// recursive walks it: the checks stand in front of scrubbing, rules and JSON.stringify, which
// overflow the stack some thousands of levels down.
import { describe, expect, it } from 'vitest';
import { normalizeAksRow } from '../../src/sources/aks/normalize.js';
import { normalizeEksRecord } from '../../src/sources/eks/normalize.js';
import { MAX_EVENT_DEPTH, isReject, tooDeep } from '../../src/event/event.js';
import { normalizeGkeEntry } from '../../src/sources/gke/normalize.js';
import { makeEvent } from '../helpers/events.js';

/** JSON text of a value nested `depth` objects deep. */
const deepText = (depth: number): string => `${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}`;
const eventText = (depth: number): string => JSON.stringify({ ...makeEvent(1), requestObject: 'DEEP' }).replace('"DEEP"', deepText(depth));

describe('nesting depth', () => {
  it('tooDeep stops at the cap: a value 100,000 levels deep is caught without exhausting the stack', () => {
    const value: unknown = JSON.parse(eventText(100_000));
    expect(tooDeep(value)).toBe('requestObject');
    expect(tooDeep(JSON.parse(eventText(MAX_EVENT_DEPTH - 1)))).toBeUndefined(); // the event is level 1: 255 more levels fit
    expect(tooDeep(JSON.parse(eventText(MAX_EVENT_DEPTH)))).toBe('requestObject');
  });

  it('EKS: a message whose event nests too deep is a reject naming the field', () => {
    const result = normalizeEksRecord({ eventId: '1', message: eventText(10_000) });
    expect(isReject(result) && result.reason).toBe('invalid event: requestObject: nests objects and arrays deeper than 256 levels; no Kubernetes object does (auditID 00000000-0000-4000-8000-000000000001, stage ResponseComplete, verb get, requestURI /api/v1/namespaces/default/configmaps/cm-1)');
  });

  it('AKS: log_s and the AKSAudit columns', () => {
    const diag = normalizeAksRow({ Category: 'kube-audit', log_s: eventText(10_000), _ResourceId: '/subscriptions/s/resourcegroups/g/providers/microsoft.containerservice/managedclusters/c' });
    expect(isReject(diag) && diag.reason).toMatch(/^invalid audit event: log_s\.requestObject: nests objects and arrays deeper than 256 levels/);
    const e = makeEvent(2);
    const audit = normalizeAksRow({
      Level: e.level,
      AuditId: e.auditID,
      Stage: e.stage,
      RequestUri: e.requestURI,
      Verb: e.verb,
      User: JSON.stringify(e.user),
      RequestObject: deepText(10_000),
      RequestReceivedTime: e.requestReceivedTimestamp,
      StageReceivedTime: e.stageTimestamp,
    });
    expect(isReject(audit) && audit.reason).toMatch(/^invalid audit event: requestObject: nests objects and arrays deeper than 256 levels/);
  });

  it('GKE: a request or response body nested too deep', () => {
    const entry = {
      insertId: 'x1',
      timestamp: '2026-01-02T03:04:05.123456Z',
      resource: { type: 'k8s_cluster', labels: { cluster_name: 'c' } },
      protoPayload: {
        '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
        serviceName: 'k8s.io',
        methodName: 'io.k8s.core.v1.configmaps.create',
        resourceName: 'core/v1/namespaces/default/configmaps/x',
        request: JSON.parse(deepText(10_000)) as unknown,
      },
    };
    const result = normalizeGkeEntry(entry);
    expect(isReject(result) && result.reason).toBe('malformed entry: protoPayload.request nests objects and arrays deeper than 256 levels');
  });
});

describe('JSON errors in reject reasons', () => {
  it('never quote the record (V8 puts the start of the input in its message)', async () => {
    const { parseNativeEventText } = await import('../../src/event/parse.js');
    const parsed = parseNativeEventText('{"stringData":{"password":hunter2}}');
    expect(parsed).toMatchObject({ ok: false, kind: 'json' });
    const error = (parsed as { error: string }).error;
    expect(error).not.toContain('password');
    expect(error).toMatch(/^Unexpected token 'h' \(the text is not valid JSON\)$/);
  });
});
