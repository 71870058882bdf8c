import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enableRules, RuleEngine } from '../../src/rules/engine.js';
import { loadRuleFiles, loadRuleTexts } from '../../src/rules/load.js';
import { formatProblem } from '../../src/rules/rule.js';
import { tempDir } from '../helpers/fs.js';

const BASE = `
rules:
  - name: Exec into pod
    condition: jpath("objectRef.subresource") = "exec"
    message: exec by {user.username}
    priority: NOTICE
    tags: [k8s, access]
    enabled: false
  - name: Any create
    description: every create
    condition: >-
      jpath("verb") = "create"
      and jpath("stage") = "ResponseComplete"
    output: create of {objectRef.resource}
    priority: info
`;

const EXEC = { verb: 'create', stage: 'ResponseStarted', objectRef: { resource: 'pods', subresource: 'exec' }, user: { username: 'bob' } };
const CREATE = { verb: 'create', stage: 'ResponseComplete', objectRef: { resource: 'pods' }, user: { username: 'bob' } };

function problems(files: { file: string; text: string }[]): string[] {
  return loadRuleTexts(files).problems.map(formatProblem);
}

describe('rule files', () => {
  it('loads rules in order with their fields and defaults', () => {
    const { rules, problems } = loadRuleTexts([{ file: 'base.yaml', text: BASE }]);
    expect(problems).toEqual([]);
    expect(rules.map((r) => [r.name, r.priority, r.tags, r.enabled, r.description, r.source.line])).toEqual([
      ['Exec into pod', 'notice', ['k8s', 'access'], false, undefined, 3],
      ['Any create', 'informational', [], true, 'every create', 9],
    ]);
    expect(rules[1]!.predicate(CREATE)).toBe(true);
    expect(rules[1]!.message.render(CREATE)).toBe('create of pods');
  });

  it('a later file replaces a rule of the same name where it stood; defaults apply again', () => {
    const override = `
rules:
  - name: Exec into pod
    condition: jpath("objectRef.subresource") in ("exec", "attach")
    message: exec or attach by {user.username}
    priority: warning
  - name: Third
    condition: jpath("verb") = "delete"
    message: delete
    priority: error
`;
    const { rules, problems } = loadRuleTexts([
      { file: 'base.yaml', text: BASE },
      { file: 'local.yaml', text: override },
    ]);
    expect(problems).toEqual([]);
    expect(rules.map((r) => r.name)).toEqual(['Exec into pod', 'Any create', 'Third']);
    const exec = rules[0]!;
    expect([exec.priority, exec.enabled, exec.tags, exec.source.file]).toEqual(['warning', true, [], 'local.yaml']);
    expect(exec.predicate({ objectRef: { subresource: 'attach' } })).toBe(true);
  });

  it('an entry without a condition changes the fields it gives of an earlier rule', () => {
    const change = `
rules:
  - name: Exec into pod
    enabled: true
    priority: CRITICAL
  - name: Any create
    tags: [noisy]
    message: changed {verb}
`;
    const { rules, problems } = loadRuleTexts([
      { file: 'base.yaml', text: BASE },
      { file: 'change.yaml', text: change },
    ]);
    expect(problems).toEqual([]);
    expect(rules.map((r) => [r.name, r.enabled, r.priority, r.tags, r.condition.slice(0, 28)])).toEqual([
      ['Exec into pod', true, 'critical', ['k8s', 'access'], 'jpath("objectRef.subresource'],
      ['Any create', true, 'informational', ['noisy'], 'jpath("verb") = "create" and'],
    ]);
    expect(rules[1]!.message.render(CREATE)).toBe('changed create');
  });

  it('reports every problem with file, line, column and rule', () => {
    const bad = `
rules:
  - name: Broken condition
    condition: jpath("verb") = "create" and
    message: m
    priority: warning
  - name: Broken message
    condition: jpath("verb") = "create"
    message: "user={user.username"
    priority: warning
  - name: Bad fields
    condition: jpath("verb") = "create"
    message: m
    priority: urgent
    tags: k8s
    enabled: "yes"
    condtion: typo
  - name: No message
    condition: jpath("verb") = "create"
    priority: debug
  - name: Broken condition
    condition: jpath("verb") = "create"
    message: m
    priority: debug
  - name: Nobody defined me
    enabled: true
  - name: Falco language
    language: falco
    condition: ka.verb = create
    message: m
    priority: debug
  - condition: jpath("verb") = "x"
`;
    expect(problems([{ file: 'bad.yaml', text: bad }])).toEqual([
      'bad.yaml:4:16: rule "Broken condition": condition, line 1, column 29: expected jpath("…"), "not" or "(", found the end of the condition',
      'bad.yaml:9:14: rule "Broken message": message, line 1, column 6: expected "}" to close the placeholder that starts here (write {{ for a literal brace)',
      'bad.yaml:14:15: rule "Bad fields": priority: expected one of emergency, alert, critical, error, warning, notice, informational (or info), debug, found "urgent"',
      'bad.yaml:15:11: rule "Bad fields": tags: expected a list of non-empty strings, such as [k8s, rbac], found "k8s"',
      'bad.yaml:16:14: rule "Bad fields": enabled: expected true or false, found "yes"',
      'bad.yaml:17:5: rule "Bad fields": unknown key "condtion"; expected one of name, condition, message, output, priority, tags, enabled, description, desc, language',
      'bad.yaml:18:5: rule "No message": expected message (a rule needs name, condition, message and priority)',
      'bad.yaml:21:5: rule "Broken condition": defined twice in this file (first at line 3); a later file may override it',
      'bad.yaml:25:5: rule "Nobody defined me": expected condition (a new rule needs name, condition, message and priority; an entry without a condition changes the enabled, priority, tags, message or description of a rule loaded before it, and no rule of this name was)',
      'bad.yaml:28:15: rule "Falco language": language: falco rules are written in Falco rule files (a top-level list of - rule:, - macro: and - list: items), not in a rules: list; expected jpath',
      'bad.yaml:32:5: expected name: a non-empty string',
    ]);
  });

  it('reports file-level problems: YAML syntax, shape, empty files; a top-level list is read as a Falco file', () => {
    expect(
      problems([
        { file: 'syntax.yaml', text: 'rules:\n  - name: a\n    condition: [unclosed\n' },
        { file: 'list.yaml', text: '- rule: Falco rule\n  condition: ka.verb=create\n' },
        { file: 'empty.yaml', text: '' },
        { file: 'other.yaml', text: 'rulez: []\n' },
        { file: 'notalist.yaml', text: 'rules: {a: 1}\n' },
        { file: 'norules.yaml', text: 'rules:\n' },
      ]),
    ).toEqual([
      expect.stringMatching(/^syntax\.yaml:\d+:\d+: not valid YAML: /),
      "list.yaml:1:3: rule \"Falco rule\": Item has no mapping for key 'output'",
      "list.yaml:1:3: rule \"Falco rule\": Item has no mapping for key 'desc'",
      "list.yaml:1:3: rule \"Falco rule\": Item has no mapping for key 'priority'",
      'empty.yaml:1:1: expected a mapping with a rules: list (or, for a Falco rule file, a list of rule, macro and list items), found an empty file',
      'other.yaml:1:1: unknown key "rulez"; expected rules',
      'other.yaml:1:1: expected a rules: list',
      'notalist.yaml:1:8: rules: expected a list of rules',
    ]);
  });

  it('globs expand in order, sorted within a glob; a glob matching nothing and an unreadable file are problems', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'rules.d'));
    const rule = (name: string): string => `rules:\n  - name: ${name}\n    condition: jpath("verb") = "${name}"\n    message: m\n    priority: debug\n`;
    await writeFile(join(dir, 'rules.d', 'b.yaml'), rule('b'));
    await writeFile(join(dir, 'rules.d', 'a.yaml'), rule('a'));
    await writeFile(join(dir, 'first.yaml'), rule('first'));
    const loaded = loadRuleFiles(['first.yaml', 'rules.d/*.yaml', 'none/*.yaml', 'missing.yaml', join(dir, 'rules.d', 'a.yaml')], { cwd: dir });
    expect(loaded.files).toEqual(['first.yaml', 'rules.d/a.yaml', 'rules.d/b.yaml', 'missing.yaml']);
    expect(loaded.rules.map((r) => r.name)).toEqual(['first', 'a', 'b']);
    expect(loaded.problems.map(formatProblem)).toEqual([
      'none/*.yaml: no rule file matches this pattern',
      expect.stringMatching(/^missing\.yaml: cannot read the file: ENOENT/),
    ]);
  });
});

describe('enabling rules and evaluating them', () => {
  const { rules } = loadRuleTexts([{ file: 'base.yaml', text: BASE }]);

  it('enables by all, by name and by tag; selectors naming nothing are problems', () => {
    const enabledNames = (selectors: string[]): string[] => enableRules(rules, selectors).rules.filter((r) => r.enabled).map((r) => r.name);
    expect(enabledNames([])).toEqual(['Any create']);
    expect(enabledNames(['all'])).toEqual(['Exec into pod', 'Any create']);
    expect(enabledNames(['Exec into pod'])).toEqual(['Exec into pod', 'Any create']);
    expect(enabledNames(['tag:access'])).toEqual(['Exec into pod', 'Any create']);
    expect(enableRules(rules, ['tag:nope', 'Exec', 'all']).problems).toEqual([
      'enable "tag:nope": no rule has the tag "nope"',
      'enable "Exec": no rule has this name (expected all, a rule name or tag:TAG)',
    ]);
    // Enabling returns new rules: the loaded ones are untouched.
    expect(rules[0]!.enabled).toBe(false);
  });

  it('first matching rule only by default; every matching rule with all; disabled rules never fire', () => {
    const all = enableRules(rules, ['all']).rules;
    const both = { ...CREATE, objectRef: { resource: 'pods', subresource: 'exec' } };
    expect(new RuleEngine(all).match(both).map((r) => r.name)).toEqual(['Exec into pod']);
    expect(new RuleEngine(all, 'all').match(both).map((r) => r.name)).toEqual(['Exec into pod', 'Any create']);
    expect(new RuleEngine(rules, 'all').match(both).map((r) => r.name)).toEqual(['Any create']);
    expect(new RuleEngine(rules, 'all').match(EXEC)).toEqual([]);
    expect(new RuleEngine(all, 'first').match({})).toEqual([]);
  });
});
