import { describe, expect, it } from 'vitest';
import { RuleEngine } from '../../src/rules/engine.js';
import { compileJpath } from '../../src/rules/jpath/compile.js';
import { loadRuleTexts } from '../../src/rules/load.js';

// One event with every shape the semantics cover: strings, numbers, booleans, null, arrays of
// strings, of objects, nested arrays, an empty array, keys with dots and digit keys.
const EVENT = {
  stage: 'ResponseComplete',
  verb: 'create',
  user: { uid: '1234', username: 'some-user-name', groups: ['group1', 'group2'] },
  objectRef: { resource: 'pods', namespace: 'default' },
  responseStatus: { code: 201 },
  requestObject: {
    spec: {
      containers: [
        { name: 'nginx', image: 'nginx:1.25', securityContext: { privileged: true }, ports: [{ containerPort: 80 }, { containerPort: 443 }] },
        { name: 'sidecar', image: 'busybox', ports: [{ containerPort: 9090 }] },
      ],
      hostNetwork: false,
      volumes: [],
      nodeSelector: null,
    },
  },
  annotations: { 'authorization.k8s.io/decision': 'allow', cluster_name: 'prod' },
  matrix: [[1, 2], [3]],
  count: 10,
  negative: -5,
  empty: '',
  '0': 'zero-key',
  obj: { '0': 'digit-key' },
};

// [expression, expected] against EVENT.
const TABLE: [string, boolean][] = [
  // = on strings, numbers, booleans; case-sensitive
  ['jpath("verb") = "create"', true],
  ['jpath("verb") = "CREATE"', false],
  ['jpath("verb") = "creat"', false],
  ['jpath("responseStatus.code") = 201', true],
  ['jpath("responseStatus.code") = "201"', true],
  ['jpath("responseStatus.code") = 200', false],
  ['jpath("user.uid") = 1234', true],
  ['jpath("requestObject.spec.hostNetwork") = "false"', true],
  ['jpath("requestObject.spec.containers.securityContext.privileged") = "true"', true],
  ['jpath("empty") = ""', true],
  // !=: true when no value equals, and when the path is missing
  ['jpath("verb") != "delete"', true],
  ['jpath("verb") != "create"', false],
  ['jpath("missing.path") != "x"', true],
  ['jpath("user.groups") != "group3"', true],
  ['jpath("user.groups") != "group2"', false],
  ['jpath("requestObject.spec.volumes") != "x"', true],
  // ordering: numbers numerically, everything else as text by code unit
  ['jpath("responseStatus.code") >= 200', true],
  ['jpath("responseStatus.code") < 300', true],
  ['jpath("responseStatus.code") > 201', false],
  ['jpath("responseStatus.code") <= 201', true],
  ['jpath("count") > 9', true],
  ['jpath("count") > "9"', false],
  ['jpath("user.uid") > 999', false],
  ['jpath("user.uid") < "2"', true],
  ['jpath("negative") < -4', true],
  ['jpath("negative") >= 0', false],
  ['jpath("verb") > "apply"', true],
  ['jpath("verb") < "Z"', false],
  // contains and startswith: substring of the value's text
  ['jpath("user.username") contains "user"', true],
  ['jpath("user.username") contains "USER"', false],
  ['jpath("user.groups") contains "roup"', true],
  ['jpath("responseStatus.code") contains 20', true],
  ['jpath("responseStatus.code") startswith "2"', true],
  ['jpath("user.username") startswith "some-"', true],
  ['jpath("user.username") startswith "user"', false],
  ['jpath("empty") startswith ""', true],
  // contains on objects and arrays: compact JSON without quotes
  ['jpath("requestObject.spec.containers") contains "privileged:true"', true],
  ['jpath("requestObject.spec.containers") contains "\\"privileged\\":true"', false],
  ['jpath("requestObject.spec.containers") contains "name:nginx,image:nginx:1.25"', true],
  ['jpath("requestObject.spec") contains "hostNetwork:false"', true],
  ['jpath("requestObject.spec") contains "ports:[{containerPort:80},{containerPort:443}]"', true],
  ['jpath("annotations") contains "cluster_name:prod"', true],
  ['jpath("requestObject.spec.containers") = "{name:sidecar,image:busybox,ports:[{containerPort:9090}]}"', true],
  // in: any value equals any listed literal
  ['jpath("verb") in ("create", "update")', true],
  ['jpath("verb") in ("get")', false],
  ['jpath("responseStatus.code") in (200, 201)', true],
  ['jpath("responseStatus.code") in ("201")', true],
  ['jpath("user.groups") in ("x", "group2")', true],
  ['jpath("user.groups") in ("x", "y")', false],
  // arrays: keys map over elements, numeric segments index, nested arrays flatten
  ['jpath("requestObject.spec.containers.image") = "busybox"', true],
  ['jpath("requestObject.spec.containers.1.image") = "busybox"', true],
  ['jpath("requestObject.spec.containers.0.image") = "busybox"', false],
  ['jpath("requestObject.spec.containers.5.image") != "busybox"', true],
  ['jpath("requestObject.spec.containers.ports.containerPort") = 9090', true],
  ['jpath("requestObject.spec.containers.ports.0.containerPort") = 443', false],
  ['jpath("requestObject.spec.containers.ports.1.containerPort") = 443', true],
  ['jpath("requestObject.spec.containers.ports.containerPort") > 8000', true],
  ['jpath("matrix") = 3', true],
  ['jpath("matrix.1") = 3', true],
  ['jpath("requestObject.spec.volumes") = "x"', false],
  // missing paths: every comparison but != is false; null is missing; not can make it true
  ['jpath("missing") = "x"', false],
  ['jpath("missing") contains ""', false],
  ['jpath("missing") startswith ""', false],
  ['jpath("missing") in ("x")', false],
  ['jpath("missing") < 1', false],
  ['jpath("missing") >= ""', false],
  ['jpath("requestObject.spec.nodeSelector") = "null"', false],
  ['jpath("requestObject.spec.nodeSelector") != "null"', true],
  ['jpath("verb.length") = 6', false],
  ['jpath("user.constructor") != "x"', true],
  ['not jpath("missing") = "x"', true],
  // keys with dots and digits
  ['jpath("annotations.authorization\\.k8s\\.io/decision") = "allow"', true],
  ['jpath("annotations.authorization.k8s.io/decision") = "allow"', false],
  ['jpath("0") = "zero-key"', true],
  ['jpath("obj.0") = "digit-key"', true],
  // precedence: comparisons, then not, then and, then or; parentheses; left associativity
  ['jpath("verb") = "create" or jpath("verb") = "x" and jpath("verb") = "y"', true],
  ['(jpath("verb") = "create" or jpath("verb") = "x") and jpath("verb") = "y"', false],
  ['not jpath("verb") = "create" and jpath("stage") = "ResponseComplete"', false],
  ['not (jpath("verb") = "delete" and jpath("stage") = "ResponseComplete")', true],
  ['not jpath("verb") = "delete" and jpath("stage") = "ResponseComplete"', true],
  ['not not jpath("verb") = "create"', true],
  ['jpath("verb") = "x" or jpath("verb") = "y" or jpath("verb") = "create"', true],
  ['jpath("verb") = "create" and jpath("stage") = "ResponseComplete" and jpath("count") = 11', false],
  ['jpath("verb") = "x" and jpath("verb") = "y" or jpath("stage") = "ResponseComplete"', true],
  // comments (Twistlock scripts start with // lines), whitespace and line breaks
  ['// privileged pods\n// by anyone\njpath("verb") = "create"', true],
  ['jpath("verb")\n  =\n  "create"', true],
];

describe('jpath semantics (src/rules/README.md)', () => {
  it('has at least 50 rows', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(50);
  });

  it.each(TABLE)('%s → %s', (expression, expected) => {
    expect(compileJpath(expression)(EVENT)).toBe(expected);
  });

  it('a predicate is pure: the same answer every time, the event untouched', () => {
    const before = JSON.stringify(EVENT);
    const p = compileJpath('jpath("requestObject.spec.containers") contains "privileged:true" and jpath("missing") != "x"');
    expect([p(EVENT), p(EVENT), p(EVENT)]).toEqual([true, true, true]);
    expect(JSON.stringify(EVENT)).toBe(before);
  });

  it('reads an object changed between evaluations afresh (texts are cached only within one evaluation)', () => {
    const rules = loadRuleTexts([
      {
        file: 'r.yaml',
        text: 'rules:\n  - name: a\n    condition: jpath("data") contains "password"\n    message: m\n    priority: info\n  - name: b\n    condition: jpath("data") contains "token"\n    message: m\n    priority: info\n',
      },
    ]).rules;
    const engine = new RuleEngine(rules, 'all');
    const event = { data: { key: 'password' } };
    expect(engine.match(event).map((r) => r.name)).toEqual(['a']);
    event.data.key = 'token';
    expect(engine.match(event).map((r) => r.name)).toEqual(['b']);
  });

  it('any JSON value is a valid event: scalars, arrays and null never throw', () => {
    const p = compileJpath('jpath("a.b") = "x" or jpath("a") != "y" or jpath("0") contains "z"');
    for (const value of [null, 1, 'text', true, [], [1, [2]], {}, { a: null }, { a: [null, { b: 'x' }] }]) {
      expect(typeof p(value)).toBe('boolean');
    }
    expect(p({ a: [null, { b: 'x' }] })).toBe(true);
  });
});

describe('the published Prisma Cloud / Twistlock examples (samples/prisma-rules.md)', () => {
  // The documented sample event, verbatim.
  const SAMPLE = { user: { uid: '1234', username: 'some-user-name', groups: ['group1', 'group2'] }, stage: 'ResponseComplete' };

  it.each([
    'jpath("user.uid") = "1234"',
    'jpath("user.username") = "some-user-name"',
    'jpath("stage") = "ResponseComplete"',
    'jpath("user.groups") contains "group1"',
    'jpath("user.groups") in ("group1","group2")',
  ])('%s is true for the documented sample event', (expression) => {
    expect(compileJpath(expression)(SAMPLE)).toBe(true);
  });

  it('the general form compiles and is false where the path is missing', () => {
    expect(compileJpath('jpath("path.in.json.object") = "something"')(SAMPLE)).toBe(false);
    expect(compileJpath('jpath("path.in.json.object") = "something"')({ path: { in: { json: { object: 'something' } } } })).toBe(true);
  });

  const TWISTLOCK =
    'jpath("stage") = "ResponseComplete" and jpath("objectRef.resource") = "pods" and jpath("verb") = "create" and jpath("requestObject.spec.containers") contains "privileged:true"';

  it('Twistlock\'s privileged-pod rule fires on Falco\'s privileged pod events, as written', async () => {
    const { readJsonLines, FIXTURES } = await import('../helpers/events.js');
    const rule = compileJpath(TWISTLOCK);
    const events = (name: string): unknown[] => readJsonLines(`${FIXTURES}rules/events/${name}.json`);
    expect(events('falco_create_nginx_pod_privileged').map(rule)).toEqual([true]);
    expect(events('falco_create_nginx_pod_no_secctx_1st_container_privileged_2nd_container').map(rule)).toEqual([true]);
    expect(events('falco_create_nginx_pod_unprivileged').map(rule)).toEqual([false]);
    expect(events('falco_create_nginx_pod_hostnetwork').map(rule)).toEqual([false]);
    expect(events('falco_exec_pod').map(rule)).toEqual([false]);
  });
});
