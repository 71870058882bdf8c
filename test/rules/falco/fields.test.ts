// Every field of the table read from events built to exercise it, including the k8saudit plugin's
// quirks (which are Falco's behaviour, and so the rules' expectations).
import { describe, expect, it } from 'vitest';
import { argumentProblem } from '../../../src/rules/falco/compile.js';
import { FIELDS, type FieldValue } from '../../../src/rules/falco/fields.js';

const POD = {
  kind: 'Event',
  auditID: 'pod-1',
  stage: 'ResponseComplete',
  verb: 'create',
  requestURI: '/api/v1/namespaces/prod/pods?fieldManager=kubectl&dryRun=All',
  userAgent: 'kubectl/v1.30.0',
  user: { username: 'alice', groups: ['system:authenticated', 'devs'] },
  impersonatedUser: { username: 'bob' },
  annotations: {
    'authorization.k8s.io/decision': 'allow',
    'authorization.k8s.io/reason': 'RBAC: allowed',
    'authentication.openshift.io/decision': 'allow',
    'authentication.openshift.io/username': 'kube:admin',
    'validation.policy.admission.k8s.io/validation_failure': '[{"message":"denied"}]',
    'pod-security.kubernetes.io/audit-violations': 'would violate PodSecurity "restricted:latest"',
    cluster_name: 'prod-eu',
  },
  objectRef: { resource: 'pods', namespace: 'prod', name: 'web-1' },
  responseStatus: { code: 201, reason: 'Created' },
  responseObject: { metadata: { name: 'web-1' } },
  stageTimestamp: '2025-02-10T09:15:57.508657Z',
  requestObject: {
    spec: {
      hostIPC: false,
      hostNetwork: true,
      hostPID: false,
      runAsUser: 1000,
      securityContext: { runAsUser: 1001, runAsGroup: 2000, fsGroup: 3000, supplementalGroups: [4000, 4001] },
      containers: [
        {
          name: 'web',
          image: 'nginx:1.25',
          command: ['nginx', '-g'],
          args: ['daemon off;'],
          runAsUser: 7,
          securityContext: { privileged: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsUser: 1, runAsGroup: 2, procMount: 'Default', capabilities: { add: ['NET_ADMIN', 'SYS_TIME'] } },
          ports: [{ containerPort: 80 }, { containerPort: 443, hostPort: 8443 }],
        },
        { name: 'side', image: 'registry.local:5000/team/side@sha256:ab12' },
      ],
      initContainers: [{ name: 'init', image: 'busybox', securityContext: { privileged: false } }],
      ephemeralContainers: [{ name: 'debug', image: 'busybox:1.36', runAsGroup: 9, securityContext: { privileged: true } }],
      volumes: [
        { name: 'etc', hostPath: { path: '/etc', type: '' } },
        { name: 'cfg', configMap: { name: 'c' } },
        { name: 'flex', flexVolume: { driver: 'vendor/driver' } },
      ],
    },
  },
};

const BINDING = {
  auditID: 'crb-1',
  objectRef: { resource: 'clusterrolebindings', name: 'ops' },
  requestObject: {
    subjects: [
      { kind: 'User', name: 'alice' },
      { kind: 'Group', name: 'ops' },
      { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci' },
    ],
    roleRef: { name: 'cluster-admin' },
  },
};

const ROLE = {
  auditID: 'cr-1',
  requestObject: {
    rules: [
      { apiGroups: [''], resources: ['pods', 'pods/exec'], verbs: ['get', 'create'] },
      { nonResourceURLs: ['/healthz'], verbs: ['get'] },
    ],
  },
};

const SERVICE = { auditID: 's-1', requestObject: { spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] } } };
const CONFIGMAP = { auditID: 'cm-1', objectRef: { resource: 'configmaps', name: 'settings' }, requestObject: { data: { password: 'hunter2' } } };
const EXEC = { auditID: 'e-1', objectRef: { resource: 'pods', subresource: 'exec', name: 'web-1' }, responseObject: { metadata: { name: 'web-1' } } };

const CASES: [string, unknown, FieldValue | undefined][] = [
  ['ka.auditid', POD, 'pod-1'],
  ['ka.stage', POD, 'ResponseComplete'],
  ['ka.auth.decision', POD, 'allow'],
  ['ka.auth.reason', POD, 'RBAC: allowed'],
  ['ka.auth.openshift.decision', POD, 'allow'],
  ['ka.auth.openshift.username', POD, 'kube:admin'],
  ['ka.validations.admission.policy.failure', POD, '[{"message":"denied"}]'],
  ['ka.security.pod.violations', POD, 'would violate PodSecurity "restricted:latest"'],
  ['ka.cluster.name', POD, 'prod-eu'],
  ['ka.user.name', POD, 'alice'],
  ['ka.user.groups', POD, ['system:authenticated', 'devs']],
  ['ka.impuser.name', POD, 'bob'],
  ['ka.verb', POD, 'create'],
  ['ka.uri', POD, '/api/v1/namespaces/prod/pods?fieldManager=kubectl&dryRun=All'],
  ['ka.uri.param[dryRun]', POD, 'All'],
  ['ka.useragent', POD, 'kubectl/v1.30.0'],
  // The plugin reads source IPs from the request object's rules (an upstream bug): nothing here.
  ['ka.sourceips', { ...POD, sourceIPs: ['10.0.0.1'] }, undefined],
  ['ka.sourceips', { auditID: 'x', requestObject: { rules: [{ sourceIPs: ['10.0.0.1'] }] } }, ['10.0.0.1']],
  ['ka.target.name', POD, 'web-1'],
  ['ka.target.namespace', POD, 'prod'],
  ['ka.target.resource', POD, 'pods'],
  ['ka.target.subresource', POD, undefined],
  ['ka.target.subresource', EXEC, 'exec'],
  ['ka.target.pod.name', POD, 'web-1'],
  ['ka.target.pod.name', EXEC, undefined],
  ['ka.req.binding.subjects', BINDING, ['{"kind":"User","name":"alice"}', '{"kind":"Group","name":"ops"}', '{"kind":"ServiceAccount","name":"deployer","namespace":"ci"}']],
  ['ka.req.binding.subjects.user_names', BINDING, ['alice']],
  ['ka.req.binding.subjects.group_names', BINDING, ['ops']],
  ['ka.req.binding.subjects.serviceaccount_names', BINDING, ['deployer']],
  ['ka.req.binding.subjects.serviceaccount_ns_names', BINDING, ['ci:deployer']],
  ['ka.req.binding.subjects.user_names', POD, undefined],
  ['ka.req.binding.role', BINDING, 'cluster-admin'],
  ['ka.req.binding.subject.has_name[anyone]', BINDING, 'true'],
  ['ka.req.configmap.name', CONFIGMAP, 'settings'],
  ['ka.req.configmap.obj', CONFIGMAP, '{"password":"hunter2"}'],
  ['ka.req.pod.host_ipc', POD, 'false'],
  ['ka.req.pod.host_network', POD, 'true'],
  ['ka.req.pod.host_pid', POD, 'false'],
  ['ka.req.pod.run_as_user', POD, '1001'],
  ['ka.req.pod.run_as_group', POD, '2000'],
  ['ka.req.pod.fs_group', POD, '3000'],
  ['ka.req.pod.supplemental_groups', POD, ['4000', '4001']],
  ['ka.req.pod.volumes.hostpath', POD, ['/etc']],
  ['ka.req.pod.volumes.hostpath[1]', POD, undefined],
  ['ka.req.pod.volumes.flexvolume_driver', POD, ['vendor/driver']],
  ['ka.req.pod.volumes.volume_type', POD, ['hostPath', 'configMap', 'flexVolume']],
  ['ka.req.pod.containers.name', POD, ['web', 'side']],
  ['ka.req.pod.containers.image', POD, ['nginx:1.25', 'registry.local:5000/team/side@sha256:ab12']],
  ['ka.req.pod.containers.image[1]', POD, ['registry.local:5000/team/side@sha256:ab12']],
  ['ka.req.pod.containers.image[2]', POD, undefined],
  // The repository is the image up to its first ":" (a registry port cuts it short, as upstream does).
  ['ka.req.pod.containers.image.repository', POD, ['nginx', 'registry.local']],
  ['ka.req.pod.containers.command', POD, ['["nginx","-g"]']],
  ['ka.req.pod.containers.args', POD, ['["daemon off;"]']],
  ['ka.req.pod.containers.privileged', POD, ['true']],
  ['ka.req.pod.containers.privileged[1]', POD, undefined],
  ['ka.req.pod.containers.allow_privilege_escalation', POD, ['false']],
  ['ka.req.pod.containers.read_only_fs', POD, ['true']],
  ['ka.req.pod.containers.run_as_user', POD, ['1']],
  ['ka.req.pod.containers.run_as_group', POD, ['2']],
  ['ka.req.pod.containers.proc_mount', POD, ['Default']],
  ['ka.req.pod.containers.add_capabilities', POD, ['["NET_ADMIN","SYS_TIME"]']],
  // The plugin's "effective" ids read runAsUser directly under the container and the pod spec.
  ['ka.req.pod.containers.eff_run_as_user', POD, ['7', '1000']],
  ['ka.req.pod.containers.eff_run_as_group', POD, ['0', '0']],
  ['ka.req.pod.containers.host_port', POD, ['80', '8443']],
  ['ka.req.pod.initContainers.name', POD, ['init']],
  ['ka.req.pod.initContainers.image', POD, ['busybox']],
  ['ka.req.pod.initContainers.image.repository', POD, ['busybox']],
  ['ka.req.pod.initContainers.command', POD, undefined],
  ['ka.req.pod.initContainers.args', POD, undefined],
  ['ka.req.pod.initContainers.privileged', POD, ['false']],
  ['ka.req.pod.initContainers.allow_privilege_escalation', POD, undefined],
  ['ka.req.pod.initContainers.read_only_fs', POD, undefined],
  ['ka.req.pod.initContainers.run_as_user', POD, undefined],
  ['ka.req.pod.initContainers.run_as_group', POD, undefined],
  ['ka.req.pod.initContainers.proc_mount', POD, undefined],
  ['ka.req.pod.initContainers.add_capabilities', POD, undefined],
  ['ka.req.pod.initContainers.eff_run_as_user', POD, ['1000']],
  ['ka.req.pod.initContainers.eff_run_as_group', POD, ['0']],
  ['ka.req.pod.initContainers.host_port', POD, undefined],
  ['ka.req.pod.ephemeralContainers.name', POD, ['debug']],
  ['ka.req.pod.ephemeralContainers.image', POD, ['busybox:1.36']],
  ['ka.req.pod.ephemeralContainers.image.repository', POD, ['busybox']],
  ['ka.req.pod.ephemeralContainers.command', POD, undefined],
  ['ka.req.pod.ephemeralContainers.args', POD, undefined],
  ['ka.req.pod.ephemeralContainers.privileged', POD, ['true']],
  ['ka.req.pod.ephemeralContainers.allow_privilege_escalation', POD, undefined],
  ['ka.req.pod.ephemeralContainers.read_only_fs', POD, undefined],
  ['ka.req.pod.ephemeralContainers.run_as_user', POD, undefined],
  ['ka.req.pod.ephemeralContainers.run_as_group', POD, undefined],
  ['ka.req.pod.ephemeralContainers.proc_mount', POD, undefined],
  ['ka.req.pod.ephemeralContainers.add_capabilities', POD, undefined],
  ['ka.req.pod.ephemeralContainers.eff_run_as_user', POD, ['1000']],
  ['ka.req.pod.ephemeralContainers.eff_run_as_group', POD, ['9']],
  ['ka.req.pod.ephemeralContainers.host_port', POD, undefined],
  ['ka.req.container.image', POD, 'nginx:1.25'],
  ['ka.req.container.image.repository', POD, 'nginx'],
  ['ka.req.container.privileged', POD, 'true'],
  ['ka.req.container.privileged', { auditID: 'x', requestObject: { spec: { containers: [{ name: 'a' }] } } }, 'false'],
  ['ka.req.container.host_network', POD, 'true'],
  ['ka.req.volume.hostpath[/etc]', POD, 'true'],
  ['ka.req.volume.hostpath[/et*]', POD, 'true'],
  ['ka.req.volume.hostpath[/et]', POD, 'false'],
  ['ka.req.role.rules', ROLE, ['{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]}', '{"nonResourceURLs":["/healthz"],"verbs":["get"]}']],
  ['ka.req.role.rules.apiGroups', ROLE, ['']],
  ['ka.req.role.rules.nonResourceURLs', ROLE, ['/healthz']],
  ['ka.req.role.rules.verbs', ROLE, ['get', 'create', 'get']],
  ['ka.req.role.rules.verbs[1]', ROLE, ['get']],
  ['ka.req.role.rules.resources', ROLE, ['pods', 'pods/exec']],
  ['ka.req.service.type', SERVICE, 'NodePort'],
  // The whole ports array is one value (the walk ends on it).
  ['ka.req.service.ports', SERVICE, ['[{"port":80,"nodePort":30080}]']],
  ['ka.resp.name', POD, 'web-1'],
  ['ka.response.code', POD, '201'],
  ['ka.response.reason', POD, 'Created'],
  ['json.value[/objectRef/resource]', POD, 'pods'],
  ['jevt.value[/requestObject/spec/containers/1/name]', POD, 'side'],
  ['jevt.value[/annotations/authorization.k8s.io~1decision]', POD, 'allow'],
  ['jevt.value[/responseStatus]', POD, '{"code":201,"reason":"Created"}'],
  ['jevt.value[/nope]', POD, undefined],
  ['jevt.value[/a~0b]', { 'a~b': 1 }, '1'],
  ['json.obj', { a: [1] }, '{\n  "a": [\n    1\n  ]\n}'],
  ['jevt.obj', { a: 'b' }, '{\n  "a": "b"\n}'],
  ['json.rawtime', POD, '1739178957508657000'],
  ['jevt.rawtime', POD, '1739178957508657000'],
  ['jevt.rawtime', { stageTimestamp: '2025-02-10T10:15:57.1+01:00' }, '1739178957100000000'],
  ['jevt.rawtime', { stageTimestamp: 'yesterday' }, undefined],
  ['evt.time', POD, '09:15:57.508657000'],
  ['evt.time.iso8601', POD, '2025-02-10T09:15:57.508657000Z'],
  ['evt.rawtime', POD, 1739178957508657000n],
  ['evt.source', POD, 'k8s_audit'],
];

function read(label: string, event: unknown): FieldValue | undefined {
  const m = /^([^[]+)(?:\[(.*)\])?$/.exec(label)!;
  const def = FIELDS.get(m[1]!)!;
  expect(def, label).toBeDefined();
  expect(argumentProblem(def, m[2])).toBeUndefined();
  return def.extractor(m[2])(event);
}

describe('the field table', () => {
  it.each(CASES.map(([label, event, expected], i) => [i, label, event, expected] as const))('#%i %s', (_i, label, event, expected) => {
    expect(read(label, event)).toEqual(expected);
  });

  it('every field is exercised above', () => {
    const covered = new Set(CASES.map(([label]) => label.replace(/\[.*$/, '')));
    expect([...FIELDS.keys()].filter((name) => !covered.has(name))).toEqual([]);
  });

  it('list fields are lists and take only an index; the rest are scalars', () => {
    for (const def of FIELDS.values()) {
      if (def.arg === 'index') expect(def.list, def.name).toBe(true);
    }
    expect([...FIELDS.values()].filter((d) => d.list).length).toBeGreaterThan(40);
  });

  it('ka.* fields read nothing without an auditID; an empty container list is a missing list', () => {
    const { auditID: _, ...noId } = POD;
    expect(read('ka.verb', noId)).toBeUndefined();
    expect(read('ka.req.pod.containers.image', noId)).toBeUndefined();
    expect(read('jevt.value[/verb]', noId)).toBe('create');
    expect(read('ka.req.pod.containers.image', { auditID: 'x', requestObject: { spec: { containers: [] } } })).toBeUndefined();
    // A container without an image fails the whole list, as in the plugin.
    expect(read('ka.req.pod.containers.image', { auditID: 'x', requestObject: { spec: { containers: [{ image: 'a' }, { name: 'b' }] } } })).toBeUndefined();
  });

  it('a query that Go would refuse to decode yields no parameter', () => {
    expect(read('ka.uri.param[a]', { auditID: 'x', requestURI: '/p?a=1;b=2' })).toBeUndefined();
    expect(read('ka.uri.param[a]', { auditID: 'x', requestURI: '/p?a=%zz' })).toBeUndefined();
    expect(read('ka.uri.param[a]', { auditID: 'x', requestURI: '/p?a=1&a=2#frag' })).toBe('1');
  });
});
