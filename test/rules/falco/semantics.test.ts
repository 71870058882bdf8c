// Falco's value semantics, one row per decision: missing fields, list fields, text rendering of
// non-string JSON, each operator.
import { describe, expect, it } from 'vitest';
import { CompileError, ConditionCompiler, MacroError } from '../../../src/rules/falco/compile.js';
import { parseCondition } from '../../../src/rules/falco/parser.js';

const EVENT = {
  kind: 'Event',
  auditID: 'a-1',
  stage: 'ResponseComplete',
  verb: 'create',
  requestURI: '/api/v1/namespaces/default/pods/web/exec?command=ls&command=pwd&stdin=true&x=a%20b&y=c+d',
  user: { username: 'Bob', groups: ['system:authenticated', 'dev'] },
  objectRef: { resource: 'pods', namespace: 'default', name: 'web' },
  responseStatus: { code: 201 },
  annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  stageTimestamp: '2025-02-10T09:15:57.508657Z',
  requestObject: {
    spec: {
      hostNetwork: true,
      nodeSelector: null,
      containers: [
        { name: 'a', image: 'nginx:1.25', securityContext: { privileged: true } },
        { name: 'b', image: 'registry.local/team/app@sha256:abc' },
      ],
      volumes: [{ name: 'etc', hostPath: { path: '/etc/kubernetes' } }],
    },
  },
};

function compiler(macros: Record<string, string> = {}, lists: Record<string, string[]> = {}): ConditionCompiler {
  return new ConditionCompiler({ macro: (n) => (macros[n] === undefined ? undefined : parseCondition(macros[n])), list: (n) => lists[n] });
}

function holds(condition: string, event: unknown = EVENT, macros: Record<string, string> = {}, lists: Record<string, string[]> = {}): boolean {
  return compiler(macros, lists).compile(parseCondition(condition))(event);
}

describe('Falco value semantics', () => {
  it.each([
    // Scalars compare as text, exactly and case-sensitively.
    ['ka.verb = create', true],
    ['ka.verb = Create', false],
    ['ka.verb != create', false],
    ['ka.verb != delete', true],
    ['ka.user.name = Bob', true],
    // Non-string JSON is its compact JSON text.
    ['ka.response.code = 201', true],
    ['ka.response.code startswith 2', true],
    ['ka.req.pod.host_network = true', true],
    ['ka.req.pod.host_network intersects (true)', true],
    ['jevt.value[/requestObject/spec/nodeSelector] = null', true],
    ['jevt.value[/responseStatus] = \'{"code":201}\'', true],
    // A missing field makes every comparison false, != included; exists false; not flips.
    ['ka.target.subresource = exec', false],
    ['ka.target.subresource != exec', false],
    ['ka.target.subresource exists', false],
    ['not ka.target.subresource exists', true],
    ['not ka.target.subresource = exec', true],
    ['ka.target.subresource in (exec, attach)', false],
    ['ka.target.subresource startswith ""', false],
    ['ka.auth.reason exists', true],
    ['ka.auth.reason = ""', true],
    ['ka.impuser.name < 5', false],
    // Ordering is text ordering (strcmp), even for numbers.
    ['ka.response.code >= 200', true],
    ['ka.response.code < 300', true],
    ['ka.response.code > 1000', true],
    // Text operators.
    ['ka.uri contains /exec?', true],
    ['ka.user.name contains bo', false],
    ['ka.user.name icontains BO', true],
    ['ka.uri endswith "c+d"', true],
    ['ka.uri glob "/api/v1/*/pods/*"', true],
    ['ka.uri glob "/api/v?/namespaces/[a-d]efault/*"', true],
    ['ka.uri glob "/API/*"', false],
    ['ka.uri iglob "/API/*"', true],
    ['ka.verb glob "cr[!x]ate"', true],
    ['ka.verb regex "cr.a?te"', true],
    ['ka.verb regex "rea"', false],
    ['ka.verb in (get, create)', true],
    ['ka.verb in ()', false],
    ['ka.verb intersects (create)', true],
    ['ka.target.namespace pmatch (/default)', false],
    ['jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/etc)', true],
    ['jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/et)', false],
    ['jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/var, /etc/kubernetes)', true],
    ['jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/*/kubernetes)', true],
    ['jevt.value[/requestObject/spec/volumes/0/hostPath/path] pmatch (/)', true],
    // List fields: in = every value among the items; intersects = some value.
    ['ka.user.groups in (system:authenticated, dev, ops)', true],
    ['ka.user.groups in (system:authenticated)', false],
    ['ka.user.groups intersects (ops, dev)', true],
    ['ka.user.groups intersects (ops)', false],
    ['ka.user.groups exists', true],
    ['ka.req.pod.containers.privileged intersects (true)', true],
    ['ka.req.pod.containers.privileged in (true)', true],
    ['ka.req.pod.containers.image.repository in (nginx, registry.local/team/app)', true],
    ['ka.req.pod.containers.image.repository in (nginx)', false],
    ['ka.req.pod.containers.image[1] intersects (registry.local/team/app@sha256:abc)', true],
    // A list with no values is missing: in is false, so "not … in" is true.
    ['ka.req.pod.initContainers.image in (nginx)', false],
    ['not ka.req.pod.initContainers.image in (nginx)', true],
    ['ka.req.pod.containers.allow_privilege_escalation exists', false],
    // Arguments.
    ['ka.uri.param[command] = ls', true],
    ['ka.uri.param[x] = "a b"', true],
    ['ka.uri.param[y] = "c d"', true],
    ['ka.uri.param[missing] exists', false],
    ['jevt.value[/stage] = ResponseComplete', true],
    ['json.value[/annotations/authorization.k8s.io~1decision] = allow', true],
    // Time: jevt.rawtime is text; evt.rawtime is a number.
    ['jevt.rawtime exists', true],
    ['jevt.rawtime = 0', false],
    ['jevt.rawtime = 1739178957508657000', true],
    ['evt.rawtime > 1739178957508656999', true],
    ['evt.rawtime in (1, 1739178957508657000)', true],
    ['evt.rawtime < 0x10', false],
    ['evt.source = k8s_audit', true],
  ])('%s is %s', (condition, expected) => {
    expect(holds(condition)).toBe(expected);
  });

  it('reads no ka.* field from an event without an auditID; json and evt fields still read', () => {
    const { auditID: _, ...noId } = EVENT;
    expect(holds('ka.verb = create', noId)).toBe(false);
    expect(holds('ka.verb exists', noId)).toBe(false);
    expect(holds('jevt.value[/verb] = create', noId)).toBe(true);
    expect(holds('jevt.rawtime exists', noId)).toBe(true);
    expect(holds('ka.verb = create', { ...noId, auditID: null })).toBe(true);
  });

  it('never throws on any JSON value as the event', () => {
    for (const event of [null, 1, 'x', [], [EVENT], {}, { auditID: 1, user: null, requestObject: { spec: { containers: 'x' } } }]) {
      for (const condition of ['ka.user.name = x', 'ka.req.pod.containers.image in (x)', 'jevt.value[/0/verb] exists', 'not ka.uri.param[a] exists', 'jevt.obj contains x', 'evt.rawtime > 0']) {
        expect(typeof holds(condition, event)).toBe('boolean');
      }
    }
    expect(holds('jevt.value[/0/verb] = create', [EVENT])).toBe(true);
  });

  it('expands macros inside macros and lists inside in (…), with list items that name no list read as values', () => {
    const macros = { kevt: 'jevt.value[/stage] in (k8s_audit_stages)', pod: 'ka.target.resource=pods and not ka.target.subresource exists', kcreate: 'ka.verb=create', create_pod: 'kevt and pod and kcreate' };
    const lists = { k8s_audit_stages: ['ResponseComplete'], verbs: ['create', 'update'] };
    expect(holds('create_pod', EVENT, macros, lists)).toBe(true);
    expect(holds('create_pod', { ...EVENT, stage: 'ResponseStarted' }, macros, lists)).toBe(false);
    expect(holds('ka.verb in (verbs)', EVENT, macros, lists)).toBe(true);
    expect(holds('ka.verb in verbs', EVENT, macros, lists)).toBe(true);
    expect(holds('ka.verb in (no_such_list, create)', EVENT, macros, lists)).toBe(true);
    // A list name is only a list after in, intersects or pmatch.
    expect(holds('ka.verb = verbs', EVENT, macros, lists)).toBe(false);
  });
});

describe('Falco compile errors', () => {
  function reason(condition: string, macros: Record<string, string> = {}): string {
    try {
      compiler(macros).compile(parseCondition(condition));
    } catch (err) {
      if (err instanceof CompileError) return `${err.reason} @${err.offset}`;
      if (err instanceof MacroError) return `in macro ${err.macro}: ${err.cause.reason} @${err.cause.offset}`;
      throw err;
    }
    return 'compiled';
  }

  it.each([
    ['kevt and ka.verb = x', "Undefined macro 'kevt' used in filter. @0"],
    ['ka.verb = x and ka.nope = y', 'filter_check called with nonexistent field ka.nope @16'],
    ['ka.user.groups = dev', "'=' operator not supported list filters @15"],
    ['ka.user.groups contains dev', "'contains' operator not supported list filters @15"],
    ['ka.user.groups pmatch (/a)', "'pmatch' operator not supported list filters @15"],
    ['ka.verb bcontains 63', "'bcontains' operator not supported for string filters @8"],
    ['evt.rawtime contains 1', "'contains' operator not supported for numeric filters @12"],
    ['evt.rawtime = abc', "could not parse 'abc' as a number for evt.rawtime @14"],
    ['ka.uri.param exists', 'filter ka.uri.param requires an argument @0'],
    ['jevt.value = x', 'filter jevt.value requires an argument @0'],
    ['ka.verb[0] = x', 'filter ka.verb does not take an argument @0'],
    ['ka.req.pod.containers.image[first] in (x)', "filter ka.req.pod.containers.image has a malformed argument 'first': expected an index, a whole number @0"],
    ['ka.verb regex "("', "invalid regular expression '(': Unterminated group @14"],
    ['a', "in macro a: Undefined macro 'b' used in filter. @0"],
    ['loop', "in macro loop: macro 'loop' refers to itself @0"],
    ['ka.req.pod.containers.image[0] in (x)', 'compiled'],
  ])('%s: %s', (condition, expected) => {
    expect(reason(condition, { a: 'b', loop: 'loop' })).toBe(expected);
  });
});
