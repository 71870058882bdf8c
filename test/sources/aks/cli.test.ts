// The built CLI: convert --from aks, and emulator aks feeding `run --once` end to end.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO, runCli } from '../../helpers/cli.js';
import { SAMPLES, testdata } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { onCleanup } from '../../helpers/webhook.js';

const DIAGNOSTICS = join(SAMPLES, 'aks/azurediagnostics-rows.json');
const AKSAUDIT = join(SAMPLES, 'aks/aksaudit-rows.json');

describe('kube-audit-bridge convert --from aks', () => {
  it('converts AKSAudit rows (the samples file) to the golden Events, exit 0', async () => {
    const result = await runCli(['convert', '--from', 'aks', AKSAUDIT]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(readFileSync(join(testdata('aks'), 'aksaudit-events.jsonl'), 'utf8'));
  });

  it('converts AzureDiagnostics rows as az prints them (a JSON array), rejecting the truncated log_s with exit 3', async () => {
    const dir = await tempDir();
    const az = join(dir, 'az.json');
    await writeFile(az, JSON.stringify((JSON.parse(readFileSync(DIAGNOSTICS, 'utf8')) as { rows: unknown[] }).rows, null, 2));
    const result = await runCli(['convert', '--from', 'aks', '--cluster', 'prod-east', az]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe(
      readFileSync(join(testdata('aks'), 'azurediagnostics-events.jsonl'), 'utf8').replace(/"cluster_name":"[^"]*"/g, '"cluster_name":"prod-east"'),
    );
    expect(result.stderr).toMatch(/^\[48\]: rejected: log_s truncated by Azure Diagnostics at 32,766 bytes \(Azure\/AKS#3316\)/);
  });

  it('reads JSON lines on stdin', async () => {
    const rows = (JSON.parse(readFileSync(AKSAUDIT, 'utf8')) as { rows: unknown[] }).rows.slice(0, 3);
    const { code, stdout } = await runCli(['convert', '--from', 'aks', '-'], { input: `${rows.map((r) => JSON.stringify(r)).join('\n')}\n` });
    expect(code).toBe(0);
    expect(stdout.split('\n').filter(Boolean)).toEqual(readFileSync(join(testdata('aks'), 'aksaudit-events.jsonl'), 'utf8').split('\n').slice(0, 3));
  });
});

describe('kube-audit-bridge emulator aks', () => {
  it('serves AzureDiagnostics over HTTPS; run --once drains it through the real SDK and credential', async () => {
    const child = spawn(process.execPath, [CLI, 'emulator', 'aks', '--port', '0', '--data', DIAGNOSTICS, '--table', 'AzureDiagnostics'], { cwd: REPO });
    onCleanup(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    });
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n') && line) resolve(JSON.parse(line) as Record<string, unknown>);
      });
      child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    });
    expect(ready).toMatchObject({ table: 'AzureDiagnostics', rows: 49 });
    expect(String(ready.endpoint)).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(String(ready.authorityHost)).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(String(ready.caFile), 'utf8')).toMatch(/BEGIN CERTIFICATE/);

    const dir = await tempDir();
    const config = join(dir, 'bridge.yaml');
    await writeFile(
      config,
      `sources:
  - name: aks
    type: aks
    workspaceId: ${String(ready.workspaceId)}
    table: AzureDiagnostics
    endpoint: ${String(ready.endpoint)}
    caFile: ${String(ready.caFile)}
    credential: { type: clientSecret, authorityHost: "${String(ready.authorityHost)}" }
    startFrom: -100000h
    settleLag: 1s
    pageSize: 10
sinks:
  - { name: out, type: file, path: ${join(dir, 'events.jsonl')} }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead-letter.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
    );
    const env = { AZURE_TENANT_ID: '11111111-2222-3333-4444-555555555555', AZURE_CLIENT_ID: 'bridge', AZURE_CLIENT_SECRET: 'not-logged-secret' };
    const run = await runCli(['run', '--config', config, '--once'], { env, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('not-logged-secret');
    const events = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean);
    expect(events).toHaveLength(45);
    const dead = (await readFile(join(dir, 'dead-letter.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; reason: string });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.kind).toBe('reject');
    expect(dead[0]!.reason).toMatch(/^log_s truncated by Azure Diagnostics/);
    const checkpoint = JSON.parse(await readFile(join(dir, 'checkpoints.json'), 'utf8')) as Record<string, unknown>;
    expect(JSON.stringify(checkpoint)).toMatch(/"ingested":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"/);
  });
});

describe('kube-audit-bridge emulator aks, usage errors', () => {
  it('names a bad fault, table or data file and exits 2', async () => {
    const bogus = await runCli(['emulator', 'aks', '--port', '0', '--data', AKSAUDIT, '--faults', 'bogus=1']);
    expect(bogus).toMatchObject({ code: 2 });
    expect(bogus.stderr).toMatch(/^emulator aks: --faults: unknown fault "bogus"; known: throttle-every/);
    const table = await runCli(['emulator', 'aks', '--port', '0', '--data', AKSAUDIT, '--table', 'ContainerLog']);
    expect(table.stderr).toBe('emulator aks: --table ContainerLog: expected one of AKSAudit, AKSAuditAdmin, AzureDiagnostics\n');
    expect(table.code).toBe(2);
    const missing = await runCli(['emulator', 'aks', '--port', '0', '--data', 'no-such-file.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^emulator aks: ENOENT/);
  });
});

describe('kube-audit-bridge demo, AKS part', () => {
  it('polls the Log Analytics emulator: the AKSAudit samples arrive as Events of their clusters', async () => {
    const result = await runCli(['demo', '--duration', '5s'], { timeoutMs: 40_000 });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { annotations?: Record<string, string>; rule?: string });
    const aks = lines.filter((l) => l.rule === undefined && l.annotations?.resource_id?.includes('/managedclusters/'));
    // 46 AKSAudit sample rows per ingestion round, all of them valid Events.
    expect(aks.length).toBeGreaterThanOrEqual(46);
    expect(new Set(aks.map((e) => e.annotations?.cluster_name))).toEqual(new Set(['kubetest', 'kubeauditlogtestcluster', 'kab-demo-aks', 'test-cluster']));
    expect(result.stderr).toMatch(/"part":"aks".*Log Analytics emulator listening/);
  });
});
