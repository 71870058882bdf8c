import { type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateEvent, type AuditEvent } from '../../../src/event/event.js';
import { CLI, plainLines, REPO, runCli, spawnNode } from '../../helpers/cli.js';
import { readJsonLines, testdata } from '../../helpers/events.js';
import { sampleRecords } from './helpers.js';
import { tempDir } from '../../helpers/fs.js';

const SAMPLE = `${testdata('eks')}filterlogevents-records.json`;
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGTERM');
});

/** Starts `emulator eks` and resolves with the JSON line it prints when ready. */
function startEmulator(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; ready: { endpoint: string; logGroup: string; records: number } }> {
  return new Promise((resolve, reject) => {
    const child = spawnNode([CLI, 'emulator', 'eks', '--port', '0', ...args], { cwd: REPO, env: process.env });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) resolve({ child, ready: JSON.parse(line!) as { endpoint: string; logGroup: string; records: number } });
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${stderr}`)));
  });
}

describe('kube-audit-bridge with EKS', () => {
  it('convert --from eks: the aws logs filter-log-events shape to Events, the truncated record rejected (exit 3)', async () => {
    const result = await runCli(['convert', '--from', 'eks', '--cluster', 'demo-eks', '--region', 'eu-west-1', SAMPLE]);
    expect(result.code).toBe(3);
    const events = result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(events).toHaveLength(36);
    for (const e of events) {
      expect(validateEvent(e)).toEqual([]);
      expect(e.annotations).toMatchObject({ cluster_name: 'demo-eks', region: 'eu-west-1' });
    }
    const truncatedAt = sampleRecords().findIndex((r) => r.message.endsWith('[Truncated...]'));
    expect(result.stderr).toMatch(new RegExp(`^events\\[${truncatedAt}\\]: rejected: truncated message: .*auditID [0-9a-f-]{36}`));
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('convert --from eks: JSON lines of FilterLogEvents events, exit 0 when all convert', async () => {
    const dir = await tempDir();
    const file = join(dir, 'events.jsonl');
    const good = sampleRecords().filter((r) => !r.message.endsWith('[Truncated...]')).slice(0, 5);
    await writeFile(file, good.map((r) => JSON.stringify(r)).join('\n'));
    const result = await runCli(['convert', '--from', 'eks', file]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as AuditEvent).auditID)).toEqual(good.map((r) => (JSON.parse(r.message) as AuditEvent).auditID));
  });

  it('emulator eks serves the samples; run --once drains them through the real SDK into a file', async () => {
    const { ready } = await startEmulator(['--data', SAMPLE, '--cluster', 'demo-eks', '--faults', 'page-size=5,empty-every=3']);
    expect(ready).toMatchObject({ endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as unknown, logGroup: '/aws/eks/demo-eks/cluster', records: 37 });
    const dir = await tempDir();
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `
sources:
  - name: demo-eks
    type: eks
    region: us-east-1
    cluster: demo-eks
    accountId: "123456789012"
    endpoint: ${ready.endpoint}
    startFrom: "2018-01-01T00:00:00Z"
    settleLag: 1s
sinks:
  - name: archive
    type: file
    path: ${join(dir, 'audit.jsonl')}
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
    );
    const env = { AWS_ACCESS_KEY_ID: 'AKIDEMULATOR', AWS_SECRET_ACCESS_KEY: 'emulator-secret', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
    const result = await runCli(['run', '--config', config, '--once'], { env, timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/NodeVersionSupport|no longer support|end of support/i);
    const events = readJsonLines(join(dir, 'audit.jsonl')) as AuditEvent[];
    expect(events).toHaveLength(36);
    expect(events.every((e) => e.annotations?.cluster_name === 'demo-eks' && e.annotations.account_id === '123456789012')).toBe(true);
    const dead = readJsonLines(join(dir, 'dead.jsonl')) as { kind: string; reason: string }[];
    expect(dead).toMatchObject([{ kind: 'reject', reason: expect.stringMatching(/^truncated message/) as unknown }]);
    const checkpoint = JSON.parse(await readFile(join(dir, 'checkpoints.json'), 'utf8')) as Record<string, unknown>;
    expect(JSON.stringify(checkpoint)).toContain('"watermark"');

    // A second run from the checkpoint finds nothing new and delivers nothing again.
    const again = await runCli(['run', '--config', config, '--once'], { env, timeoutMs: 30_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(readJsonLines(join(dir, 'audit.jsonl'))).toHaveLength(36);
  });

  it('run --once on an AccessDeniedException from the emulator: exit 1 with one line naming the source, the answer and the permission', async () => {
    const { ready } = await startEmulator(['--data', SAMPLE, '--cluster', 'demo-eks', '--faults', 'denied-every=1']);
    const dir = await tempDir();
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `
sources:
  - name: demo-eks
    type: eks
    region: us-east-1
    cluster: demo-eks
    accountId: "123456789012"
    endpoint: ${ready.endpoint}
    startFrom: "2018-01-01T00:00:00Z"
sinks:
  - { name: archive, type: file, path: ${join(dir, 'audit.jsonl')} }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
    );
    const env = { AWS_ACCESS_KEY_ID: 'AKIDEMULATOR', AWS_SECRET_ACCESS_KEY: 'emulator-secret', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
    const result = await runCli(['run', '--config', config, '--once'], { env, timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(1);
    const lines = plainLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^source demo-eks: CloudWatch Logs FilterLogEvents answered AccessDeniedException: User: .* is not authorized to perform: logs:FilterLogEvents .*\. Likely fix: allow logs:FilterLogEvents on arn:aws:logs:us-east-1:123456789012:log-group:\/aws\/eks\/demo-eks\/cluster:\* to the bridge's IAM identity$/,
    );
  });

  it('emulator eks: a bad fault spec is refused', async () => {
    const result = await runCli(['emulator', 'eks', '--port', '0', '--data', SAMPLE, '--faults', 'explode=1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^emulator eks: unknown fault "explode"; known: throttle-every, /);
  });

  it('demo: an EKS source polls the emulator through the real SDK', async () => {
    const result = await runCli(['demo', '--duration', '4s', '--json'], { timeoutMs: 30_000 });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const eks = lines.filter((l) => (l.annotations as Record<string, string> | undefined)?.cluster_name === 'demo-eks') as unknown as AuditEvent[];
    expect(eks.length).toBeGreaterThanOrEqual(36); // the samples less the truncated one
    expect(eks.every((e) => validateEvent(e).length === 0 && e.annotations?.region === 'us-east-1')).toBe(true);
    expect(new Set(eks.map((e) => `${e.auditID}/${e.stage}`)).size).toBe(eks.length);
    expect(result.stderr).toMatch(/"source":"demo-eks".*"reason":"truncated message/);
    expect(result.stderr).not.toMatch(/NodeVersionSupport|no longer support/i);
  });
});

