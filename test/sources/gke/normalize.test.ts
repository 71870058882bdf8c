/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument -- the fixtures are free-form LogEntry JSON */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalMicroTime, isReject, validateEvent, type AuditEvent, type Reject } from '../../../src/event/event.js';
import { gkeConverter, normalizeGkeEntry } from '../../../src/sources/gke/normalize.js';
import { parseResourceName } from '../../../src/sources/gke/resource.js';
import { testdata } from '../../helpers/events.js';

const FIXTURES = testdata('gke');
type Entry = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function fixtures(): { name: string; entry: Entry }[] {
  return ['kube-agents', 'stackdriver-webhook-bridge'].flatMap((dir) =>
    readdirSync(join(FIXTURES, dir))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => ({ name: f.replace(/\.json$/, ''), entry: JSON.parse(readFileSync(join(FIXTURES, dir, f), 'utf8')) as Entry })),
  );
}

function event(entry: unknown, options = {}): AuditEvent {
  const result = normalizeGkeEntry(entry, options);
  if (isReject(result)) throw new Error(`rejected: ${result.reason}`);
  return result;
}

// [level, verb, requestURI, objectRef, responseStatus.code] for every real sample.
const GOLDEN: Record<string, [string, string, string, Record<string, string> | undefined, number]> = {
  delete_call: ['RequestResponse', 'delete', '/api/v1/namespaces/gke-gmp-system/pods/collector-9gt27', { resource: 'pods', namespace: 'gke-gmp-system', name: 'collector-9gt27', apiVersion: 'v1' }, 200],
  failed_aborted: ['Metadata', 'create', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', { resource: 'leases', namespace: 'kube-system', name: 'gke-spiffe-controller-c4afa9e1-2626-4975-903d-57c6936e78f9', apiGroup: 'coordination.k8s.io', apiVersion: 'v1' }, 409],
  human_denied: ['RequestResponse', 'create', '/api/v1/namespaces/default/pods', { resource: 'pods', namespace: 'default', name: 'crashloop-probe', apiVersion: 'v1' }, 403],
  human_exec: ['Request', 'create', '/api/v1/namespaces/kubeagents-system/pods/standalone-replay-7d9c8b6f5-xk2mq/exec', { resource: 'pods', namespace: 'kubeagents-system', name: 'standalone-replay-7d9c8b6f5-xk2mq', apiVersion: 'v1', subresource: 'exec' }, 101],
  human_patch: ['RequestResponse', 'patch', '/apis/apps/v1/namespaces/kubeagents-system/deployments/standalone-replay', { resource: 'deployments', namespace: 'kubeagents-system', name: 'standalone-replay', apiGroup: 'apps', apiVersion: 'v1' }, 200],
  kubelet_bootstrap: ['RequestResponse', 'create', '/apis/certificates.k8s.io/v1/certificatesigningrequests', { resource: 'certificatesigningrequests', name: 'node-csr-hpM6hbesnl8Z0M7FGF_PN6R9fhRs7ySusYK9FwbSF_A', apiGroup: 'certificates.k8s.io', apiVersion: 'v1' }, 201],
  serviceaccount: ['Metadata', 'update', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/gke-gateway-leader-election', { resource: 'leases', namespace: 'kube-system', name: 'gke-gateway-leader-election', apiGroup: 'coordination.k8s.io', apiVersion: 'v1' }, 200],
  system_success: ['Metadata', 'patch', '/api/v1/namespaces/kube-system/configmaps/dpv2-fast-start-config', { resource: 'configmaps', namespace: 'kube-system', name: 'dpv2-fast-start-config', apiVersion: 'v1' }, 200],
  unauthenticated_bot: ['RequestResponse', 'create', '/core/templates/preview', undefined, 401],
  create_cluster_role_pod_exec: ['RequestResponse', 'create', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { resource: 'clusterroles', name: 'pod-exec-clusterrole', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 201],
  create_cluster_role_wildcard_resources: ['RequestResponse', 'create', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { resource: 'clusterroles', name: 'wildcard-resources-clusterrole', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 201],
  create_cluster_role_wildcard_verbs: ['RequestResponse', 'create', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { resource: 'clusterroles', name: 'wildcard-verbs-clusterrole', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 201],
  create_cluster_role_write_privileges: ['RequestResponse', 'create', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { resource: 'clusterroles', name: 'write-privileges-clusterrole', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 201],
  create_clusterrole: ['RequestResponse', 'create', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { resource: 'clusterroles', name: 'vanilla-clusterrole', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 201],
  create_clusterrolebinding: ['RequestResponse', 'create', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { resource: 'clusterrolebindings', name: 'vanilla-binding', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 201],
  create_configmap: ['Metadata', 'create', '/api/v1/namespaces/default/configmaps', { resource: 'configmaps', namespace: 'default', name: 'my-config', apiVersion: 'v1' }, 201],
  // A Namespace create is a POST to the collection: no objectRef.namespace.
  create_namespace: ['RequestResponse', 'create', '/api/v1/namespaces', { resource: 'namespaces', name: 'test-ns', apiVersion: 'v1' }, 201],
  create_serviceaccount: ['RequestResponse', 'create', '/api/v1/namespaces/test-ns/serviceaccounts', { resource: 'serviceaccounts', namespace: 'test-ns', name: 'default', apiVersion: 'v1' }, 201],
  // generateName: the name is not in resourceName and is not taken from the response body.
  create_vanilla_pod: ['RequestResponse', 'create', '/api/v1/namespaces/default/pods', { resource: 'pods', namespace: 'default', apiVersion: 'v1' }, 201],
  create_vanilla_service: ['RequestResponse', 'create', '/api/v1/namespaces/default/services', { resource: 'services', namespace: 'default', name: 'vanilla-clusterip-service', apiVersion: 'v1' }, 201],
  delete_clusterrole: ['RequestResponse', 'delete', '/apis/rbac.authorization.k8s.io/v1/clusterroles/some-reader', { resource: 'clusterroles', name: 'some-reader', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 200],
  delete_clusterrolebinding: ['RequestResponse', 'delete', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/some-reader-binding', { resource: 'clusterrolebindings', name: 'some-reader-binding', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, 200],
  delete_deployment: ['RequestResponse', 'delete', '/apis/extensions/v1beta1/namespaces/default/deployments/vanilla-nginx-deployment', { resource: 'deployments', namespace: 'default', name: 'vanilla-nginx-deployment', apiGroup: 'extensions', apiVersion: 'v1beta1' }, 200],
  delete_service: ['RequestResponse', 'delete', '/api/v1/namespaces/default/services/vanilla-clusterip-service', { resource: 'services', namespace: 'default', name: 'vanilla-clusterip-service', apiVersion: 'v1' }, 200],
};

describe('GKE normalizer on every real sample', () => {
  const all = fixtures();
  it('covers all 24 samples', () => {
    expect(all.map((f) => f.name).sort()).toEqual(Object.keys(GOLDEN).sort());
  });

  for (const { name, entry } of all) {
    it(name, () => {
      const e = event(entry);
      expect(validateEvent(e)).toEqual([]);
      const [level, verb, requestURI, objectRef, code] = GOLDEN[name]!;
      expect(e.kind).toBe('Event');
      expect(e.apiVersion).toBe('audit.k8s.io/v1');
      expect(e.auditID).toBe(entry.insertId);
      expect(e.stage).toBe('ResponseComplete'); // every sample has first and last
      expect(e.level).toBe(level);
      expect(e.verb).toBe(verb);
      expect(e.requestURI).toBe(requestURI);
      expect(e.objectRef).toEqual(objectRef);
      expect(e.responseStatus?.code).toBe(code);
      const p = entry.protoPayload;
      expect(e.user).toEqual(p.authenticationInfo?.principalEmail ? { username: p.authenticationInfo.principalEmail } : {});
      expect(e.sourceIPs).toEqual([p.requestMetadata.callerIp]);
      expect(e.userAgent).toBe(p.requestMetadata.callerSuppliedUserAgent);
      expect(e.requestReceivedTimestamp).toBe(canonicalMicroTime(entry.timestamp));
      expect(e.stageTimestamp).toBe(e.requestReceivedTimestamp);
      expect(e.requestReceivedTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(e.annotations).toEqual({ ...(entry.labels ?? {}), ...entry.resource.labels });
      expect(Object.keys(e.annotations!)).toEqual(Object.keys(e.annotations!).sort());
      for (const [body, raw] of [[e.requestObject, p.request], [e.responseObject, p.response]] as const) {
        if (raw === undefined) expect(body).toBeUndefined();
        else {
          expect(body).not.toHaveProperty('@type');
          const { '@type': _t, ...rest } = raw as Entry;
          expect(body).toEqual(rest);
        }
      }
      // key order is the apiserver's
      expect(Object.keys(e).slice(0, 8)).toEqual(['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user']);
    });
  }

  it('takes the 401 Status body of an unauthenticated request, user {}', () => {
    const e = event(all.find((f) => f.name === 'unauthenticated_bot')!.entry);
    expect(e.user).toEqual({});
    expect(e.responseStatus).toEqual({ metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    expect(e.objectRef).toBeUndefined();
  });

  it('reports a quota admission denial as 403 with its message, though the decision label says allow', () => {
    const e = event(all.find((f) => f.name === 'human_denied')!.entry);
    expect(e.annotations!['authorization.k8s.io/decision']).toBe('allow');
    expect(e.responseStatus).toMatchObject({ status: 'Failure', code: 403 });
    expect(e.responseStatus!.message).toContain('failed quota');
  });

  it('copies a successful delete Status (no code) and maps the OK to 200', () => {
    const e = event(all.find((f) => f.name === 'delete_service')!.entry);
    expect(e.responseStatus).toEqual({
      metadata: {},
      status: 'Success',
      details: { kind: 'services', name: 'vanilla-clusterip-service', uid: 'ad43ac19-33fc-11ea-b5db-42010a800045' },
      code: 200,
    });
  });

  it('keeps "@type" when asked', () => {
    const entry = all.find((f) => f.name === 'delete_service')!.entry;
    const e = event(entry, { keepTypeKey: true });
    expect((e.requestObject as Entry)['@type']).toBe('core.k8s.io/v1.DeleteOptions');
  });
});

/** A minimal valid entry, for the grammar corners no public sample shows. */
function synthetic(resourceName: string, method: string, extra: Entry = {}): Entry {
  return {
    insertId: 'id-1',
    logName: 'projects/p/logs/cloudaudit.googleapis.com%2Factivity',
    operation: { id: 'id-1', producer: 'k8s.io', first: true, last: true },
    protoPayload: {
      '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
      serviceName: 'k8s.io',
      methodName: method,
      resourceName,
      authenticationInfo: { principalEmail: 'alice@example.com' },
      requestMetadata: { callerIp: '10.0.0.1', callerSuppliedUserAgent: 'kubectl' },
      status: {},
      ...extra.protoPayload,
    },
    resource: { type: 'k8s_cluster', labels: { cluster_name: 'c1', location: 'l1', project_id: 'p' } },
    timestamp: '2026-09-04T20:41:03.889214Z',
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'protoPayload')),
  };
}

describe('resourceName grammar', () => {
  const cases: [string, string, string, Record<string, string> | undefined][] = [
    ['core/v1/namespaces/test-ns', 'delete', '/api/v1/namespaces/test-ns', { resource: 'namespaces', namespace: 'test-ns', name: 'test-ns', apiVersion: 'v1' }],
    ['core/v1/namespaces/test-ns', 'get', '/api/v1/namespaces/test-ns', { resource: 'namespaces', namespace: 'test-ns', name: 'test-ns', apiVersion: 'v1' }],
    ['core/v1/namespaces/foo/finalize', 'update', '/api/v1/namespaces/foo/finalize', { resource: 'namespaces', namespace: 'foo', name: 'foo', apiVersion: 'v1', subresource: 'finalize' }],
    ['core/v1/namespaces/foo/status', 'patch', '/api/v1/namespaces/foo/status', { resource: 'namespaces', namespace: 'foo', name: 'foo', apiVersion: 'v1', subresource: 'status' }],
    ['core/v1/namespaces/foo/finalize', 'create', '/api/v1/namespaces/foo/finalize', { resource: 'namespaces', namespace: 'foo', name: 'foo', apiVersion: 'v1', subresource: 'finalize' }],
    ['core/v1/namespaces', 'list', '/api/v1/namespaces', { resource: 'namespaces', apiVersion: 'v1' }],
    ['core/v1/pods', 'list', '/api/v1/pods', { resource: 'pods', apiVersion: 'v1' }],
    ['rbac.authorization.k8s.io/v1/clusterrolebindings', 'list', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { resource: 'clusterrolebindings', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }],
    ['core/v1/namespaces/default/pods', 'create', '/api/v1/namespaces/default/pods', { resource: 'pods', namespace: 'default', apiVersion: 'v1' }],
    ['core/v1/namespaces/default/pods/P/exec/P', 'create', '/api/v1/namespaces/default/pods/P/exec', { resource: 'pods', namespace: 'default', name: 'P', apiVersion: 'v1', subresource: 'exec' }],
    ['core/v1/namespaces/default/pods/P/attach', 'create', '/api/v1/namespaces/default/pods/P/attach', { resource: 'pods', namespace: 'default', name: 'P', apiVersion: 'v1', subresource: 'attach' }],
    ['core/v1/namespaces/default/pods/P/portforward/P', 'create', '/api/v1/namespaces/default/pods/P/portforward', { resource: 'pods', namespace: 'default', name: 'P', apiVersion: 'v1', subresource: 'portforward' }],
    ['core/v1/nodes/n1/proxy/metrics/cadvisor', 'get', '/api/v1/nodes/n1/proxy/metrics/cadvisor', { resource: 'nodes', name: 'n1', apiVersion: 'v1', subresource: 'proxy' }],
    ['core/v1/namespaces/ns/services/https:web:443/proxy/healthz', 'get', '/api/v1/namespaces/ns/services/https:web:443/proxy/healthz', { resource: 'services', namespace: 'ns', name: 'https:web:443', apiVersion: 'v1', subresource: 'proxy' }],
    ['core/v1/namespaces/ns/pods/web-1/log', 'get', '/api/v1/namespaces/ns/pods/web-1/log', { resource: 'pods', namespace: 'ns', name: 'web-1', apiVersion: 'v1', subresource: 'log' }],
    ['core/v1/namespaces/ns/pods/web-1/binding', 'create', '/api/v1/namespaces/ns/pods/web-1/binding', { resource: 'pods', namespace: 'ns', name: 'web-1', apiVersion: 'v1', subresource: 'binding' }],
    ['core/v1/namespaces/ns/pods/web-1/eviction', 'create', '/api/v1/namespaces/ns/pods/web-1/eviction', { resource: 'pods', namespace: 'ns', name: 'web-1', apiVersion: 'v1', subresource: 'eviction' }],
    ['core/v1/namespaces/ns/serviceaccounts/sa/token', 'create', '/api/v1/namespaces/ns/serviceaccounts/sa/token', { resource: 'serviceaccounts', namespace: 'ns', name: 'sa', apiVersion: 'v1', subresource: 'token' }],
    ['core/v1/namespaces/ns/pods/web-1/ephemeralcontainers', 'patch', '/api/v1/namespaces/ns/pods/web-1/ephemeralcontainers', { resource: 'pods', namespace: 'ns', name: 'web-1', apiVersion: 'v1', subresource: 'ephemeralcontainers' }],
    ['apps/v1/namespaces/ns/deployments/web/scale', 'update', '/apis/apps/v1/namespaces/ns/deployments/web/scale', { resource: 'deployments', namespace: 'ns', name: 'web', apiGroup: 'apps', apiVersion: 'v1', subresource: 'scale' }],
    ['certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', 'update', '/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', { resource: 'certificatesigningrequests', name: 'csr-1', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', subresource: 'approval' }],
    ['database.coreos.com/v1beta2/namespaces/ns/etcdbackups/b.1:x', 'create', '/apis/database.coreos.com/v1beta2/namespaces/ns/etcdbackups', { resource: 'etcdbackups', namespace: 'ns', name: 'b.1:x', apiGroup: 'database.coreos.com', apiVersion: 'v1beta2' }],
    ['stable.example.com/v1alpha1/crontabs/c', 'delete', '/apis/stable.example.com/v1alpha1/crontabs/c', { resource: 'crontabs', name: 'c', apiGroup: 'stable.example.com', apiVersion: 'v1alpha1' }],
    ['core/templates/preview', 'create', '/core/templates/preview', undefined],
    ['apps/v1', 'get', '/apis/apps/v1', undefined],
    ['core//v1/pods', 'get', '/core//v1/pods', undefined],
  ];
  for (const [name, verb, uri, ref] of cases) {
    it(`${verb} ${name}`, () => {
      expect(parseResourceName(name, verb)).toEqual(ref ? { objectRef: ref, requestURI: uri } : { requestURI: uri });
      // and through the whole normalizer, still a valid event
      const e = event(synthetic(name, `io.k8s.x.v1.r.${verb}`));
      expect(validateEvent(e)).toEqual([]);
      expect(e.requestURI).toBe(uri);
    });
  }
});

describe('stage, exec and status rules', () => {
  const exec = 'core/v1/namespaces/default/pods/P/exec/P';
  it('exec start (first only) is ResponseStarted with 101; the end (last only) ResponseComplete with 101', () => {
    const start = event(synthetic(exec, 'io.k8s.core.v1.pods.exec.create', { operation: { first: true }, protoPayload: { status: { code: 2 } } }));
    const end = event(synthetic(exec, 'io.k8s.core.v1.pods.exec.create', { operation: { last: true }, protoPayload: { status: { code: 2 } } }));
    expect([start.stage, start.responseStatus?.code, start.level]).toEqual(['ResponseStarted', 101, 'Request']);
    expect([end.stage, end.responseStatus?.code, end.level]).toEqual(['ResponseComplete', 101, 'Request']);
    expect(start.auditID).toBe(end.auditID);
  });

  it('no operation at all is ResponseComplete', () => {
    const entry = synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list');
    delete entry.operation;
    expect(event(entry).stage).toBe('ResponseComplete');
  });

  const grpc: [number, number][] = [[1, 499], [2, 500], [3, 400], [4, 504], [5, 404], [6, 409], [7, 403], [8, 429], [9, 400], [10, 409], [11, 400], [12, 501], [13, 500], [14, 503], [15, 500], [16, 401]];
  for (const [rpc, http] of grpc) {
    it(`gRPC ${rpc} without a Status body is HTTP ${http}`, () => {
      const e = event(synthetic('core/v1/namespaces/a/pods/b', 'io.k8s.core.v1.pods.get', { protoPayload: { status: { code: rpc, message: 'boom' } } }));
      expect(e.responseStatus).toEqual({ metadata: {}, status: 'Failure', message: 'boom', code: http });
    });
  }

  it('prefers the Status body over the lossy gRPC code (409 Conflict logged as ABORTED)', () => {
    const e = event(
      synthetic('core/v1/namespaces/a/configmaps/b', 'io.k8s.core.v1.configmaps.update', {
        protoPayload: { status: { code: 10 }, response: { '@type': 'core.k8s.io/v1.Status', kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409 } },
      }),
    );
    expect(e.responseStatus).toEqual({ metadata: {}, status: 'Failure', reason: 'Conflict', code: 409 });
  });

  it('a 422 Status body survives though gRPC has no code for it', () => {
    const e = event(synthetic('core/v1/namespaces/a/pods/b', 'io.k8s.core.v1.pods.create', { protoPayload: { status: { code: 3 }, response: { kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 } } }));
    expect(e.responseStatus?.code).toBe(422);
  });

  it('OK is 201 for create, 200 otherwise; status {} and {code: 0} are OK', () => {
    expect(event(synthetic('core/v1/namespaces/a/pods', 'io.k8s.core.v1.pods.create')).responseStatus).toEqual({ metadata: {}, code: 201 });
    expect(event(synthetic('core/v1/namespaces/a/pods/b', 'io.k8s.core.v1.pods.update', { protoPayload: { status: { code: 0 } } })).responseStatus?.code).toBe(200);
  });

  it('an entry without authenticationInfo or requestMetadata is still an event', () => {
    const entry = synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list');
    delete entry.protoPayload.authenticationInfo;
    delete entry.protoPayload.requestMetadata;
    const e = event(entry);
    expect(e.user).toEqual({});
    expect(e).not.toHaveProperty('sourceIPs');
    expect(e).not.toHaveProperty('userAgent');
  });

  it('passes the truncated label through and lets resource labels win a clash', () => {
    const e = event(synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { labels: { 'audit.k8s.io/truncated': 'true', cluster_name: 'label-value' } }));
    expect(e.annotations).toEqual({ 'audit.k8s.io/truncated': 'true', cluster_name: 'c1', location: 'l1', project_id: 'p' });
  });

  it('keeps the microseconds and folds nanoseconds and offsets to UTC µs', () => {
    expect(event(synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { timestamp: '2026-09-04T20:41:03.889214987Z' })).stageTimestamp).toBe('2026-09-04T20:41:03.889214Z');
    expect(event(synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { timestamp: '2026-09-04T22:41:03.5+02:00' })).stageTimestamp).toBe('2026-09-04T20:41:03.500000Z');
  });
});

describe('rejects', () => {
  const reasons: [string, unknown, RegExp][] = [
    ['a string', 'hello', /not a LogEntry/],
    ['a GKE control-plane entry', synthetic('projects/p/zones/z/clusters/c', 'google.container.v1.ClusterManager.CreateCluster', { resource: { type: 'gke_cluster', labels: {} } }), /resource.type "gke_cluster"/],
    ['another service', synthetic('x', 'y.z', { protoPayload: { serviceName: 'container.googleapis.com' } }), /serviceName/],
    ['a jsonPayload entry', { insertId: 'a', jsonPayload: { message: 'hi' }, timestamp: '2026-01-01T00:00:00Z' }, /not an audit entry/],
    ['another proto type', synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { protoPayload: { '@type': 'type.googleapis.com/google.appengine.logging.v1.RequestLog' } }), /not an audit entry/],
    ['no insertId', synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { insertId: undefined }), /insertId/],
    ['a bad timestamp', synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { timestamp: 'yesterday' }), /timestamp/],
    ['no methodName', synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list', { protoPayload: { methodName: 42 } }), /methodName/],
    ['an empty resourceName', synthetic('', 'io.k8s.core.v1.pods.list'), /resourceName/],
  ];
  for (const [what, entry, reason] of reasons) {
    it(what, () => {
      const r = normalizeGkeEntry(entry) as Reject;
      expect(isReject(r)).toBe(true);
      expect(r.reason).toMatch(reason);
      expect(r.raw).toBe(entry);
    });
  }
});

describe('convert --from gke records', () => {
  it('reads a gcloud array, JSON lines and a single entry', () => {
    const one = synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list');
    expect(gkeConverter.records([{ value: [one, one], ref: 'input' }]).map((r) => r.ref)).toEqual(['[0]', '[1]']);
    expect(gkeConverter.records([{ value: one, ref: 'line 1' }, { value: one, ref: 'line 2' }]).map((r) => r.ref)).toEqual(['line 1', 'line 2']);
    expect(gkeConverter.records([{ value: one, ref: 'input' }])).toHaveLength(1);
  });

  it('uses --cluster only when the entry has no cluster_name', () => {
    const withCluster = gkeConverter.normalize(synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list'), 'x', { cluster: 'other' }) as AuditEvent;
    expect(withCluster.annotations!.cluster_name).toBe('c1');
    const bare = synthetic('core/v1/pods', 'io.k8s.core.v1.pods.list');
    delete bare.resource;
    expect((gkeConverter.normalize(bare, 'x', { cluster: 'other' }) as AuditEvent).annotations!.cluster_name).toBe('other');
  });
});

describe('property: random and mutated entries', () => {
  const base = fixtures().map((f) => f.entry);
  const paths = ['insertId', 'timestamp', 'operation', 'labels', 'resource', 'protoPayload', 'protoPayload.methodName', 'protoPayload.resourceName', 'protoPayload.status', 'protoPayload.response', 'protoPayload.request', 'protoPayload.authenticationInfo', 'protoPayload.requestMetadata', 'resource.labels'];

  function mutate(entry: Entry, path: string, value: unknown): Entry {
    const copy = structuredClone(entry);
    const keys = path.split('.');
    let target: Entry = copy;
    for (const k of keys.slice(0, -1)) {
      if (typeof target[k] !== 'object' || target[k] === null) return copy;
      target = target[k] as Entry;
    }
    target[keys[keys.length - 1]!] = value;
    return copy;
  }

  it('never throw; each yields a valid Event or a Reject with a reason', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.tuple(fc.constantFrom(...base), fc.constantFrom(...paths), fc.oneof(fc.anything(), fc.string(), fc.constant(undefined))).map(([e, p, v]) => mutate(e, p, v)),
          fc.tuple(fc.constantFrom(...base), fc.array(fc.stringMatching(/^[a-z0-9.:-]{0,12}$/), { maxLength: 9 }), fc.string()).map(([e, segs, m]) =>
            mutate(mutate(e, 'protoPayload.resourceName', segs.join('/')), 'protoPayload.methodName', m),
          ),
        ),
        (entry) => {
          const result = normalizeGkeEntry(entry);
          if (isReject(result)) expect(result.reason.length).toBeGreaterThan(0);
          else expect(validateEvent(result)).toEqual([]);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
