// Falco rule files loaded together: appends and overrides, exceptions, versions, sources, and the
// problems and warnings Falco gives, each with file, line and item.
import { describe, expect, it } from 'vitest';
import { RuleEngine } from '../../../src/rules/engine.js';
import { loadRuleTexts } from '../../../src/rules/load.js';
import { formatProblem } from '../../../src/rules/rule.js';
import { fired, K8S_AUDIT_RULES, loadFalco, loadRuleFiles, override, traceEvent } from './helpers.js';

const EVENT = {
  kind: 'Event',
  auditID: 'x-1',
  stage: 'ResponseComplete',
  verb: 'create',
  user: { username: 'alice' },
  objectRef: { resource: 'namespaces', name: 'foo' },
  responseStatus: { code: 201 },
  stageTimestamp: '2025-02-10T09:15:57.508657Z',
};

const rule = (name: string, condition: string, extra = ''): string =>
  `- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: ${name} (user=%ka.user.name)\n  priority: WARNING\n  source: k8s_audit\n${extra}`;

const problems = (texts: string[]): string[] => loadFalco(texts).problems.map(formatProblem);

describe("Falco's own rule file", () => {
  const loaded = loadRuleFiles([K8S_AUDIT_RULES]);

  it('loads unmodified: 48 rules, every one enabled, no problem and no warning', () => {
    expect(loaded.problems).toEqual([]);
    expect(loaded.warnings).toEqual([]);
    expect(loaded.rules).toHaveLength(48);
    expect(loaded.rules.every((r) => r.enabled && r.language === 'falco')).toBe(true);
    expect(new Set(loaded.rules.map((r) => r.priority))).toEqual(new Set(['debug', 'informational', 'notice', 'warning', 'error']));
    expect(loaded.rules[0]).toMatchObject({ name: 'Disallowed K8s User', priority: 'warning', tags: ['k8s'], source: { line: 154, column: 3 } });
    expect(loaded.rules.find((r) => r.name === 'Ingress Object without TLS Certificate Created')?.tags).toEqual(['k8s', 'network']);
  });

  it('keeps the rules that k8s_audit_never_true switches off from firing', () => {
    const everything = { ...traceEvent('create_configmap.json') };
    expect(fired(loaded, [everything], 'all')).not.toContain('All K8s Audit Events');
    expect(fired(loaded, [everything], 'all')).not.toContain('Full K8s Administrative Access');
  });
});

describe('lists', () => {
  it('splice earlier lists in, read later names and quoted items as values, and replace in place when redefined', () => {
    const loaded = loadFalco([
      '- list: inner\n  items: [a, b]\n- list: outer\n  items: [inner, later, \'"c d"\']\n- list: later\n  items: [z]\n' + rule('R', 'ka.user.name in (outer)'),
    ]);
    expect(loaded.problems).toEqual([]);
    const names = (user: string): string[] => fired(loaded, [{ ...EVENT, user: { username: user } }]);
    expect(names('a')).toEqual(['R']);
    expect(names('later')).toEqual(['R']);
    expect(names('c d')).toEqual(['R']);
    expect(names('z')).toEqual([]);
  });

  it('append: true and override append add items; override replace and a redefinition replace them', () => {
    const base = '- list: users\n  items: [alice]\n' + rule('R', 'ka.user.name in (users)');
    const names = (...more: string[]): boolean => fired(loadFalco([base, ...more]), [EVENT]).length > 0;
    expect(names()).toBe(true);
    expect(names('- list: users\n  items: [bob]\n')).toBe(false);
    expect(names('- list: users\n  items: [bob]\n  append: true\n')).toBe(true);
    expect(names('- list: users\n  items: [bob]\n  override:\n    items: append\n')).toBe(true);
    expect(names('- list: users\n  items: [bob]\n  override:\n    items: replace\n')).toBe(false);
  });

  it('upstream: appending foo to allowed_namespaces makes the namespace allowed', () => {
    const event = traceEvent('some-user_creates_namespace_foo.json');
    const before = loadRuleFiles([K8S_AUDIT_RULES, override('K8SAuditAllowUserSomeUser')]);
    const after = loadRuleFiles([K8S_AUDIT_RULES, override('K8SAuditAllowUserSomeUser'), override('K8SAuditAllowNamespaceFoo')]);
    expect(fired(before, [event])).toEqual(['Create Disallowed Namespace']);
    expect(fired(after, [event])).toEqual(['K8s Namespace Created']);
  });
});

describe('macros', () => {
  it('a later definition replaces a macro for every rule that uses it, earlier rules included', () => {
    const base = '- macro: allowed\n  condition: ka.user.name = alice\n' + rule('R', 'not allowed');
    expect(fired(loadFalco([base]), [EVENT])).toEqual([]);
    expect(fired(loadFalco([base, '- macro: allowed\n  condition: ka.user.name = bob\n']), [EVENT])).toEqual(['R']);
  });

  it('appends are text, joined with a space; override replace and append', () => {
    const base = '- macro: m\n  condition: ka.verb = create\n' + rule('R', 'm');
    const names = (more: string): string[] => fired(loadFalco([base, more]), [EVENT]);
    expect(names('- macro: m\n  condition: and ka.user.name = bob\n  append: true\n')).toEqual([]);
    expect(names('- macro: m\n  condition: or ka.user.name = bob\n  append: true\n')).toEqual(['R']);
    expect(names('- macro: m\n  condition: and ka.user.name = alice\n  override:\n    condition: append\n')).toEqual(['R']);
    expect(names('- macro: m\n  condition: ka.verb = delete\n  override:\n    condition: replace\n')).toEqual([]);
  });

  it('upstream: K8SAuditDisallowKactivity turns the activity rules off', () => {
    const event = traceEvent('create_service.json');
    expect(fired(loadRuleFiles([K8S_AUDIT_RULES]), [event])).toEqual(['K8s Service Created']);
    expect(fired(loadRuleFiles([K8S_AUDIT_RULES, override('K8SAuditDisallowKactivity')]), [event])).toEqual([]);
  });

  it('an undefined macro is an error at the rule; a problem inside a macro is reported once, at the macro', () => {
    expect(problems([rule('R', 'ka.verb = x and nope')])).toEqual(["a.yaml:3:14: rule \"R\": condition, line 1, column 17: Undefined macro 'nope' used in filter."]);
    expect(problems(['- macro: m\n  condition: ka.nope = 1\n' + rule('R1', 'm') + rule('R2', 'not m')])).toEqual([
      'a.yaml:2:14: macro "m": condition, line 1, column 1: filter_check called with nonexistent field ka.nope',
      'a.yaml:3:3: rule "R1": condition: uses macro \'m\', which has errors',
      'a.yaml:9:3: rule "R2": condition: uses macro \'m\', which has errors',
    ]);
    expect(problems(['- macro: m\n  condition: ka.verb = (\n'])).toEqual(['a.yaml:2:14: macro "m": condition, line 1, column 11: expected a string value or a field with a valid transformer']);
  });

  it('an error in appended text is reported where the appended text is', () => {
    expect(problems([rule('R', 'ka.verb = create'), '- rule: R\n  condition: and ka.nope exists\n  append: true\n'])).toEqual([
      'b.yaml:2:14: rule "R": condition, line 1, column 5: filter_check called with nonexistent field ka.nope',
    ]);
  });
});

describe('rules', () => {
  it('a redefinition replaces the rule where it first stood; rules run in that order under matching: first', () => {
    const loaded = loadFalco([rule('A', 'ka.verb = create') + rule('B', 'ka.verb = create'), rule('A', 'ka.user.name = alice')]);
    expect(loaded.rules.map((r) => [r.name, r.condition])).toEqual([
      ['A', 'ka.user.name = alice'],
      ['B', 'ka.verb = create'],
    ]);
    expect(fired(loaded, [EVENT])).toEqual(['A']);
  });

  it('append: true adds to the condition and the exceptions; other keys are ignored with a warning', () => {
    const loaded = loadFalco([rule('R', 'ka.verb = create'), '- rule: R\n  condition: and ka.user.name = bob\n  output: ignored\n  append: true\n']);
    expect(loaded.rules[0]!.condition).toBe('ka.verb = create and ka.user.name = bob');
    expect(fired(loaded, [EVENT])).toEqual([]);
    expect(loaded.warnings.map(formatProblem)).toEqual(['b.yaml:1:3: rule "R": Key \'output\' is ignored when appending to a rule (append adds to condition and exceptions)']);
  });

  it('override appends to condition, output, desc and tags, and replaces priority and enabled', () => {
    const loaded = loadFalco([
      rule('R', 'ka.verb = create', '  tags: [k8s]\n'),
      '- rule: R\n  condition: and ka.user.name = alice\n  output: (verb=%ka.verb)\n  desc: more\n  tags: [extra, k8s]\n  priority: ERROR\n  override:\n    condition: append\n    output: append\n    desc: append\n    tags: append\n    priority: replace\n',
    ]);
    expect(loaded.problems).toEqual([]);
    const r = loaded.rules[0]!;
    expect([r.condition, r.message.text, r.description, r.tags, r.priority]).toEqual(['ka.verb = create and ka.user.name = alice', 'R (user=%ka.user.name) (verb=%ka.verb)', 'd more', ['k8s', 'extra'], 'error']);
    expect(r.message.render(EVENT)).toBe('R (user=alice) (verb=create)');
    const off = loadFalco([rule('R', 'ka.verb = create'), '- rule: R\n  enabled: false\n  override:\n    enabled: replace\n']);
    expect(off.rules[0]!.enabled).toBe(false);
    expect(new RuleEngine(off.rules).rules).toEqual([]);
  });

  it('enabled alone turns a rule on or off; enabled: false in a definition ships it off', () => {
    expect(loadFalco([rule('R', 'ka.verb = create'), '- rule: R\n  enabled: false\n']).rules[0]!.enabled).toBe(false);
    expect(loadFalco([rule('R', 'ka.verb = create', '  enabled: false\n')]).rules[0]!.enabled).toBe(false);
  });

  it('refuses an incomplete rule, an append or override of nothing, and overrides that do not say what they change', () => {
    expect(
      problems([
        '- rule: Incomplete\n  condition: ka.verb = x\n  source: k8s_audit\n',
        '- rule: Nobody\n  condition: and x\n  append: true\n- list: nolist\n  items: [a]\n  append: true\n- macro: nomacro\n  condition: x\n  override:\n    condition: append\n- rule: Nobody2\n  enabled: false\n',
        rule('R', 'ka.verb = x') +
          '- rule: R\n  priority: ERROR\n  override:\n    priority: append\n- rule: R\n  condition: x\n  output: y\n  override:\n    condition: replace\n- rule: R\n  condition: x\n  append: true\n  override:\n    condition: append\n- rule: R\n  override:\n    output: replace\n',
      ]),
    ).toEqual([
      "a.yaml:1:3: rule \"Incomplete\": Item has no mapping for key 'output'",
      "a.yaml:1:3: rule \"Incomplete\": Item has no mapping for key 'desc'",
      "a.yaml:1:3: rule \"Incomplete\": Item has no mapping for key 'priority'",
      "b.yaml:1:3: rule \"Nobody\": Rule has 'append' key but no rule by that name already exists",
      "b.yaml:4:3: list \"nolist\": List has 'append' key but no list by that name already exists",
      "b.yaml:7:3: macro \"nomacro\": Macro has 'override' key but no macro by that name already exists",
      "b.yaml:11:3: rule \"Nobody2\": Rule has 'enabled' key but no rule by that name already exists",
      "c.yaml:10:5: rule \"R\": Key 'priority' cannot be appended to, use 'replace' instead",
      "c.yaml:11:3: rule \"R\": Key 'output' is given but not listed in override (with append or replace)",
      "c.yaml:16:3: rule \"R\": Keys 'override' and 'append: true' cannot be used together.",
      "c.yaml:23:5: rule \"R\": Key 'output' is listed in override but not given in the item",
    ]);
  });

  it('rules of other sources are loaded, skipped and warned about; appends to them are fine', () => {
    const loaded = loadFalco(['- rule: Shell\n  desc: d\n  condition: evt.type = execve and proc.name = bash\n  output: shell %proc.name\n  priority: NOTICE\n- rule: Shell\n  condition: and not user.name = root\n  append: true\n' + rule('R', 'ka.verb = create')]);
    expect(loaded.problems).toEqual([]);
    expect(loaded.rules.map((r) => r.name)).toEqual(['R']);
    expect(loaded.skipped).toBe(1);
    expect(loaded.warnings.map(formatProblem)).toEqual(['a.yaml:1:3: Unknown source syscall, skipping: 1 rule of this source in this file (the bridge evaluates k8s_audit rules)']);
  });

  it('skip-if-unknown-filter turns an unknown field into a warning and skips the rule', () => {
    const loaded = loadFalco([rule('R', 'ka.newfield = x', '  skip-if-unknown-filter: true\n') + rule('S', 'ka.verb = create')]);
    expect(loaded.problems).toEqual([]);
    expect(loaded.rules.map((r) => r.name)).toEqual(['S']);
    expect(loaded.warnings.map(formatProblem)).toEqual(['a.yaml:3:14: rule "R": condition, line 1, column 1: filter_check called with nonexistent field ka.newfield; skipped (skip-if-unknown-filter)']);
  });

  it('reports output problems with their position', () => {
    expect(problems(['- rule: R\n  desc: d\n  condition: ka.verb = x\n  output: "bad %ka.nope and %ka.uri.param"\n  priority: INFO\n  source: k8s_audit\n'])).toEqual([
      'a.yaml:4:11: rule "R": output, line 1, column 5: invalid formatting token %ka.nope: no such field',
    ]);
    expect(problems(['- rule: R\n  desc: d\n  condition: ka.verb = x\n  output: "%ka.uri.param and more"\n  priority: INFO\n  source: k8s_audit\n'])).toEqual([
      'a.yaml:4:11: rule "R": output, line 1, column 1: filter ka.uri.param requires an argument',
    ]);
  });
});

describe('exceptions', () => {
  const base = rule(
    'R',
    'ka.verb = create',
    '  exceptions:\n    - name: by_user\n      fields: ka.user.name\n      values: [bob]\n    - name: user_and_ns\n      fields: [ka.user.name, ka.target.name]\n      comps: [=, in]\n      values:\n        - [alice, [bar, baz]]\n',
  );

  it('single-field values join one list; tuples are and-ed, rows or-ed; the rule fires when no exception holds', () => {
    const loaded = loadFalco([base]);
    expect(loaded.problems).toEqual([]);
    expect(fired(loaded, [EVENT])).toEqual(['R']);
    expect(fired(loaded, [{ ...EVENT, user: { username: 'bob' } }])).toEqual([]);
    expect(fired(loaded, [{ ...EVENT, objectRef: { resource: 'namespaces', name: 'baz' } }])).toEqual([]);
    expect(fired(loaded, [{ ...EVENT, user: { username: 'carol' }, objectRef: { resource: 'namespaces', name: 'baz' } }])).toEqual(['R']);
  });

  it('appended values join the exception of the same name; list names are lists', () => {
    const more = '- list: trusted\n  items: [alice, dave]\n- rule: R\n  exceptions:\n    - name: by_user\n      values: [trusted]\n  append: true\n';
    const loaded = loadFalco([base, more]);
    expect(loaded.problems).toEqual([]);
    expect(fired(loaded, [EVENT])).toEqual([]);
    expect(fired(loaded, [{ ...EVENT, user: { username: 'carol' } }])).toEqual(['R']);
  });

  it('refuses exceptions Falco refuses', () => {
    expect(
      problems([
        rule('R', 'ka.verb = create', '  exceptions:\n    - name: uneven\n      fields: [ka.user.name, ka.verb]\n      values: [[a]]\n    - name: badfield\n      fields: [ka.nope]\n      values: [[a]]\n    - name: badcomp\n      fields: [ka.verb]\n      comps: [like]\n      values: [[a]]\n'),
        '- rule: R\n  exceptions:\n    - name: uneven\n      fields: [ka.verb]\n      values: [[b]]\n  append: true\n',
      ]),
    ).toEqual([
      "a.yaml:8:7: rule \"R\": exception 'uneven': fields and values lists must have equal length",
      "a.yaml:11:7: rule \"R\": exception 'badfield': filter_check called with nonexistent field ka.nope",
      "a.yaml:14:7: rule \"R\": exception 'badcomp': comparison operator 'like' is not a supported comparison operator",
      "b.yaml:3:7: rule \"R\": exception 'uneven': can not append fields or comps to an existing exception, only values",
    ]);
  });
});

describe('engine and plugin versions', () => {
  it('accepts what this engine meets; refuses newer engines and plugins, as Falco does', () => {
    expect(problems(['- required_engine_version: 15\n- required_engine_version: 0.62.0\n- required_engine_version: "0.26"\n'])).toEqual([]);
    expect(problems(['- required_engine_version: 0.99.0\n- required_engine_version: 1000\n- required_engine_version: soon\n'])).toEqual([
      'a.yaml:1:28: Rules require engine version 0.99.0, but engine version is 0.62.0',
      'a.yaml:2:28: Rules require engine version 0.1000.0, but engine version is 0.62.0',
      "a.yaml:3:28: Unable to parse engine version 'soon' as a semantic version",
    ]);
    const plugins = '- required_plugin_versions:\n    - name: k8saudit\n      version: 0.99.0\n    - name: json\n      version: 0.7.0\n    - name: k8saudit-eks\n      version: 9.0.0\n    - name: cloudtrail\n      version: 0.1.0\n';
    const loaded = loadFalco([plugins]);
    expect(loaded.problems.map(formatProblem)).toEqual(["a.yaml:2:7: Plugin 'k8saudit' version '0.18.0' is not compatible with required plugin version '0.99.0'"]);
    expect(loaded.warnings.map(formatProblem)).toEqual(['a.yaml:8:7: Plugin requirement not satisfied, must load one of: cloudtrail (>= 0.1.0)']);
    expect(problems(['- required_plugin_versions:\n    - name: k8saudit\n      version: 0.99.0\n      alternatives:\n        - name: k8saudit-gke\n          version: 0.9.0\n'])).toEqual([]);
  });
});

describe('warnings and item shapes', () => {
  it('warns about unused macros and lists, unknown keys and unknown items; refuses items that are not mappings', () => {
    const loaded = loadFalco(['- macro: unused\n  condition: ka.verb = x\n- list: lonely\n  items: []\n- something: else\n- just text\n' + rule('R', 'ka.verb = x', '  colour: blue\n')]);
    expect(loaded.problems.map(formatProblem)).toEqual(['a.yaml:6:3: Unexpected element type. Each element should be a yaml associative array.']);
    expect(loaded.warnings.map(formatProblem)).toEqual([
      'a.yaml:1:3: macro "unused": Macro not referred to by any other rule/macro',
      'a.yaml:3:3: list "lonely": List not referred to by any other rule/macro',
      'a.yaml:5:3: Unknown top level item (keys: something), ignored',
      "a.yaml:13:3: rule \"R\": Unexpected key 'colour', ignored",
    ]);
  });

  it('reads the legacy EngineV4 rule file with no problem and no warning', () => {
    const loaded = loadRuleFiles([override('K8SAuditEngineV4K8SAuditRules')]);
    expect([loaded.problems, loaded.warnings, loaded.rules.length]).toEqual([[], [], 32]);
  });
});

describe('Falco and jpath files together', () => {
  const jpath = 'rules:\n  - name: Jpath create\n    condition: jpath("verb") = "create"\n    message: m\n    priority: notice\n';

  it('run in the order their rules were first defined, file by file', () => {
    const falcoFirst = loadRuleTexts([
      { file: 'f.yaml', text: rule('Falco create', 'ka.verb = create') },
      { file: 'j.yaml', text: jpath },
    ]);
    const jpathFirst = loadRuleTexts([
      { file: 'j.yaml', text: jpath },
      { file: 'f.yaml', text: rule('Falco create', 'ka.verb = create') },
    ]);
    expect(falcoFirst.problems).toEqual([]);
    expect(fired(falcoFirst, [EVENT])).toEqual(['Falco create']);
    expect(fired(jpathFirst, [EVENT])).toEqual(['Jpath create']);
    expect(fired(jpathFirst, [EVENT], 'all')).toEqual(['Jpath create', 'Falco create']);
  });

  it('refuses a Falco rule with the name of a jpath rule', () => {
    const loaded = loadRuleTexts([
      { file: 'j.yaml', text: jpath },
      { file: 'f.yaml', text: rule('Jpath create', 'ka.verb = create') },
    ]);
    expect(loaded.problems.map(formatProblem)).toEqual(['f.yaml:1:3: rule "Jpath create": a jpath rule of this name is loaded too (j.yaml:2); rule names must be unique across rule languages']);
  });
});
