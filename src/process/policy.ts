// A client-side audit.k8s.io/v1 Policy, the same file kube-apiserver takes with --audit-policy-file,
// evaluated the way its policy checker does (first matching rule wins; no match is level None).
// Applied to events the source already logged, a Policy can only reduce them: it lowers the level
// (stripping bodies), drops events of omitted stages and strips managedFields; it never raises a
// level or brings back a body the source did not log.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { describe, isPlainObject, LEVELS, STAGES, type AuditEvent, type Level, type ObjectReference, type Stage } from '../event/event.js';

export interface GroupResources {
  /** "" is the core group; "*" any group. */
  group: string;
  resources: readonly string[];
  resourceNames: readonly string[];
}

export interface PolicyRule {
  level: Level;
  users: readonly string[];
  userGroups: readonly string[];
  verbs: readonly string[];
  resources: readonly GroupResources[];
  namespaces: readonly string[];
  nonResourceURLs: readonly string[];
  omitStages: readonly Stage[];
  /** Unset: the policy's omitManagedFields applies. */
  omitManagedFields: boolean | undefined;
}

export interface Policy {
  rules: readonly PolicyRule[];
  omitStages: readonly Stage[];
  omitManagedFields: boolean;
}

/** What a request looks like to the policy checker (k8s authorizer.Attributes). */
export interface RequestAttributes {
  /** Absent for a request that failed authentication (`user: {}`). */
  user: { name: string; groups: readonly string[] } | undefined;
  verb: string;
  resourceRequest: boolean;
  namespace: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  /** The object name as the URL gives it ("" for create, list, watch, deletecollection). */
  name: string;
  /** Non-resource requests: the request path without the query. */
  path: string;
}

export interface PolicyDecision {
  level: Level;
  omitStages: ReadonlySet<Stage>;
  omitManagedFields: boolean;
}

export type PolicyOutcome =
  | { kind: 'kept'; event: AuditEvent }
  /** `level`: the matching rule (or no rule) says None; `stage`: the event's stage is omitted. */
  | { kind: 'dropped'; reason: 'level' | 'stage' };

export interface PolicyLoad {
  policy: CompiledPolicy | undefined;
  /** Every validation error, each naming its field (`rules[2].level: …`). */
  problems: string[];
  /** Unknown fields, ignored as kube-apiserver's lenient decoding ignores them. */
  warnings: string[];
}

const LEVEL_RANK: Record<string, number> = { None: 0, Metadata: 1, Request: 2, RequestResponse: 3 };
const STAGE_SET = new Set<string>(STAGES);
const POLICY_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields']);
const RULE_KEYS = new Set(['level', 'users', 'userGroups', 'verbs', 'resources', 'namespaces', 'nonResourceURLs', 'omitStages', 'omitManagedFields']);
const GROUP_RESOURCE_KEYS = new Set(['group', 'resources', 'resourceNames']);
// DNS-1123 subdomain, as Kubernetes requires of API group names.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// ---------------------------------------------------------------- loading and validation

export function loadPolicyFile(file: string): PolicyLoad {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { policy: undefined, problems: [`cannot read the file: ${(err as Error).message}`], warnings: [] };
  }
  return parsePolicy(text);
}

/** Parses a Policy from YAML (or JSON) text; reports every problem at once. */
export function parsePolicy(text: string): PolicyLoad {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    return {
      policy: undefined,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${pos ? `line ${pos.line}, column ${pos.col}` : 'YAML'}: ${e.message.split('\n')[0]!}`;
      }),
      warnings: [],
    };
  }
  const loaded = validatePolicy(doc.toJS() as unknown, { requireHeader: true });
  // Each message starts with the path of its field: add the line it is on, for long policy files.
  const withLine = (message: string): string => {
    const path = pathOf(message.slice(0, message.indexOf(':')));
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return `${message} (line ${lineCounter.linePos(node.range[0]).line})`;
    }
    return message;
  };
  return { ...loaded, problems: loaded.problems.map(withLine), warnings: loaded.warnings.map(withLine) };
}

/** `rules[2].resources[0].group` → ['rules', 2, 'resources', 0, 'group']. */
function pathOf(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) out.push(m[1] ?? Number(m[2]));
  return out;
}

/**
 * Checks a decoded Policy as kube-apiserver's loader and validation do: level required and valid,
 * stages valid, nonResourceURLs not mixed with resources or namespaces, URLs starting with "/"
 * with "*" only at the end, groups "", "*" or a DNS subdomain, resourceNames only with resources;
 * the loader also wants apiVersion audit.k8s.io/v1, kind Policy and at least one rule
 * (`requireHeader`; the validation tables check rules alone).
 */
export function validatePolicy(raw: unknown, options: { requireHeader?: boolean } = {}): PolicyLoad {
  const problems: string[] = [];
  const warnings: string[] = [];
  const bad = (path: string, value: unknown, expected: string): void => {
    problems.push(`${path}: got ${describe(value)}; expected ${expected}`);
  };
  if (raw === null || raw === undefined) {
    problems.push('(top level): an empty document; expected a Policy mapping with apiVersion: audit.k8s.io/v1, kind: Policy and rules');
    return { policy: undefined, problems, warnings };
  }
  if (!isPlainObject(raw)) {
    bad('(top level)', raw, 'a Policy mapping with apiVersion: audit.k8s.io/v1, kind: Policy and rules');
    return { policy: undefined, problems, warnings };
  }
  if (options.requireHeader) {
    if (raw.apiVersion !== 'audit.k8s.io/v1') bad('apiVersion', raw.apiVersion, '"audit.k8s.io/v1" (the only audit API version left since Kubernetes 1.24)');
    if (raw.kind !== 'Policy') bad('kind', raw.kind, '"Policy"');
  }
  for (const key of Object.keys(raw)) if (!POLICY_KEYS.has(key)) warnings.push(`${key}: unknown field, ignored`);

  const omitStages = stageList(raw.omitStages, 'omitStages', bad);
  const omitManagedFields = optionalBoolean(raw.omitManagedFields, 'omitManagedFields', bad) ?? false;
  const rules: PolicyRule[] = [];
  if (raw.rules === undefined || raw.rules === null) {
    if (options.requireHeader) problems.push('rules: missing; a policy needs at least one rule (kube-apiserver refuses a policy with 0 rules)');
  } else if (!Array.isArray(raw.rules)) {
    bad('rules', raw.rules, 'a list of rules');
  } else {
    if (raw.rules.length === 0 && options.requireHeader) problems.push('rules: an empty list; a policy needs at least one rule (kube-apiserver refuses a policy with 0 rules)');
    raw.rules.forEach((item: unknown, i) => {
      const rule = validateRule(item, `rules[${i}]`, bad, warnings);
      if (rule) rules.push(rule);
    });
  }
  if (problems.length > 0) return { policy: undefined, problems, warnings };
  return { policy: compilePolicy({ rules, omitStages, omitManagedFields }), problems, warnings };
}

type Bad = (path: string, value: unknown, expected: string) => void;

function validateRule(raw: unknown, at: string, bad: Bad, warnings: string[]): PolicyRule | undefined {
  if (!isPlainObject(raw)) {
    bad(at, raw, 'a rule mapping with at least a level');
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) warnings.push(`${at}.${key}: unknown field, ignored`);
  let ok = true;
  const fail: Bad = (path, value, expected) => {
    ok = false;
    bad(path, value, expected);
  };
  const level = raw.level;
  if (level === undefined || level === null || level === '') fail(`${at}.level`, level, 'a level: None, Metadata, Request or RequestResponse (required)');
  else if (typeof level !== 'string' || !(level in LEVEL_RANK)) fail(`${at}.level`, level, `one of ${LEVELS.join(', ')}`);

  const users = stringList(raw.users, `${at}.users`, fail);
  const userGroups = stringList(raw.userGroups, `${at}.userGroups`, fail);
  const verbs = stringList(raw.verbs, `${at}.verbs`, fail);
  const namespaces = stringList(raw.namespaces, `${at}.namespaces`, fail);
  const nonResourceURLs = stringList(raw.nonResourceURLs, `${at}.nonResourceURLs`, fail);
  nonResourceURLs.forEach((url, i) => {
    if (url === '*') return;
    if (!url.startsWith('/')) fail(`${at}.nonResourceURLs[${i}]`, url, 'a path beginning with "/" (or "*")');
    if (url !== '' && url.slice(0, -1).includes('*')) fail(`${at}.nonResourceURLs[${i}]`, url, 'a path with "*" only as its final character');
  });
  const resources = groupResourcesList(raw.resources, `${at}.resources`, fail, warnings);
  if (nonResourceURLs.length > 0 && (resources.length > 0 || namespaces.length > 0)) {
    ok = false;
    const mixed = resources.length > 0 ? 'resources' : 'namespaces';
    bad(`${at}.nonResourceURLs`, raw.nonResourceURLs, `no nonResourceURLs in a rule that has ${mixed} (a rule applies to resource requests or to non-resource URLs, not both)`);
  }
  const omitStages = stageList(raw.omitStages, `${at}.omitStages`, fail);
  const omitManagedFields = optionalBoolean(raw.omitManagedFields, `${at}.omitManagedFields`, fail);
  if (!ok) return undefined;
  return { level: level as Level, users, userGroups, verbs, resources, namespaces, nonResourceURLs, omitStages, omitManagedFields };
}

function groupResourcesList(raw: unknown, at: string, fail: Bad, warnings: string[]): GroupResources[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    fail(at, raw, 'a list of {group, resources, resourceNames}');
    return [];
  }
  const out: GroupResources[] = [];
  raw.forEach((item: unknown, i) => {
    const here = `${at}[${i}]`;
    if (!isPlainObject(item)) {
      fail(here, item, 'a mapping {group, resources, resourceNames}');
      return;
    }
    for (const key of Object.keys(item)) if (!GROUP_RESOURCE_KEYS.has(key)) warnings.push(`${here}.${key}: unknown field, ignored`);
    let group = '';
    if (item.group !== undefined && item.group !== null) {
      if (typeof item.group !== 'string') fail(`${here}.group`, item.group, 'a string');
      else {
        group = item.group;
        if (group !== '' && group !== '*' && (group.length > 253 || !DNS_SUBDOMAIN.test(group))) {
          fail(`${here}.group`, group, '"" (the core group), "*" or an API group name (a DNS subdomain, without the version: rbac.authorization.k8s.io)');
        }
      }
    }
    const resources = stringList(item.resources, `${here}.resources`, fail);
    const resourceNames = stringList(item.resourceNames, `${here}.resourceNames`, fail);
    if (resourceNames.length > 0 && resources.length === 0) fail(`${here}.resourceNames`, item.resourceNames, 'resourceNames only together with at least one resource');
    out.push({ group, resources, resourceNames });
  });
  return out;
}

function stringList(raw: unknown, at: string, fail: Bad): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    fail(at, raw, 'a list of strings');
    return [];
  }
  const out: string[] = [];
  raw.forEach((item: unknown, i) => {
    if (typeof item === 'string') out.push(item);
    else fail(`${at}[${i}]`, item, 'a string');
  });
  return out;
}

function stageList(raw: unknown, at: string, fail: Bad): Stage[] {
  const out: Stage[] = [];
  stringList(raw, at, fail).forEach((stage, i) => {
    if (STAGE_SET.has(stage)) out.push(stage as Stage);
    else fail(`${at}[${i}]`, stage, `a stage: ${STAGES.join(', ')}`);
  });
  return out;
}

function optionalBoolean(raw: unknown, at: string, fail: Bad): boolean | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'boolean') {
    fail(at, raw, 'true or false');
    return undefined;
  }
  return raw;
}

// ---------------------------------------------------------------- evaluation

/** A Policy prepared for evaluation: the lists as sets, the omitted stages per rule merged once. */
export interface CompiledPolicy extends Policy {
  readonly compiled: readonly CompiledRule[];
  readonly noMatch: PolicyDecision;
  /** Whether some rule has resourceNames (only then is the URL parsed for the object name). */
  readonly needsName: boolean;
}

interface CompiledRule {
  rule: PolicyRule;
  users: ReadonlySet<string> | undefined;
  userGroups: readonly string[];
  verbs: ReadonlySet<string> | undefined;
  namespaces: ReadonlySet<string> | undefined;
  decision: PolicyDecision;
}

export function compilePolicy(policy: Policy): CompiledPolicy {
  const setOf = (list: readonly string[]): ReadonlySet<string> | undefined => (list.length > 0 ? new Set(list) : undefined);
  const compiled = policy.rules.map((rule) => ({
    rule,
    users: setOf(rule.users),
    userGroups: rule.userGroups,
    verbs: setOf(rule.verbs),
    namespaces: setOf(rule.namespaces),
    decision: {
      level: rule.level,
      omitStages: new Set([...policy.omitStages, ...rule.omitStages]),
      omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields,
    },
  }));
  return {
    ...policy,
    compiled,
    noMatch: { level: 'None', omitStages: new Set(policy.omitStages), omitManagedFields: policy.omitManagedFields },
    needsName: policy.rules.some((r) => r.resources.some((gr) => gr.resourceNames.length > 0)),
  };
}

/** The first matching rule's level and options; level None when no rule matches. */
export function evaluatePolicy(policy: CompiledPolicy, attrs: RequestAttributes): PolicyDecision {
  for (const c of policy.compiled) if (ruleMatches(c, attrs)) return c.decision;
  return policy.noMatch;
}

function ruleMatches(c: CompiledRule, a: RequestAttributes): boolean {
  if (c.users && (!a.user || !c.users.has(a.user.name))) return false;
  if (c.userGroups.length > 0 && (!a.user || !a.user.groups.some((g) => c.userGroups.includes(g)))) return false;
  if (c.verbs && !c.verbs.has(a.verb)) return false;
  const { rule } = c;
  if (c.namespaces || rule.resources.length > 0) return resourceMatches(c, a);
  if (rule.nonResourceURLs.length > 0) return nonResourceMatches(rule.nonResourceURLs, a);
  return true;
}

function resourceMatches(c: CompiledRule, a: RequestAttributes): boolean {
  if (!a.resourceRequest) return false;
  if (c.namespaces && !c.namespaces.has(a.namespace)) return false;
  const { resources } = c.rule;
  if (resources.length === 0) return true;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  for (const gr of resources) {
    if (gr.group !== a.apiGroup && gr.group !== '*') continue;
    if (gr.resources.length === 0) return true;
    if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(a.name)) continue;
    for (const res of gr.resources) {
      if (res === combined || res === '*') return true;
      if (a.subresource && res === `*/${a.subresource}`) return true;
      // "pods/*" matches every subresource of pods, but not pods itself.
      if (res.endsWith('/*') && a.subresource && a.resource === res.slice(0, -2)) return true;
    }
  }
  return false;
}

function nonResourceMatches(specs: readonly string[], a: RequestAttributes): boolean {
  if (a.resourceRequest) return false;
  for (const spec of specs) {
    if (spec === '*' || spec === a.path) return true;
    // A trailing "*" is a plain prefix: "/api*" matches "/apis/…".
    if (spec.endsWith('*') && a.path.startsWith(spec.slice(0, -1))) return true;
  }
  return false;
}

// ---------------------------------------------------------------- attributes of an event

/**
 * The attributes kube-apiserver evaluated the policy on, rebuilt from the event: `user` (the
 * server evaluates before impersonation, so not impersonatedUser), the verb, objectRef for
 * resource requests, and the URL for the path and the object name (a create's objectRef.name is
 * copied from the body after the policy was evaluated, so it does not count).
 */
export function attributesOf(event: AuditEvent, withName = true): RequestAttributes {
  const user = isPlainObject(event.user) ? event.user : undefined;
  const authenticated = user !== undefined && (typeof user.username === 'string' || Array.isArray(user.groups));
  const ref = isPlainObject(event.objectRef) ? (event.objectRef as ObjectReference) : undefined;
  const uri = typeof event.requestURI === 'string' ? event.requestURI : '';
  const q = uri.indexOf('?');
  const path = q < 0 ? uri : uri.slice(0, q);
  return {
    user: authenticated ? { name: typeof user.username === 'string' ? user.username : '', groups: Array.isArray(user.groups) ? user.groups : [] } : undefined,
    verb: typeof event.verb === 'string' ? event.verb : '',
    resourceRequest: ref !== undefined,
    namespace: ref?.namespace ?? '',
    apiGroup: ref?.apiGroup ?? '',
    resource: ref?.resource ?? '',
    subresource: ref?.subresource ?? '',
    name: ref && withName ? nameOf(path, q < 0 ? '' : uri.slice(q + 1), event.verb, ref.name) : '',
    path,
  };
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** The object name as kube-apiserver's request info parses it from the URL. */
function nameOf(path: string, query: string, verb: string, refName: string | undefined): string {
  const parts = path.split('/').filter((p) => p !== '');
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 3) rest = parts.slice(3);
  else {
    // Not an API path (some providers rebuild the URI): the name is what objectRef says, except
    // for the verbs whose URL never names an object.
    return verb === 'create' || verb === 'list' || verb === 'watch' || verb === 'deletecollection' ? '' : (refName ?? '');
  }
  if (rest[0] === 'watch' || rest[0] === 'proxy') rest = rest.slice(1);
  if (rest[0] === 'namespaces' && rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  if (rest.length >= 2) return decodeSegment(rest[1]!);
  // A list or watch narrowed to one object by fieldSelector=metadata.name=X names it.
  if ((verb === 'list' || verb === 'watch') && query !== '') {
    const selector = new URLSearchParams(query).get('fieldSelector');
    if (selector) {
      for (const term of selector.split(',')) {
        const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term);
        if (m) return m[1]!;
      }
    }
  }
  return '';
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// ---------------------------------------------------------------- applying to an event

/**
 * Applies the policy to one logged event. The result's level is the lower of the event's and the
 * rule's; bodies above that level are removed; an omitted stage or level None drops the event;
 * omitManagedFields strips metadata.managedFields from the bodies (and from list items). The
 * input is never modified: a changed event is a new object sharing what did not change.
 */
export function applyPolicy(policy: CompiledPolicy, event: AuditEvent): PolicyOutcome {
  const decision = evaluatePolicy(policy, attributesOf(event, policy.needsName));
  if (decision.level === 'None') return { kind: 'dropped', reason: 'level' };
  if (decision.omitStages.has(event.stage)) return { kind: 'dropped', reason: 'stage' };
  const current = LEVEL_RANK[event.level] ?? LEVEL_RANK.RequestResponse!;
  const allowed = LEVEL_RANK[decision.level]!;
  let out = event;
  const edit = (): AuditEvent => (out === event ? (out = { ...event }) : out);
  if (allowed < current) edit().level = decision.level;
  if (allowed < LEVEL_RANK.Request! && out.requestObject !== undefined) delete edit().requestObject;
  if (allowed < LEVEL_RANK.RequestResponse! && out.responseObject !== undefined) delete edit().responseObject;
  if (decision.omitManagedFields) {
    // A patch is logged as the patch document, which kube-apiserver leaves as sent.
    if (out.requestObject !== undefined && event.verb !== 'patch') {
      const stripped = withoutManagedFields(out.requestObject);
      if (stripped !== out.requestObject) edit().requestObject = stripped;
    }
    if (out.responseObject !== undefined) {
      const stripped = withoutManagedFields(out.responseObject);
      if (stripped !== out.responseObject) edit().responseObject = stripped;
    }
  }
  return { kind: 'kept', event: out };
}

/** The object without metadata.managedFields, or the items of a list without theirs; same reference when there were none. */
export function withoutManagedFields(body: unknown): unknown {
  if (!isPlainObject(body)) return body;
  if (Array.isArray(body.items)) {
    let items: unknown[] | undefined;
    body.items.forEach((item: unknown, i) => {
      const stripped = stripOne(item);
      if (stripped !== item) (items ??= [...(body.items as unknown[])])[i] = stripped;
    });
    return items ? { ...body, items } : body;
  }
  return stripOne(body);
}

function stripOne(object: unknown): unknown {
  if (!isPlainObject(object) || !isPlainObject(object.metadata) || !('managedFields' in object.metadata)) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/** Applies the policy to a list of events: the survivors, and how many were dropped. */
export function applyPolicyToAll(policy: CompiledPolicy, events: readonly AuditEvent[]): { events: AuditEvent[]; dropped: number } {
  const out: AuditEvent[] = [];
  for (const event of events) {
    const outcome = applyPolicy(policy, event);
    if (outcome.kind === 'kept') out.push(outcome.event);
  }
  return { events: out, dropped: events.length - out.length };
}
