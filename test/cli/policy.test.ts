// policy apply, and validate / run reporting the process section's problems (the built CLI).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/event/event.js';
import { runCli } from '../helpers/cli.js';
import { makeEvent, SAMPLES } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

const FALCO_POLICY = `${SAMPLES}falco-rules/k8saudit-audit-policy.yaml`;

const lines = (text: string): AuditEvent[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);

const SECRET_VALUE = 'cG9saWN5LWNsaS1zZWNyZXQ=';
const secretCreate = (n: number): AuditEvent =>
  makeEvent(n, {
    level: 'Request',
    verb: 'create',
    objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
    requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, data: { password: SECRET_VALUE } },
  });

describe('stdout of policy apply and convert is an output like a sink', () => {
  it('policy apply redacts Secret values unless --no-scrub', async () => {
    const dir = await tempDir();
    const policy = join(dir, 'policy.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Request\n');
    const input = JSON.stringify(secretCreate(1));
    const scrubbed = await runCli(['policy', 'apply', '--policy', policy, '-'], { input });
    expect(scrubbed.code).toBe(0);
    expect(scrubbed.stdout).not.toContain(SECRET_VALUE);
    expect(lines(scrubbed.stdout)[0]).toMatchObject({ requestObject: { data: { password: '<redacted>' } }, annotations: { 'kube-audit-bridge.io/scrubbed': 'requestObject' } });
    const raw = await runCli(['policy', 'apply', '--no-scrub', '--policy', policy, '-'], { input });
    expect(lines(raw.stdout)[0]).toMatchObject({ requestObject: { data: { password: SECRET_VALUE } } });
  });

  it('convert redacts Secret values unless --no-scrub', async () => {
    const record = { eventId: '1', timestamp: 1, ingestionTime: 1, logStreamName: 'kube-apiserver-audit-x', message: JSON.stringify(secretCreate(2)) };
    const input = JSON.stringify([record]);
    const scrubbed = await runCli(['convert', '--from', 'eks', '-'], { input });
    expect(scrubbed.code).toBe(0);
    expect(scrubbed.stdout).not.toContain(SECRET_VALUE);
    expect(lines(scrubbed.stdout)[0]).toMatchObject({ requestObject: { data: { password: '<redacted>' } } });
    const raw = await runCli(['convert', '--from', 'eks', '--no-scrub', '-'], { input });
    expect(lines(raw.stdout)[0]).toMatchObject({ requestObject: { data: { password: SECRET_VALUE } } });
  });
});

describe('policy apply', () => {
  it("applies Falco's policy to sample events and prints the survivors as JSON lines", async () => {
    const result = await runCli(['policy', 'apply', '--policy', FALCO_POLICY, `${SAMPLES}k8s-events/falco-trace-files/create_configmap.json`]);
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    expect(out.length).toBeGreaterThan(0);
    // configmaps in default are logged at RequestResponse by this policy: the bodies stay.
    expect(out.every((e) => e.kind === 'Event' && e.apiVersion === 'audit.k8s.io/v1' && e.objectRef?.resource === 'configmaps')).toBe(true);
    expect(result.stderr).toMatch(/^\d+ events?: \d+ kept, \d+ dropped \(\d+ at level None, \d+ in an omitted stage\)\n$/);
  });

  it('reads an EventList on stdin, strips bodies to the level and drops omitted stages and level None', async () => {
    const dir = await tempDir();
    const policy = join(dir, 'policy.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: None\n    verbs: [watch]\n  - level: Metadata\n');
    const body = { kind: 'ConfigMap', data: { a: 'b' } };
    const items = [
      makeEvent(1, { level: 'RequestResponse', requestObject: body, responseObject: body }),
      makeEvent(2, { stage: 'RequestReceived' }),
      makeEvent(3, { verb: 'watch' }),
    ].map(({ kind: _k, apiVersion: _a, ...item }) => item);
    const result = await runCli(['policy', 'apply', '--policy', policy, '-'], { input: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items }) });
    expect(result).toMatchObject({ code: 0, stderr: '3 events: 1 kept, 2 dropped (1 at level None, 1 in an omitted stage)\n' });
    const [kept] = lines(result.stdout);
    expect(kept).toMatchObject({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: items[0]!.auditID });
    expect(kept).not.toHaveProperty('requestObject');
    expect(kept).not.toHaveProperty('responseObject');
  });

  it('exits 2 listing every problem of a bad policy', async () => {
    const dir = await tempDir();
    const policy = join(dir, 'bad.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Loud\n  - level: None\n    nonResourceURLs: [healthz]\n    namespaces: [a]\n');
    const result = await runCli(['policy', 'apply', '--policy', policy, `${SAMPLES}k8s-events/falco-trace-files/create_configmap.json`]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `${policy}: 3 problems:\n` +
        '  rules[0].level: got "Loud"; expected one of None, Metadata, Request, RequestResponse (line 4)\n' +
        '  rules[1].nonResourceURLs[0]: got "healthz"; expected a path beginning with "/" (or "*") (line 6)\n' +
        '  rules[1].nonResourceURLs: got a list of 1; expected no nonResourceURLs in a rule that has namespaces (a rule applies to resource requests or to non-resource URLs, not both) (line 6)\n',
    );
  });

  it('exits 2 on unreadable events', async () => {
    const dir = await tempDir();
    const events = join(dir, 'events.txt');
    await writeFile(events, 'not json\nat all\n');
    const result = await runCli(['policy', 'apply', '--policy', FALCO_POLICY, events]);
    expect(result).toMatchObject({ code: 2, stderr: 'policy apply: unreadable input: neither JSON nor JSON lines\n' });
  });
});

describe('validate and run check the process section', () => {
  it('report the policy and filter problems and exit 2', async () => {
    const dir = await tempDir();
    const policy = join(dir, 'policy.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Sometimes\n');
    const file = join(dir, 'config.yaml');
    await writeFile(file, `sources: [{ name: w, type: eks, region: eu-west-1, cluster: c }]\nprocess:\n  policy: ${policy}\n  drop: ['jpath("verb") === "get"']\nsinks: [{ name: o, type: stdout }]\n`);
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, '--config', file]);
      expect(result.code, command).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(
          `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 2 problems:\n` +
            `  process\\.policy: .*policy\\.yaml: rules\\[0\\]\\.level: got "Sometimes"; expected one of None, Metadata, Request, RequestResponse \\(line 4\\)\n` +
            '  process\\.drop\\[0\\]: line 1, column \\d+: expected .*\n$',
        ),
      );
    }
  });

  it('validate accepts a config with a valid policy, filters and scrub paths', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.yaml');
    await writeFile(
      file,
      `sources: [{ name: w, type: eks, region: eu-west-1, cluster: c }]\nprocess:\n  policy: ${FALCO_POLICY}\n  keep: ['jpath("verb") != "watch"']\n  scrubPaths: [{ path: [requestObject.data, responseObject.data], keys: password, when: 'jpath("objectRef.resource") = "configmaps"' }]\nsinks: [{ name: o, type: stdout, scrubSecrets: false }]\n`,
    );
    expect(await runCli(['validate', '--config', file])).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('validate summarises the process section', () => {
  it('names the policy, the filters, the scrub paths and the sinks that are not scrubbed, and warns on unknown policy fields', async () => {
    const dir = await tempDir();
    const policy = join(dir, 'policy.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n    verb: [get]\n');
    const file = join(dir, 'config.yaml');
    await writeFile(
      file,
      `sources: [{ name: w, type: eks, region: eu-west-1, cluster: c }]\nprocess:\n  policy: ${policy}\n  drop: ['jpath("verb") = "watch"']\n  scrubPaths: [user.extra]\nsinks: [{ name: o, type: stdout }, { name: raw, type: stdout, scrubSecrets: false }]\n`,
    );
    expect(await runCli(['validate', '--config', file])).toEqual({
      code: 0,
      stdout: `${file}: valid\n  sources: w (eks)\n  sinks: o (stdout), raw (stdout)\n  process: policy ${policy} (1 rule); 1 drop, 0 keep conditions; 1 scrub path; not scrubbed for raw\n`,
      stderr: `${file}: warning: process.policy: ${policy}: rules[0].verb: unknown field, ignored (line 5)\n`,
    });
  });
});
