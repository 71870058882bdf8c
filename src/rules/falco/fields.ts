// Every field a Falco k8s_audit rule can use here: the k8saudit plugin's `ka.*` (plugin 0.18),
// the json plugin's `json.*` / `jevt.*`, and the few `evt.*` fields Falco has for any plugin event.
// Each entry says its type, whether it is a list (list fields take only exists, in and
// intersects), what argument it takes, and how to read it from an event.
import { keysReader } from './access.js';
import { pointerKeys, textOf } from './json.js';
import * as ka from './k8saudit.js';
import { eventNanos, hasEventTime, isoNanoTime } from './time.js';

/** A field's value on one event: text, a non-empty list of texts, or a number (uint64 fields). */
export type FieldValue = string | readonly string[] | bigint;
export type Extractor = (event: unknown) => FieldValue | undefined;

export interface FieldDef {
  readonly name: string;
  readonly type: 'string' | 'uint64';
  readonly list: boolean;
  /** none: no argument; required: a key, path or pointer (`[command]`); index: an optional array index (`[0]`). */
  readonly arg: 'none' | 'required' | 'index';
  readonly description: string;
  /** Reading it does more than follow a few keys (it builds a list or renders JSON): computed once per evaluation. */
  readonly costly: boolean;
  /** The reader for one use of the field, its argument already checked. */
  readonly extractor: (arg: string | undefined) => Extractor;
  /** A cheaper test of `exists` than reading the value, where there is one. */
  readonly exists?: (event: unknown) => boolean;
}

type Event = ka.Event;

/** ka.* fields read nothing from an event without an auditID (the plugin's rule). */
function auditEvent(read: (e: Event) => FieldValue | undefined): Extractor {
  return (event) => {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return undefined;
    const e = event as Event;
    return e.auditID === undefined ? undefined : read(e);
  };
}

/** The common case, a value at fixed keys: the auditID check and the lookup inlined, a few property loads. */
function keysField(keys: readonly string[]): Extractor {
  const read = keysReader(keys);
  return (event) => {
    // An array has no auditID, so it needs no check of its own.
    if (typeof event !== 'object' || event === null || (event as Event).auditID === undefined) return undefined;
    const v = read(event);
    return typeof v === 'string' ? v : textOf(v);
  };
}

const defs: FieldDef[] = [];

function field(
  name: string,
  description: string,
  extractor: (arg: string | undefined) => Extractor,
  options: { list?: boolean; arg?: FieldDef['arg']; costly?: boolean; type?: FieldDef['type']; exists?: (event: unknown) => boolean } = {},
): void {
  const list = options.list ?? false;
  defs.push({ name, description, extractor, type: options.type ?? 'string', list, arg: options.arg ?? 'none', costly: options.costly ?? list, ...(options.exists ? { exists: options.exists } : {}) });
}

function scalar(name: string, description: string, keys: readonly string[]): void {
  field(name, description, () => keysField(keys));
}

const index = (arg: string | undefined): number | undefined => (arg === undefined ? undefined : Number(arg));
const ANNOTATIONS = 'annotations';

// --- the request -------------------------------------------------------------------------------
scalar('ka.auditid', 'the audit event id', ['auditID']);
scalar('ka.stage', 'the stage (RequestReceived, ResponseStarted, ResponseComplete, Panic)', ['stage']);
scalar('ka.auth.decision', 'the authorization decision (annotation authorization.k8s.io/decision)', [ANNOTATIONS, 'authorization.k8s.io/decision']);
scalar('ka.auth.reason', 'the authorization reason (annotation authorization.k8s.io/reason)', [ANNOTATIONS, 'authorization.k8s.io/reason']);
scalar('ka.auth.openshift.decision', "OpenShift's authentication decision (annotation authentication.openshift.io/decision)", [ANNOTATIONS, 'authentication.openshift.io/decision']);
scalar('ka.auth.openshift.username', "the user OpenShift's authentication named (annotation authentication.openshift.io/username)", [ANNOTATIONS, 'authentication.openshift.io/username']);
scalar('ka.validations.admission.policy.failure', 'a ValidatingAdmissionPolicy failure (annotation validation.policy.admission.k8s.io/validation_failure)', [ANNOTATIONS, 'validation.policy.admission.k8s.io/validation_failure']);
scalar('ka.security.pod.violations', 'Pod Security audit violations (annotation pod-security.kubernetes.io/audit-violations)', [ANNOTATIONS, 'pod-security.kubernetes.io/audit-violations']);
scalar('ka.cluster.name', 'the cluster name (annotation cluster_name)', [ANNOTATIONS, 'cluster_name']);
scalar('ka.user.name', 'the user making the request', ['user', 'username']);
field('ka.user.groups', "the user's groups", () => auditEvent((e) => ka.listAt(e, ['user', 'groups'])), { list: true });
scalar('ka.impuser.name', 'the impersonated user', ['impersonatedUser', 'username']);
scalar('ka.verb', 'the verb', ['verb']);
scalar('ka.uri', 'the request URI', ['requestURI']);
field('ka.uri.param', 'the first value of a query parameter of the URI: ka.uri.param[command]', (arg) => auditEvent((e) => ka.uriParam(e, arg!)), { arg: 'required', costly: true });
scalar('ka.useragent', 'the user agent', ['userAgent']);
// The plugin reads the source IPs from the request object's rules, not from sourceIPs: kept as the plugin has it.
field('ka.sourceips', "the plugin's source IPs (read from requestObject.rules[*].sourceIPs, as the plugin reads them)", (arg) => auditEvent((e) => ka.roleRuleValues(e, index(arg), 'sourceIPs')), { list: true, arg: 'index' });

// --- the target ------------------------------------------------------------------------------
scalar('ka.target.name', 'the target object name', ['objectRef', 'name']);
scalar('ka.target.namespace', 'the target object namespace', ['objectRef', 'namespace']);
scalar('ka.target.resource', 'the target resource', ['objectRef', 'resource']);
scalar('ka.target.subresource', 'the target subresource', ['objectRef', 'subresource']);
field('ka.target.pod.name', 'the pod name, for a request on a pod itself', () => auditEvent(ka.targetPodName));

// --- role bindings ---------------------------------------------------------------------------
field('ka.req.binding.subjects', "the binding's subjects, each as JSON", () => auditEvent((e) => ka.listAt(e, ['requestObject', 'subjects'])), { list: true });
field('ka.req.binding.subjects.user_names', "the binding's User subjects", () => auditEvent((e) => ka.subjectNames(e, 'User')), { list: true });
field('ka.req.binding.subjects.group_names', "the binding's Group subjects", () => auditEvent((e) => ka.subjectNames(e, 'Group')), { list: true });
field('ka.req.binding.subjects.serviceaccount_names', "the binding's ServiceAccount subjects", () => auditEvent((e) => ka.subjectNames(e, 'ServiceAccount')), { list: true });
field('ka.req.binding.subjects.serviceaccount_ns_names', "the binding's ServiceAccount subjects as namespace:name", () => auditEvent((e) => ka.subjectNames(e, 'ServiceAccount', true)), { list: true });
scalar('ka.req.binding.role', "the binding's role", ['requestObject', 'roleRef', 'name']);
field('ka.req.binding.subject.has_name', 'deprecated: always "true"', () => auditEvent(() => 'true'), { arg: 'required' });

// --- config maps -----------------------------------------------------------------------------
scalar('ka.req.configmap.name', 'the config map name (objectRef.name)', ['objectRef', 'name']);
field('ka.req.configmap.obj', "the config map's data, as JSON", () => keysField(['requestObject', 'data']), { costly: true });

// --- pods ------------------------------------------------------------------------------------
scalar('ka.req.pod.host_ipc', 'the pod hostIPC flag', ['requestObject', 'spec', 'hostIPC']);
scalar('ka.req.pod.host_network', 'the pod hostNetwork flag', ['requestObject', 'spec', 'hostNetwork']);
scalar('ka.req.pod.host_pid', 'the pod hostPID flag', ['requestObject', 'spec', 'hostPID']);
scalar('ka.req.pod.run_as_user', "the pod securityContext's runAsUser", ['requestObject', 'spec', 'securityContext', 'runAsUser']);
scalar('ka.req.pod.run_as_group', "the pod securityContext's runAsGroup", ['requestObject', 'spec', 'securityContext', 'runAsGroup']);
scalar('ka.req.pod.fs_group', "the pod securityContext's fsGroup", ['requestObject', 'spec', 'securityContext', 'fsGroup']);
field('ka.req.pod.supplemental_groups', "the pod securityContext's supplementalGroups", () => auditEvent((e) => ka.listAt(e, ['requestObject', 'spec', 'securityContext', 'supplementalGroups'])), { list: true });
field('ka.req.pod.volumes.hostpath', 'every hostPath volume path', (arg) => auditEvent((e) => ka.valuesOf(e, index(arg), ['requestObject', 'spec', 'volumes', 'hostPath', 'path'])), { list: true, arg: 'index' });
field('ka.req.pod.volumes.flexvolume_driver', 'every flexVolume driver', (arg) => auditEvent((e) => ka.valuesOf(e, index(arg), ['requestObject', 'spec', 'volumes', 'flexVolume', 'driver'])), { list: true, arg: 'index' });
field('ka.req.pod.volumes.volume_type', "every volume's type (its keys other than name)", (arg) => auditEvent((e) => ka.volumeTypes(e, index(arg))), { list: true, arg: 'index' });

for (const which of ['containers', 'initContainers', 'ephemeralContainers'] as const) {
  const p = `ka.req.pod.${which}`;
  const each = which === 'containers' ? 'container' : which === 'initContainers' ? 'init container' : 'ephemeral container';
  const opts = { list: true, arg: 'index' } as const;
  const securityContext = (name: string, key: string): void =>
    field(`${p}.${name}`, `each ${each}'s securityContext.${key}`, (arg) => auditEvent((e) => ka.containerValues(e, which, index(arg), ['securityContext', ...key.split('.')])), opts);
  field(`${p}.name`, `each ${each}'s name`, (arg) => auditEvent((e) => ka.containerValues(e, which, index(arg), ['name'])), opts);
  field(`${p}.image`, `each ${each}'s image`, (arg) => auditEvent((e) => ka.containerImages(e, which, index(arg))), opts);
  field(`${p}.image.repository`, `each ${each}'s image without tag or digest`, (arg) => auditEvent((e) => ka.containerRepositories(e, which, index(arg))), opts);
  field(`${p}.command`, `each ${each}'s command, as JSON`, (arg) => auditEvent((e) => ka.containerValues(e, which, index(arg), ['command'])), opts);
  field(`${p}.args`, `each ${each}'s args, as JSON`, (arg) => auditEvent((e) => ka.containerValues(e, which, index(arg), ['args'])), opts);
  securityContext('privileged', 'privileged');
  securityContext('allow_privilege_escalation', 'allowPrivilegeEscalation');
  securityContext('read_only_fs', 'readOnlyRootFilesystem');
  securityContext('run_as_user', 'runAsUser');
  securityContext('run_as_group', 'runAsGroup');
  securityContext('proc_mount', 'procMount');
  securityContext('add_capabilities', 'capabilities.add');
  field(`${p}.eff_run_as_user`, `each ${each}'s starting uid: its runAsUser, else the pod's, else 0`, (arg) => auditEvent((e) => ka.effectiveIds(e, which, index(arg), 'runAsUser')), opts);
  field(`${p}.eff_run_as_group`, `each ${each}'s starting gid: its runAsGroup, else the pod's, else 0`, (arg) => auditEvent((e) => ka.effectiveIds(e, which, index(arg), 'runAsGroup')), opts);
  field(`${p}.host_port`, `each ${each} port's hostPort, else its containerPort`, (arg) => auditEvent((e) => ka.containerHostPorts(e, which, index(arg))), opts);
}

// Deprecated single-container forms, still used by older rule files.
field('ka.req.container.image', 'deprecated: the first container image', () => auditEvent((e) => ka.containerImages(e, 'containers', 0)?.[0]), { costly: true });
field('ka.req.container.image.repository', 'deprecated: the first container image repository', () => auditEvent((e) => ka.containerRepositories(e, 'containers', 0)?.[0]), { costly: true });
field('ka.req.container.privileged', 'deprecated: "true" if any container is privileged', () => auditEvent(ka.anyPrivileged), { costly: true });
scalar('ka.req.container.host_network', 'deprecated: the pod hostNetwork flag', ['requestObject', 'spec', 'hostNetwork']);
field('ka.req.volume.hostpath', 'deprecated: "true" if a hostPath volume is the argument (a trailing * matches a prefix)', (arg) => auditEvent((e) => ka.hostPathUsed(e, arg!)), { arg: 'required', costly: true });

// --- roles -----------------------------------------------------------------------------------
field('ka.req.role.rules', "the role's rules, each as JSON", () => auditEvent((e) => ka.listAt(e, ['requestObject', 'rules'])), { list: true });
for (const [name, key] of [
  ['apiGroups', 'apiGroups'],
  ['nonResourceURLs', 'nonResourceURLs'],
  ['verbs', 'verbs'],
  ['resources', 'resources'],
] as const) {
  field(`ka.req.role.rules.${name}`, `every ${key} of the role's rules ([i]: of rule i)`, (arg) => auditEvent((e) => ka.roleRuleValues(e, index(arg), key)), { list: true, arg: 'index' });
}

// --- services and responses ------------------------------------------------------------------
scalar('ka.req.service.type', 'the service type', ['requestObject', 'spec', 'type']);
field('ka.req.service.ports', "the service's ports, as JSON", (arg) => auditEvent((e) => ka.valuesOf(e, index(arg), ['requestObject', 'spec', 'ports'])), { list: true, arg: 'index' });
scalar('ka.resp.name', 'the response object name', ['responseObject', 'metadata', 'name']);
scalar('ka.response.code', 'the response code', ['responseStatus', 'code']);
scalar('ka.response.reason', 'the response reason', ['responseStatus', 'reason']);

// --- the json plugin (any JSON event; jevt.* are its older names) ------------------------------
for (const prefix of ['json', 'jevt'] as const) {
  field(
    `${prefix}.value`,
    `the value at a JSON pointer: ${prefix}.value[/objectRef/resource]`,
    (arg) => {
      // An empty pointer is the plugin's "value argument is required": nothing is extracted.
      if (arg === '') return () => undefined;
      const read = keysReader(pointerKeys(arg!));
      return (event) => {
        const v = read(event);
        return typeof v === 'string' ? v : textOf(v);
      };
    },
    { arg: 'required' },
  );
  field(`${prefix}.obj`, 'the whole event, as indented JSON', () => (event) => JSON.stringify(event, null, 2), { costly: true });
  // `jevt.rawtime exists` is how Falco's rules say "always": it needs a valid time, not the number.
  field(`${prefix}.rawtime`, 'the event time in nanoseconds since 1970, as text', () => (event) => eventNanos(event)?.toString(), { costly: true, exists: hasEventTime });
}

// --- evt.*: what Falco knows of any event --------------------------------------------------------
field('evt.time', 'the event time of day, HH:MM:SS.nnnnnnnnn (UTC)', () => (event) => {
  const n = eventNanos(event);
  return n === undefined ? undefined : isoNanoTime(n).slice(11, 29);
}, { costly: true });
field('evt.time.iso8601', 'the event time, 2025-02-10T09:15:57.508657000Z', () => (event) => {
  const n = eventNanos(event);
  return n === undefined ? undefined : isoNanoTime(n);
}, { costly: true });
field('evt.rawtime', 'the event time in nanoseconds since 1970', () => eventNanos, { type: 'uint64', costly: true });
field('evt.source', 'the event source: k8s_audit', () => () => 'k8s_audit');

export const FIELDS: ReadonlyMap<string, FieldDef> = new Map(defs.map((d) => [d.name, d]));

/** The longest field name that `text` starts with at `from` (how Falco reads %field in outputs). */
export function longestFieldAt(text: string, from: number): FieldDef | undefined {
  let best: FieldDef | undefined;
  for (const def of defs) {
    if ((best === undefined || def.name.length > best.name.length) && text.startsWith(def.name, from)) best = def;
  }
  return best;
}
