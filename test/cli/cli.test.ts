import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import { validateEvent, type AuditEvent } from '../../src/event/event.js';
import { exitOf, runCli, startCli } from '../helpers/cli.js';
import { makeEvents, readJsonLines } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

const TOKEN = 'cli-test-token-5f0c2a9d';

/** A config with a webhook source closed by a bearer token (written beside it) and a file sink. */
async function webhookConfig(dir: string): Promise<string> {
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  return `
sources:
  - name: onprem
    type: webhook
    bearerTokenFile: ${join(dir, 'token')}
sinks:
  - name: archive
    type: file
    path: ${join(dir, 'audit.jsonl')}
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
log: { level: info }
`;
}

describe('command line', () => {
  it('prints its version and help', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['run', 'validate', 'demo', 'convert', 'rules', 'policy', 'emulator']) expect(help.stdout).toContain(command);
  });

  it('validate: exit 0 for a good config, 2 with every problem for a bad one', async () => {
    const dir = await tempDir();
    const good = join(dir, 'good.yaml');
    await writeFile(good, await webhookConfig(dir));
    expect(await runCli(['validate', '--config', good])).toMatchObject({
      code: 0,
      stdout: `${good}: valid\n  sources: onprem (webhook)\n  sinks: archive (file)\n`,
      // On loopback the token never leaves the machine: nothing to warn about.
      stderr: '',
    });
    const open = join(dir, 'open.yaml');
    await writeFile(open, (await webhookConfig(dir)).replace('host: 127.0.0.1', 'host: 0.0.0.0'));
    expect(await runCli(['validate', '--config', open])).toMatchObject({
      code: 0,
      stderr: `${open}: warning: sources[0]: the webhook source onprem is served over plain HTTP: its bearer token crosses the network in clear text; set server.tls\n`,
    });

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'sources: [{ name: a, type: webhook, ackTimeout: soon }]\nsinks: []\n');
    const result = await runCli(['validate', '--config', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `${bad}: 2 problems:\n` +
        '  sources[0].ackTimeout: got "soon"; expected a duration such as 500ms, 10s, 1m30s or 2h (line 1)\n' +
        '  sinks: got an empty list; expected a list with at least one sink (line 2)\n',
    );
    const missing = await runCli(['validate', '--config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml: 1 problem:\n {2}cannot read the file: ENOENT/);
  });

  it('validate and run refuse a webhook source open to anyone, or whose token file is missing, saying how to fix it', async () => {
    const dir = await tempDir();
    const open = join(dir, 'open.yaml');
    await writeFile(open, 'sources: [{ name: a, type: webhook }]\nsinks: [{ name: o, type: stdout }]\n');
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, '--config', open]);
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain('sources[0]: the webhook source a would accept audit events from anyone who can reach the port; set bearerTokenFile');
    }
    const missing = join(dir, 'missing.yaml');
    await writeFile(missing, `sources: [{ name: a, type: webhook, bearerTokenFile: ${join(dir, 'no-such-token')} }]\nsinks: [{ name: o, type: stdout }]\n`);
    for (const command of ['validate', 'run']) {
      const result = await runCli([command, '--config', missing]);
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain(`sources[0].bearerTokenFile: the file ${join(dir, 'no-such-token')} does not exist; mount it or fix the path`);
    }
    const allowed = join(dir, 'allowed.yaml');
    await writeFile(allowed, 'sources: [{ name: a, type: webhook, allowUnauthenticated: true }]\nsinks: [{ name: o, type: stdout }]\n');
    const result = await runCli(['validate', '--config', allowed]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('warning: sources[0]: the webhook source a accepts requests from anyone who can reach the port (allowUnauthenticated: true)');
  });

  it('a config that uses a source this version cannot run says so and exits 2', async () => {
    const dir = await tempDir();
    const file = join(dir, 'file-source.yaml');
    await writeFile(file, 'sources: [{ name: f, type: file, path: /var/log/kube-audit.log }]\nsinks: [{ name: o, type: stdout }]\n');
    const run = await runCli(['run', '--config', file]);
    expect(run).toMatchObject({ code: 2, stderr: `${file}: 1 problem:\n  sources[0].type: file sources are not available yet in this version\n` });
  });

  it('run: delivers webhook posts, and on SIGTERM drains, commits and exits 0', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.yaml');
    await writeFile(file, await webhookConfig(dir));
    const { child, log } = await startCli(['run', '--config', file], (l) => l.msg === 'server listening');
    const events = makeEvents(0, 30);
    const result = await new AuditWebhookClient({ url: `http://127.0.0.1:${String(log.port)}/audit/onprem`, bearerToken: TOKEN }).post(events);
    expect(result.delivered).toBe(30);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    const archived = readJsonLines(join(dir, 'audit.jsonl')) as AuditEvent[];
    expect(archived.map((e) => e.auditID)).toEqual(events.map((e) => e.auditID));
    const dedupe = JSON.parse(readFileSync(join(dir, 'checkpoints.dedupe.json'), 'utf8')) as { sources: Record<string, string[]> };
    expect(dedupe.sources.onprem).toHaveLength(30);
  });

  it('run: after a restart, a resend of delivered events is not delivered again', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.yaml');
    await writeFile(file, await webhookConfig(dir));
    const events = makeEvents(500, 20);
    for (const round of [1, 2]) {
      const { child, log } = await startCli(['run', '--config', file], (l) => l.msg === 'server listening');
      const client = new AuditWebhookClient({ url: `http://127.0.0.1:${String(log.port)}/audit/onprem`, bearerToken: TOKEN });
      // The second process gets the same batch again, as an apiserver retrying across the restart would send it.
      expect((await client.post(round === 1 ? events : [...events, ...makeEvents(600, 5)])).statuses, `round ${round}`).toEqual([200]);
      child.kill('SIGTERM');
      expect(await exitOf(child)).toBe(0);
    }
    const archived = readJsonLines(join(dir, 'audit.jsonl')) as AuditEvent[];
    expect(archived.map((e) => e.auditID)).toEqual([...events, ...makeEvents(600, 5)].map((e) => e.auditID));
  });

  it('run: a corrupt checkpoint stops the start with exit 1, naming the file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.yaml');
    await writeFile(file, await webhookConfig(dir));
    await writeFile(join(dir, 'checkpoints.json'), '{"version":1,"sources":{"onprem":');
    const result = await runCli(['run', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`checkpoint file ${join(dir, 'checkpoints.json')} is not valid JSON`);
  });

  it('run --once with nothing to drain exits 0', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.yaml');
    await writeFile(file, await webhookConfig(dir));
    const result = await runCli(['run', '--config', file, '--once']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('webhook sources have nothing to drain');
  });

  it('demo --json: replays the sample events through the bridge to stdout as JSON lines, with the rule library\'s alerts, and stops after --duration', async () => {
    const result = await runCli(['demo', '--duration', '2s', '--json'], { timeoutMs: 30_000 });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    // The rules part's alerts share stdout with the events; they have Falco's alert fields.
    const isAlert = (l: Record<string, unknown>): boolean => 'rule' in l && 'priority' in l && 'output_fields' in l;
    // Other demo parts (cloud sources) share stdout; these checks are about the webhook replayer's cluster.
    const onprem = (l: Record<string, unknown>): boolean => (isAlert(l) ? l.cluster : (l.annotations as Record<string, unknown> | undefined)?.cluster_name) === 'demo-onprem';
    const events = lines.filter((l) => !isAlert(l) && onprem(l)) as unknown as AuditEvent[];
    const alerts = lines.filter((l) => isAlert(l) && onprem(l)) as unknown as { rule: string; auditID: string; cluster: string; source: string }[];
    // 40 sample events; two of them share an (auditID, stage) (hand-edited copies upstream): 39 distinct.
    expect(events.length).toBeGreaterThanOrEqual(39);
    expect(events.filter((e) => validateEvent(e).length > 0)).toEqual([]);
    // Every cloud part's events are there too, each labelled with its own cluster.
    const clusters = new Set(lines.filter((l) => !isAlert(l)).map((l) => (l.annotations as Record<string, unknown> | undefined)?.cluster_name));
    expect(clusters.has('demo-onprem')).toBe(true);
    expect(clusters.size).toBeGreaterThan(1);
    expect(clusters.has(undefined)).toBe(false);
    expect(new Set(events.map((e) => `${e.auditID}/${e.stage}`)).size).toBe(events.length);
    // The library, all enabled, raises these on the samples (6 of them for the ConfigMap file).
    expect(new Set(alerts.map((a) => a.rule))).toEqual(
      new Set([
        'Anonymous request allowed',
        'Binding to cluster-admin',
        'Role with wildcard verbs or resources',
        'ConfigMap with credentials',
        'Pod sharing host namespaces',
        'Privileged pod created',
        'Pod with sensitive host path mount',
        'NodePort service created',
        'Pod exec or attach',
        'DaemonSet created or changed in kube-system',
      ]),
    );
    expect(alerts.length).toBeGreaterThanOrEqual(16);
    const ids = new Set(events.map((e) => e.auditID));
    expect(alerts.every((a) => a.source === 'k8s_audit' && a.cluster === 'demo-onprem' && ids.has(a.auditID))).toBe(true);
  });

  it('demo: prints events and alerts as readable text by default, one line each, no colour into a pipe', async () => {
    const result = await runCli(['demo', '--duration', '2s'], { timeoutMs: 30_000 });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean);
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(result.stdout).not.toContain('\u001b');
    // An event: time, cluster, user, verb, resource, namespace/name, code (and a stage other than
    // ResponseComplete); an alert: Falco's "<time of day>: <Priority> <message>".
    const eventLine = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) {2,}(\S+) {2,}(\S+(?: as \S+)?) {2,}(\S+) {2,}(\S+) {2,}(\S+\/\S+) {2,}(\d{3}|-)(?: (RequestReceived|ResponseStarted|Panic))?$/;
    const alertLine = /^\d\d:\d\d:\d\d\.\d{9}: (Emergency|Alert|Critical|Error|Warning|Notice|Informational|Debug) \S/;
    const unmatched = lines.filter((l) => !eventLine.test(l) && !alertLine.test(l));
    expect(unmatched).toEqual([]);
    const onprem = lines.map((l) => eventLine.exec(l)).filter((m) => m?.[2] === 'demo-onprem');
    // 40 sample events, 39 distinct (auditID, stage): the first replay at least.
    expect(onprem.length).toBeGreaterThanOrEqual(39);
    expect(onprem.map((m) => `${m![4]} ${m![5]} ${m![6]} ${m![7]}`)).toEqual(
      expect.arrayContaining(['create secrets default/example-secret 201', 'create pods/exec default/nginx-deployment-7998647bdf-phvq7 101', 'delete configmaps default/my-config 200']),
    );
    const alerts = lines.filter((l) => alertLine.test(l));
    expect(alerts.length).toBeGreaterThanOrEqual(16);
    expect(alerts).toEqual(expect.arrayContaining([expect.stringMatching(/: Warning Privileged pod created \(user=system:serviceaccount:kube-system:replicaset-controller /)]));
  });
});
