import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asTopLevelEvent, validateEvent, type AuditEvent } from '../../src/event/event.js';
import { applyPolicy, attributesOf, evaluatePolicy, loadPolicyFile, parsePolicy, withoutManagedFields, type CompiledPolicy } from '../../src/process/policy.js';
import { makeEvent, SAMPLES } from '../helpers/events.js';

function traceEvents(): Map<string, AuditEvent> {
  const dir = `${SAMPLES}k8s-events/falco-trace-files/`;
  const out = new Map<string, AuditEvent>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const lines = readFileSync(dir + file, 'utf8').split('\n').filter((l) => l.trim() !== '');
    lines.forEach((line, i) => {
      // Some are v1beta1 (brought to v1); fal_01_003.json is a deliberately broken record ({"kind": 0}).
      const event = asTopLevelEvent(JSON.parse(line) as Record<string, unknown>);
      if (validateEvent(event).length === 0) out.set(lines.length === 1 ? file : `${file}#${i}`, event);
    });
  }
  return out;
}

function policy(yaml: string): CompiledPolicy {
  const loaded = parsePolicy(yaml);
  expect(loaded.problems).toEqual([]);
  return loaded.policy!;
}

const header = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

describe('loading a policy', () => {
  it("loads Falco's published audit policy unchanged, without warnings", () => {
    const loaded = loadPolicyFile(`${SAMPLES}falco-rules/k8saudit-audit-policy.yaml`);
    expect(loaded.problems).toEqual([]);
    expect(loaded.warnings).toEqual([]);
    expect(loaded.policy!.rules).toHaveLength(11);
    expect(loaded.policy!.omitStages).toEqual(['RequestReceived']);
  });

  it('reports every problem of a policy at once, each with its rule index, field and line', () => {
    const loaded = parsePolicy(`${header}omitStages: [RequestReceived, Done]
rules:
  - level: Metadata
  - verbs: [get]
  - level: Everything
    omitStages: [Later]
  - level: Request
    nonResourceURLs: ["/logs/*.log", "healthz"]
    namespaces: [default]
  - level: None
    resources:
      - group: rbac.authorization.k8s.io/v1
        resourceNames: [leader]
  - level: Metadata
    users: bob
    omitManagedFields: "yes"
`);
    expect(loaded.policy).toBeUndefined();
    expect(loaded.problems).toEqual([
      'omitStages[1]: got "Done"; expected a stage: RequestReceived, ResponseStarted, ResponseComplete, Panic (line 3)',
      'rules[1].level: got nothing; expected a level: None, Metadata, Request or RequestResponse (required) (line 6)',
      'rules[2].level: got "Everything"; expected one of None, Metadata, Request, RequestResponse (line 7)',
      'rules[2].omitStages[0]: got "Later"; expected a stage: RequestReceived, ResponseStarted, ResponseComplete, Panic (line 8)',
      'rules[3].nonResourceURLs[0]: got "/logs/*.log"; expected a path with "*" only as its final character (line 10)',
      'rules[3].nonResourceURLs[1]: got "healthz"; expected a path beginning with "/" (or "*") (line 10)',
      'rules[3].nonResourceURLs: got a list of 2; expected no nonResourceURLs in a rule that has namespaces (a rule applies to resource requests or to non-resource URLs, not both) (line 10)',
      'rules[4].resources[0].group: got "rbac.authorization.k8s.io/v1"; expected "" (the core group), "*" or an API group name (a DNS subdomain, without the version: rbac.authorization.k8s.io) (line 14)',
      'rules[4].resources[0].resourceNames: got a list of 1; expected resourceNames only together with at least one resource (line 15)',
      'rules[5].users: got "bob"; expected a list of strings (line 17)',
      'rules[5].omitManagedFields: got "yes"; expected true or false (line 18)',
    ]);
  });

  it('wants apiVersion audit.k8s.io/v1, kind Policy and at least one rule, as kube-apiserver does', () => {
    expect(parsePolicy('apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: []\n').problems).toEqual([
      'apiVersion: got "audit.k8s.io/v1beta1"; expected "audit.k8s.io/v1" (the only audit API version left since Kubernetes 1.24) (line 1)',
      'rules: an empty list; a policy needs at least one rule (kube-apiserver refuses a policy with 0 rules) (line 3)',
    ]);
    expect(parsePolicy('').problems).toEqual(['(top level): an empty document; expected a Policy mapping with apiVersion: audit.k8s.io/v1, kind: Policy and rules']);
    expect(parsePolicy('apiVersion: audit.k8s.io/v1\nrules:\n  - level: None\n').problems).toEqual(['kind: got nothing; expected "Policy"']);
    expect(parsePolicy('rules: [level: None\n').problems[0]).toMatch(/^line \d+, column \d+: /);
  });

  it('ignores unknown fields with a warning, as the lenient decoder does', () => {
    const loaded = parsePolicy(`${header}metadata: {name: p}\nspec: {}\nrules:\n  - level: None\n    verb: [get]\n    resources: [{group: "", resource: [pods]}]\n`);
    expect(loaded.problems).toEqual([]);
    expect(loaded.warnings).toEqual(['spec: unknown field, ignored (line 4)', 'rules[0].verb: unknown field, ignored (line 7)', 'rules[0].resources[0].resource: unknown field, ignored (line 8)']);
  });
});

describe('request attributes from an event', () => {
  it('takes the name from the URL, not from objectRef (a create has none)', () => {
    const create = makeEvent(1, { verb: 'create', requestURI: '/api/v1/namespaces/default/pods', objectRef: { resource: 'pods', namespace: 'default', name: 'web', apiVersion: 'v1' } });
    expect(attributesOf(create).name).toBe('');
    const exec = makeEvent(2, {
      verb: 'create',
      requestURI: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true',
      objectRef: { resource: 'pods', subresource: 'exec', namespace: 'default', name: 'web', apiVersion: 'v1' },
    });
    expect(attributesOf(exec)).toMatchObject({ name: 'web', resource: 'pods', subresource: 'exec', namespace: 'default', path: '/api/v1/namespaces/default/pods/web/exec' });
    const namespace = makeEvent(3, { verb: 'update', requestURI: '/api/v1/namespaces/team-a/finalize', objectRef: { resource: 'namespaces', subresource: 'finalize', namespace: 'team-a', name: 'team-a', apiVersion: 'v1' } });
    expect(attributesOf(namespace).name).toBe('team-a');
    const lease = makeEvent(4, {
      verb: 'update',
      requestURI: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1?timeout=10s',
      objectRef: { resource: 'leases', namespace: 'kube-node-lease', name: 'node-1', apiGroup: 'coordination.k8s.io', apiVersion: 'v1' },
    });
    expect(attributesOf(lease)).toMatchObject({ name: 'node-1', apiGroup: 'coordination.k8s.io' });
    const watchOne = makeEvent(5, { verb: 'watch', requestURI: '/api/v1/namespaces/kube-system/configmaps?fieldSelector=metadata.name%3Dcluster-config&watch=true', objectRef: { resource: 'configmaps', namespace: 'kube-system', apiVersion: 'v1' } });
    expect(attributesOf(watchOne).name).toBe('cluster-config');
  });

  it('evaluates the authenticated user, not the impersonated one; user {} is unauthenticated', () => {
    const impersonating = makeEvent(1, { user: { username: 'admin', groups: ['system:masters'] }, impersonatedUser: { username: 'bob' } });
    expect(attributesOf(impersonating).user).toEqual({ name: 'admin', groups: ['system:masters'] });
    expect(attributesOf(makeEvent(2, { user: {} })).user).toBeUndefined();
    const nonResource = makeEvent(3, { requestURI: '/healthz?verbose', objectRef: undefined });
    expect(attributesOf(nonResource)).toMatchObject({ resourceRequest: false, path: '/healthz' });
  });
});

describe('applying a policy to real events', () => {
  const events = traceEvents();
  const falco = loadPolicyFile(`${SAMPLES}falco-rules/k8saudit-audit-policy.yaml`).policy!;

  it("keeps Falco's rules' view: pods and configmaps at RequestResponse, secrets at Metadata", () => {
    const pod = events.get('create_nginx_pod_privileged.json')!;
    const kept = applyPolicy(falco, pod);
    expect(kept).toEqual({ kind: 'kept', event: pod });

    const secret = applyPolicy(falco, { ...events.get('create_configmap_sensitive_values.json')!, objectRef: { resource: 'secrets', namespace: 'default', apiVersion: 'v1' } });
    expect(secret.kind).toBe('kept');
    if (secret.kind !== 'kept') return;
    expect(secret.event.level).toBe('Metadata');
    expect(secret.event).not.toHaveProperty('requestObject');
    expect(secret.event).not.toHaveProperty('responseObject');
  });

  it('strips bodies to the level: Metadata none, Request only the request, RequestResponse both', () => {
    const pod = events.get('create_nginx_pod_privileged.json')!;
    expect(pod.requestObject).toBeDefined();
    expect(pod.responseObject).toBeDefined();
    const at = (level: string): AuditEvent | undefined => {
      const outcome = applyPolicy(policy(`${header}rules:\n  - level: ${level}\n`), pod);
      return outcome.kind === 'kept' ? outcome.event : undefined;
    };
    expect(at('None')).toBeUndefined();
    const metadata = at('Metadata')!;
    expect(metadata.level).toBe('Metadata');
    expect(Object.keys(metadata)).toEqual(Object.keys(pod).filter((k) => k !== 'requestObject' && k !== 'responseObject'));
    const request = at('Request')!;
    expect(request.level).toBe('Request');
    expect(request.requestObject).toEqual(pod.requestObject);
    expect(request).not.toHaveProperty('responseObject');
    expect(at('RequestResponse')).toBe(pod);
    // The input is left as it was.
    expect(pod.level).toBe('RequestResponse');
    expect(pod.responseObject).toBeDefined();
  });

  it('never adds: a Metadata event stays Metadata under a RequestResponse rule', () => {
    const secret = events.get('create_secret.json')!;
    expect(secret.level).toBe('Metadata');
    const outcome = applyPolicy(policy(`${header}rules:\n  - level: RequestResponse\n`), secret);
    expect(outcome).toEqual({ kind: 'kept', event: secret });
  });

  it('drops the stages the policy and the matching rule omit, and level None events', () => {
    const p = policy(`${header}omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: "", resources: [configmaps], resourceNames: [my-config]}]
  - level: Metadata
    verbs: [watch]
    omitStages: [ResponseStarted]
  - level: Metadata
`);
    const base = makeEvent(1);
    expect(applyPolicy(p, { ...base, stage: 'RequestReceived' })).toEqual({ kind: 'dropped', reason: 'stage' });
    expect(applyPolicy(p, { ...base, verb: 'watch', stage: 'ResponseStarted' })).toEqual({ kind: 'dropped', reason: 'stage' });
    expect(applyPolicy(p, { ...base, verb: 'watch', stage: 'ResponseComplete' }).kind).toBe('kept');
    expect(applyPolicy(p, { ...base, verb: 'get', stage: 'ResponseStarted' }).kind).toBe('kept');
    const named = { ...base, requestURI: '/api/v1/namespaces/default/configmaps/my-config', objectRef: { resource: 'configmaps', namespace: 'default', name: 'my-config', apiVersion: 'v1' } };
    expect(applyPolicy(p, named)).toEqual({ kind: 'dropped', reason: 'level' });
    // A create carries the name in objectRef only: the server saw no name, so resourceNames do not match.
    expect(applyPolicy(p, { ...named, verb: 'create', requestURI: '/api/v1/namespaces/default/configmaps' }).kind).toBe('kept');
  });

  it('drops lease heartbeats with a rule on the lease resource', () => {
    const p = policy(`${header}rules:
  - level: None
    verbs: [get, update]
    resources: [{group: coordination.k8s.io, resources: [leases]}]
    namespaces: [kube-node-lease, kube-system]
  - level: Metadata
`);
    const lease = makeEvent(1, {
      verb: 'update',
      requestURI: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1',
      objectRef: { resource: 'leases', namespace: 'kube-node-lease', name: 'node-1', apiGroup: 'coordination.k8s.io', apiVersion: 'v1' },
    });
    expect(applyPolicy(p, lease)).toEqual({ kind: 'dropped', reason: 'level' });
    expect(applyPolicy(p, { ...lease, objectRef: { ...lease.objectRef, namespace: 'default' } }).kind).toBe('kept');
  });

  it('omitManagedFields strips metadata.managedFields from bodies and list items, not from a patch document', () => {
    const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:data': {} } }];
    const object = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'a', managedFields }, data: { k: 'v' } };
    const list = { kind: 'ConfigMapList', apiVersion: 'v1', metadata: {}, items: [object, { ...object, metadata: { name: 'b' } }] };
    const p = policy(`${header}omitManagedFields: true\nrules:\n  - level: RequestResponse\n`);
    const update = makeEvent(1, { level: 'RequestResponse', verb: 'update', requestObject: object, responseObject: list });
    const outcome = applyPolicy(p, update);
    expect(outcome.kind).toBe('kept');
    if (outcome.kind !== 'kept') return;
    expect(outcome.event.requestObject).toEqual({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'a' }, data: { k: 'v' } });
    expect((outcome.event.responseObject as typeof list).items.map((i) => i.metadata)).toEqual([{ name: 'a' }, { name: 'b' }]);
    expect(object.metadata.managedFields).toBe(managedFields);

    const patch = applyPolicy(p, { ...update, verb: 'patch' });
    expect(patch.kind === 'kept' && patch.event.requestObject).toBe(object);
    expect(withoutManagedFields('text')).toBe('text');
  });

  it("applies Falco's policy to every sample event without raising a level", () => {
    const rank = { Metadata: 1, Request: 2, RequestResponse: 3 };
    let kept = 0;
    for (const [name, event] of events) {
      const outcome = applyPolicy(falco, event);
      if (outcome.kind === 'dropped') {
        // Each drop has its cause: an omitted stage, or a rule (or no rule) giving level None.
        const decision = evaluatePolicy(falco, attributesOf(event));
        if (outcome.reason === 'stage') expect(decision.omitStages.has(event.stage), name).toBe(true);
        else expect(decision.level, name).toBe('None');
        continue;
      }
      kept++;
      expect(rank[outcome.event.level], name).toBeLessThanOrEqual(rank[event.level]);
      if (outcome.event.requestObject !== undefined) expect(event.requestObject, name).toBeDefined();
      if (outcome.event.responseObject !== undefined) expect(event.responseObject, name).toBeDefined();
    }
    expect(kept).toBeGreaterThan(20);
  });
});

describe('the shipped config/audit-policy.yaml', () => {
  const shipped = loadPolicyFile(`${SAMPLES}../config/audit-policy.yaml`);

  it('loads without problems or warnings', () => {
    expect(shipped.problems).toEqual([]);
    expect(shipped.warnings).toEqual([]);
  });

  it('drops lease heartbeats and probes, keeps Secret metadata only and write bodies without managedFields', () => {
    const policy = shipped.policy!;
    const lease = makeEvent(1, {
      verb: 'update',
      requestURI: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1',
      objectRef: { resource: 'leases', namespace: 'kube-node-lease', name: 'node-1', apiGroup: 'coordination.k8s.io', apiVersion: 'v1' },
    });
    expect(applyPolicy(policy, lease).kind).toBe('dropped');
    expect(applyPolicy(policy, makeEvent(2, { requestURI: '/readyz?verbose', objectRef: undefined })).kind).toBe('dropped');
    const secretGet = makeEvent(3, { level: 'RequestResponse', requestURI: '/api/v1/namespaces/default/secrets/db', objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' }, responseObject: { data: { a: 'b' } } });
    const secret = applyPolicy(policy, secretGet);
    expect(secret.kind === 'kept' && secret.event.responseObject).toBe(undefined);
    const pod = { kind: 'Pod', metadata: { name: 'web', managedFields: [{ manager: 'kubectl' }] }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };
    const create = makeEvent(4, { level: 'RequestResponse', verb: 'create', requestURI: '/api/v1/namespaces/default/pods', objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' }, requestObject: pod, responseObject: pod });
    const kept = applyPolicy(policy, create);
    expect(kept.kind === 'kept' && kept.event.level).toBe('RequestResponse');
    expect(kept.kind === 'kept' && kept.event.responseObject).toEqual({ kind: 'Pod', metadata: { name: 'web' }, spec: pod.spec });
    expect(applyPolicy(policy, { ...create, stage: 'RequestReceived' })).toEqual({ kind: 'dropped', reason: 'stage' });
  });
});
