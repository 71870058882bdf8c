// The built CLI: convert --from aks, and emulator aks feeding `run --once` end to end.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/event/event.js';
import { dedupeKey } from '../../../src/pipeline/dedupe.js';
import { CLI, REPO, runCli, spawnNode } from '../../helpers/cli.js';
import { SAMPLES, testdata } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { onCleanup } from '../../helpers/webhook.js';

const DIAGNOSTICS = join(SAMPLES, 'aks/azurediagnostics-rows.json');
const AKSAUDIT = join(SAMPLES, 'aks/aksaudit-rows.json');

/** The golden Events with each (auditID, stage) kept at its first line, as the pipeline delivers them. */
function firstOfEach(lines: readonly string[]): string[] {
  const seen = new Set<string>();
  return lines.filter((line) => {
    const key = dedupeKey(JSON.parse(line) as AuditEvent);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const goldenLines = (file: string): string[] => readFileSync(join(testdata('aks'), file), 'utf8').split('\n').filter(Boolean);
const joinLines = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

describe('kube-audit-bridge convert --from aks', () => {
  it('converts AKSAudit rows (the samples file) to the golden Events, each (auditID, stage) once; --no-dedupe keeps the AKSAuditAdmin copies', async () => {
    const golden = goldenLines('aksaudit-events.jsonl');
    // The samples hold 3 events twice: once from AKSAudit, once from AKSAuditAdmin.
    expect(firstOfEach(golden)).toHaveLength(golden.length - 3);
    const result = await runCli(['convert', '--from', 'aks', AKSAUDIT]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(joinLines(firstOfEach(golden)));
    expect(result.stderr).toBe("convert: skipped 3 duplicate events (an (auditID, stage) already printed); --no-dedupe prints every record\n");

    const every = await runCli(['convert', '--from', 'aks', '--no-dedupe', AKSAUDIT]);
    expect(every).toMatchObject({ code: 0, stderr: '' });
    expect(every.stdout).toBe(joinLines(golden));
  });

  it('converts AzureDiagnostics rows as az prints them (a JSON array), rejecting the truncated log_s with exit 3', async () => {
    const dir = await tempDir();
    const az = join(dir, 'az.json');
    await writeFile(az, JSON.stringify((JSON.parse(readFileSync(DIAGNOSTICS, 'utf8')) as { rows: unknown[] }).rows, null, 2));
    const golden = goldenLines('azurediagnostics-events.jsonl').map((l) => l.replace(/"cluster_name":"[^"]*"/g, '"cluster_name":"prod-east"'));
    const result = await runCli(['convert', '--from', 'aks', '--cluster', 'prod-east', az]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe(joinLines(firstOfEach(golden)));
    const stderr = result.stderr.trimEnd().split('\n');
    expect(stderr).toHaveLength(2);
    expect(stderr[0]).toMatch(/^\[48\]: rejected: log_s truncated by Azure Diagnostics at 32,766 bytes \(Azure\/AKS#3316\)/);
    expect(stderr[1]).toBe('convert: skipped 3 duplicate events (an (auditID, stage) already printed); --no-dedupe prints every record');

    const every = await runCli(['convert', '--from', 'aks', '--cluster', 'prod-east', '--no-dedupe', az]);
    expect(every.code).toBe(3);
    expect(every.stdout).toBe(joinLines(golden));
    expect(every.stderr).toBe(`${stderr[0]}\n`);
  });

  it('prints each (auditID, stage) of an export holding both kube-audit and kube-audit-admin once, and every row with --no-dedupe', async () => {
    // A workspace in Azure-diagnostics mode with both categories enabled: every event in
    // kube-audit, and again in kube-audit-admin unless it is a get, list or watch.
    type Row = Record<string, unknown> & { Category: string; log_s: string };
    const rows = (JSON.parse(readFileSync(DIAGNOSTICS, 'utf8')) as { rows: Row[] }).rows;
    const audit = rows.filter((r) => r.Category === 'kube-audit');
    const verbOf = (row: Row): string | undefined => {
      try {
        return (JSON.parse(row.log_s) as { verb?: string }).verb;
      } catch {
        return undefined; // the truncated log_s: a reject, once is enough
      }
    };
    const admin = audit.filter((r) => !['get', 'list', 'watch', undefined].includes(verbOf(r))).map((r) => ({ ...r, Category: 'kube-audit-admin' }));
    expect(admin.length).toBeGreaterThan(10);
    // Interleaved, as a query over both categories returns them in time order.
    const both: Row[] = [];
    for (const row of audit) {
      both.push(row);
      const copy = admin.find((a) => a.log_s === row.log_s);
      if (copy) both.push(copy);
    }
    const dir = await tempDir();
    const [auditFile, bothFile] = [join(dir, 'kube-audit.json'), join(dir, 'both.json')];
    await writeFile(auditFile, JSON.stringify(audit));
    await writeFile(bothFile, JSON.stringify(both));

    const alone = await runCli(['convert', '--from', 'aks', auditFile]);
    expect(alone.code).toBe(3); // the truncated row
    expect(alone.stderr).not.toContain('duplicate');
    const deduped = await runCli(['convert', '--from', 'aks', bothFile]);
    expect(deduped.code).toBe(3);
    expect(deduped.stdout).toBe(alone.stdout);
    const keys = deduped.stdout.trimEnd().split('\n').map((l) => dedupeKey(JSON.parse(l) as AuditEvent));
    expect(new Set(keys).size).toBe(keys.length);
    expect(deduped.stderr).toContain(`convert: skipped ${admin.length} duplicate events (an (auditID, stage) already printed); --no-dedupe prints every record\n`);

    const every = await runCli(['convert', '--from', 'aks', '--no-dedupe', bothFile]);
    expect(every.code).toBe(3);
    const lines = every.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(keys.length + admin.length);
    expect(firstOfEach(lines)).toEqual(deduped.stdout.trimEnd().split('\n'));
    expect(every.stderr).not.toContain('duplicate');
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
    const child = spawnNode([CLI, 'emulator', 'aks', '--port', '0', '--data', DIAGNOSTICS, '--table', 'AzureDiagnostics'], { cwd: REPO });
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
    expect(JSON.stringify(checkpoint)).toMatch(/"watermark":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"/);
  });
});

describe('kube-audit-bridge run --once, AKS refusing the identity', () => {
  it('a 403 from the emulator: exit 1 with one line naming the source, the answer and the role', async () => {
    const child = spawnNode([CLI, 'emulator', 'aks', '--port', '0', '--data', AKSAUDIT, '--faults', 'denied-every=1'], { cwd: REPO });
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
    const dir = await tempDir();
    const config = join(dir, 'bridge.yaml');
    await writeFile(
      config,
      `sources:
  - name: aks-prod
    type: aks
    workspaceId: ${String(ready.workspaceId)}
    endpoint: ${String(ready.endpoint)}
    caFile: ${String(ready.caFile)}
    credential: { type: clientSecret, authorityHost: "${String(ready.authorityHost)}" }
    startFrom: -100000h
    settleLag: 1s
sinks:
  - { name: out, type: file, path: ${join(dir, 'events.jsonl')} }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead-letter.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
    );
    const env = { AZURE_TENANT_ID: '11111111-2222-3333-4444-555555555555', AZURE_CLIENT_ID: 'bridge', AZURE_CLIENT_SECRET: 'not-logged-secret' };
    const run = await runCli(['run', '--config', config, '--once'], { env, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(1);
    const plain = run.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('{'));
    expect(plain).toEqual([
      `source aks-prod: the Log Analytics query API answered 403: The provided credentials have insufficient access to perform the requested operation. Likely fix: give the bridge's identity the Log Analytics Reader role on workspace ${String(ready.workspaceId)}`,
    ]);
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
    const result = await runCli(['demo', '--duration', '5s', '--json'], { timeoutMs: 40_000 });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { annotations?: Record<string, string>; rule?: string });
    const aks = lines.filter((l) => l.rule === undefined && l.annotations?.resource_id?.includes('/managedclusters/'));
    // 46 AKSAudit sample rows per ingestion round, all of them valid Events.
    expect(aks.length).toBeGreaterThanOrEqual(46);
    expect(new Set(aks.map((e) => e.annotations?.cluster_name))).toEqual(new Set(['kubetest', 'kubeauditlogtestcluster', 'kab-demo-aks', 'test-cluster']));
    expect(result.stderr).toMatch(/"part":"aks".*Log Analytics emulator listening/);
  });
});
