import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

const LIBRARY = 'config/rules/library.yaml';
const fixture = (name: string): string => join(FIXTURES, 'rules/events', `${name}.json`);

function alerts(stdout: string): { rule: string; auditID: string | null; priority: string; hostname: string; source: string }[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { rule: string; auditID: string | null; priority: string; hostname: string; source: string });
}

describe('kube-audit-bridge rules check', () => {
  it('exit 0 and a summary for the shipped library', async () => {
    expect(await runCli(['rules', 'check', LIBRARY])).toEqual({ code: 0, stdout: '15 rules (0 enabled) in 1 file: ok\n', stderr: '' });
  });

  it('exit 1 with every problem: file, position and rule', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'rules:\n  - name: One\n    condition: jpath("verb") = create\n    message: m\n    priority: warning\n  - name: Two\n    condition: jpath("verb") = "x"\n    message: "{oops"\n    priority: loud\n');
    const result = await runCli(['rules', 'check', LIBRARY, bad, join(dir, 'absent-*.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `${join(dir, 'absent-*.yaml')}: no rule file matches this pattern\n` +
        `${bad}:3:16: rule "One": condition, line 1, column 17: expected a string in double quotes or an integer after =, found the word "create"\n` +
        `${bad}:8:14: rule "Two": message, line 1, column 1: expected "}" to close the placeholder that starts here (write {{ for a literal brace)\n` +
        `${bad}:9:15: rule "Two": priority: expected one of emergency, alert, critical, error, warning, notice, informational (or info), debug, found "loud"\n` +
        '4 problems in 2 files\n',
    );
  });
});

describe('kube-audit-bridge rules test', () => {
  it('prints Falco-shaped alerts as JSON lines for a JSON array of events', async () => {
    const dir = await tempDir();
    const events = join(dir, 'events.json');
    const lines = ['falco_create_nginx_pod_privileged', 'falco_exec_pod', 'falco_create_nginx_pod_unprivileged'].map((n) => readFileSync(fixture(n), 'utf8').trim());
    await writeFile(events, `[${lines.join(',\n')}]`);
    const result = await runCli(['rules', 'test', '--rules', LIBRARY, '--enable', 'all', events]);
    expect(result.code).toBe(0);
    expect(alerts(result.stdout).map((a) => [a.rule, a.priority, a.source, a.hostname])).toEqual([
      ['Privileged pod created', 'Warning', 'k8s_audit', hostname()],
      ['Pod exec or attach', 'Notice', 'k8s_audit', hostname()],
    ]);
    expect(result.stderr).toBe('3 events, 2 alerts\n');
  });

  it('reads JSON lines and EventLists from stdin; --enable repeats; rules shipped disabled stay off', async () => {
    const exec = readFileSync(fixture('falco_exec_pod'), 'utf8').trim();
    const list = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [JSON.parse(readFileSync(fixture('falco_create_nginx_service_nodeport'), 'utf8'))] });
    const configmaps = readFileSync(fixture('falco_create_configmap_sensitive_values'), 'utf8');
    const input = `${exec}\n${list}\n${configmaps}\n42\n`;
    const result = await runCli(['rules', 'test', '--rules', LIBRARY, '--enable', 'tag:access', '--enable', 'NodePort service created'], { input });
    expect(result.code).toBe(0);
    expect(alerts(result.stdout).map((a) => a.rule)).toEqual(['Pod exec or attach', 'NodePort service created']);
    expect(result.stderr).toBe('line 10: skipped: expected an audit event (a JSON object), got 42\n8 events, 2 alerts\n');
  });

  it('--matching first raises the first matching rule only; all raises every one', async () => {
    const dir = await tempDir();
    const rules = join(dir, 'rules.yaml');
    await writeFile(
      rules,
      'rules:\n  - name: Exec\n    condition: jpath("objectRef.subresource") = "exec"\n    message: exec {objectRef.name}\n    priority: notice\n' +
        '  - name: Minikube user\n    condition: jpath("user.username") = "minikube-user"\n    message: by {user.username}\n    priority: info\n',
    );
    const first = await runCli(['rules', 'test', '--rules', rules, fixture('falco_exec_pod')]);
    const all = await runCli(['rules', 'test', '--rules', rules, '--matching', 'all', fixture('falco_exec_pod')]);
    expect(alerts(first.stdout).map((a) => a.rule)).toEqual(['Exec']);
    expect(alerts(all.stdout).map((a) => [a.rule, a.priority])).toEqual([
      ['Exec', 'Notice'],
      ['Minikube user', 'Informational'],
    ]);
  });

  it('exit 1 when the rules cannot be loaded or --enable names nothing; exit 2 when the events cannot be read', async () => {
    const missingRules = await runCli(['rules', 'test', '--rules', 'nope.yaml', fixture('falco_exec_pod')]);
    expect(missingRules.code).toBe(1);
    expect(missingRules.stderr).toMatch(/^nope\.yaml: cannot read the file: ENOENT/);
    const badEnable = await runCli(['rules', 'test', '--rules', LIBRARY, '--enable', 'tag:nope', fixture('falco_exec_pod')]);
    expect(badEnable).toMatchObject({ code: 1, stderr: 'enable "tag:nope": no rule has the tag "nope"\n' });
    const noEvents = await runCli(['rules', 'test', '--rules', LIBRARY, 'nope.json']);
    expect(noEvents.code).toBe(2);
    expect(noEvents.stderr).toMatch(/rules test: cannot read nope\.json: ENOENT/);
    const garbage = await runCli(['rules', 'test', '--rules', LIBRARY, '-'], { input: 'not json at all\n' });
    expect(garbage).toMatchObject({ code: 2, stderr: expect.stringContaining('rules test: unreadable input: neither JSON nor JSON lines') as unknown });
  });
});

describe('a config with a rules sink', () => {
  it('validate checks its rule files and enable list: exit 2 naming the sink; exit 0 when they are good', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'rules:\n  - name: One\n    condition: jpath("verb") =\n    message: m\n    priority: warning\n');
    const config = (rules: string[], enable: string[]): string =>
      `sources: [{ name: onprem, type: eks, region: eu-west-1, cluster: c }]\nsinks:\n  - name: out\n    type: stdout\n  - name: detections\n    type: rules\n    rules: ${JSON.stringify(rules)}\n    enable: ${JSON.stringify(enable)}\n    alerts: [{ type: stdout }]\n`;
    const badConfig = join(dir, 'bad-config.yaml');
    await writeFile(badConfig, config([LIBRARY, bad], ['tag:nope']));
    const result = await runCli(['validate', '--config', badConfig]);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toBe(
      `${badConfig}: 2 problems:\n` +
        `  sinks[1].rules: ${bad}:3:16: rule "One": condition, line 1, column 16: expected a string in double quotes or an integer after =, found the end of the condition\n` +
        '  sinks[1].rules: enable "tag:nope": no rule has the tag "nope"\n',
    );
    const goodConfig = join(dir, 'good-config.yaml');
    await writeFile(goodConfig, config([LIBRARY], ['tag:rbac']));
    expect(await runCli(['validate', '--config', goodConfig])).toMatchObject({ code: 0, stdout: expect.stringContaining('sinks: out (stdout), detections (rules)') as unknown });
  });
});

describe('Falco rule files with rules check and rules test', () => {
  const FALCO = join(FIXTURES, 'falco');
  const RULES = join(FALCO, 'k8s_audit_rules.yaml');
  const overrideFile = (name: string): string => join(FALCO, 'test-overrides', `${name}.yaml`);
  const trace = (name: string): string => join(FALCO, 'events', `${name}.json`);

  it("rules check: Falco's own file loads unmodified, with no problem and no warning", async () => {
    expect(await runCli(['rules', 'check', RULES])).toEqual({ code: 0, stdout: '48 rules (48 enabled) in 1 file: ok\n', stderr: '' });
  });

  it('rules check: exit 1 with Falco\'s errors, each with file, line and rule; warnings printed, rules of other sources counted', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'local.yaml');
    await writeFile(
      bad,
      '- required_engine_version: 0.99.0\n' +
        '- rule: Uses nothing defined\n  desc: d\n  condition: kevt and not my_users\n  output: o\n  priority: WARNING\n  source: k8s_audit\n' +
        '- rule: Unknown field\n  desc: d\n  condition: ka.verb = create and ka.user.nam = x\n  output: o\n  priority: WARNING\n  source: k8s_audit\n' +
        '- macro: spare\n  condition: ka.verb = get\n' +
        '- rule: Shell in container\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: NOTICE\n',
    );
    const result = await runCli(['rules', 'check', RULES, bad]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `warning: ${bad}:14:3: macro "spare": Macro not referred to by any other rule/macro\n` +
        `warning: ${bad}:16:3: Unknown source syscall, skipping: 1 rule of this source in this file (the bridge evaluates k8s_audit rules)\n` +
        `${bad}:1:28: Rules require engine version 0.99.0, but engine version is 0.62.0\n` +
        `${bad}:4:14: rule "Uses nothing defined": condition, line 1, column 14: Undefined macro 'my_users' used in filter.\n` +
        `${bad}:10:14: rule "Unknown field": condition, line 1, column 22: filter_check called with nonexistent field ka.user.nam\n` +
        '3 problems in 1 file\n',
    );
    const spare = join(dir, 'spare.yaml');
    await writeFile(spare, '- macro: spare\n  condition: ka.verb = get\n- rule: Shell in container\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: NOTICE\n');
    expect(await runCli(['rules', 'check', RULES, spare])).toEqual({
      code: 0,
      stdout: '48 rules (48 enabled, 1 of other sources skipped) in 2 files: ok\n',
      stderr: `warning: ${spare}:1:3: macro "spare": Macro not referred to by any other rule/macro\nwarning: ${spare}:3:3: Unknown source syscall, skipping: 1 rule of this source in this file (the bridge evaluates k8s_audit rules)\n`,
    });
  });

  it('rules test --rules A --rules B loads the files in that order; no --enable needed; alerts are Falco JSON lines', async () => {
    const event = trace('some-user_creates_namespace_foo');
    const alone = await runCli(['rules', 'test', '--rules', RULES, event]);
    expect(alerts(alone.stdout).map((a) => [a.rule, a.priority, a.source])).toEqual([['Disallowed K8s User', 'Warning', 'k8s_audit']]);
    const both = await runCli(['rules', 'test', '--rules', RULES, '--rules', overrideFile('K8SAuditAllowUserSomeUser'), '--rules', overrideFile('K8SAuditAllowNamespaceFoo'), event]);
    expect(both.code).toBe(0);
    const [alert] = alerts(both.stdout) as unknown as Record<string, unknown>[];
    expect(alert).toMatchObject({
      rule: 'K8s Namespace Created',
      priority: 'Informational',
      source: 'k8s_audit',
      tags: ['k8s'],
      hostname: hostname(),
      time: '2018-10-25T13:58:49.736141000Z',
      output: '13:58:49.736141000: Informational K8s Namespace Created (user=some-user namespace=foo resource=namespaces resp=201 decision=allow reason=)',
      output_fields: { 'ka.user.name': 'some-user', 'ka.target.name': 'foo', 'ka.response.code': '201', 'ka.auth.decision': 'allow', 'ka.auth.reason': '', 'evt.time': 1540475929736141000 },
    });
    expect(both.stderr).toBe('1 event, 1 alert\n');
  });

  it('rules test --matching all raises every matching Falco rule; first (the default) only the first', async () => {
    const configmaps = trace('create_configmap_sensitive_values');
    const first = await runCli(['rules', 'test', '--rules', RULES, configmaps]);
    const all = await runCli(['rules', 'test', '--rules', RULES, '--matching', 'all', configmaps]);
    expect(alerts(first.stdout).map((a) => a.rule)).toEqual(Array(6).fill('Create/Modify Configmap With Private Credentials'));
    expect(alerts(all.stdout).map((a) => a.rule)).toEqual(Array(6).fill(['Create/Modify Configmap With Private Credentials', 'K8s ConfigMap Created']).flat());
  });

  it("refuses what Falco's k8saudit plugin refuses, with its message, and goes on", async () => {
    const input = `${readFileSync(trace('fal_01_003'), 'utf8')}\n${readFileSync(trace('exec_pod'), 'utf8')}{"kind":"Event","auditID":"x"}\n`;
    const result = await runCli(['rules', 'test', '--rules', RULES, '-'], { input });
    expect(result.code).toBe(0);
    expect(alerts(result.stdout).map((a) => a.rule)).toEqual(['Attach/Exec Pod']);
    expect(result.stderr).toBe("line 1: skipped: data not recognized as a k8s audit event\nline 3: skipped: can't read stageTimestamp\n1 event, 1 alert\n");
  });

  it('mixes jpath and Falco files: rules run in the order the files give them', async () => {
    const exec = trace('exec_pod');
    const falcoFirst = await runCli(['rules', 'test', '--rules', RULES, '--rules', LIBRARY, '--enable', 'all', exec]);
    const jpathFirst = await runCli(['rules', 'test', '--rules', LIBRARY, '--rules', RULES, '--enable', 'all', exec]);
    expect(alerts(falcoFirst.stdout).map((a) => a.rule)).toEqual(['Attach/Exec Pod']);
    expect(alerts(jpathFirst.stdout).map((a) => a.rule)).toEqual(['Pod exec or attach']);
  });
});
