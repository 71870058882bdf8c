// The GKE commands of the built CLI: convert --from gke, emulator gke, and run --once against it.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gkePart } from '../../../src/sources/gke/demo.js';
import { validateEvent } from '../../../src/event/event.js';
import { CLI, plainLines, REPO, runCli, spawnNode } from '../../helpers/cli.js';
import { demoEvents } from '../../helpers/demo.js';
import { tempDir } from '../../helpers/fs.js';

const ENTRIES = join(REPO, 'src/sources/gke/testdata/entries.json');

describe('convert --from gke', () => {
  it('converts the gcloud export (a JSON array) to Events as JSON lines', async () => {
    const result = await runCli(['convert', '--from', 'gke', ENTRIES]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(24);
    for (const line of lines) expect(validateEvent(JSON.parse(line))).toEqual([]);
    expect(result.stderr).toBe('');
  });

  it('reads JSON lines and a single entry; a non-audit entry is rejected with its position (exit 3)', async () => {
    const dir = await tempDir();
    const entries = JSON.parse(await readFile(ENTRIES, 'utf8')) as Record<string, unknown>[];
    const lines = join(dir, 'entries.jsonl');
    const other = { insertId: 'x', resource: { type: 'gke_cluster' }, protoPayload: { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog' }, timestamp: '2026-01-01T00:00:00Z' };
    await writeFile(lines, [entries[0], other, entries[1]].map((e) => JSON.stringify(e)).join('\n'));
    const mixed = await runCli(['convert', '--from', 'gke', lines]);
    expect(mixed.code).toBe(3);
    expect(mixed.stdout.trim().split('\n')).toHaveLength(2);
    expect(mixed.stderr).toBe('line 2: rejected: not a Kubernetes API audit entry: resource.type "gke_cluster"\n');

    const single = join(dir, 'one.json');
    await writeFile(single, JSON.stringify(entries[3], null, 2));
    const one = await runCli(['convert', '--from', 'gke', single]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ auditID: entries[3]!.insertId });
  });
});

/** Starts `emulator gke` and resolves with its endpoint line. */
function startEmulator(args: string[]): Promise<{ endpoint: string; stop: () => Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawnNode([CLI, 'emulator', 'gke', ...args], { cwd: REPO, env: process.env });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        const { endpoint } = JSON.parse(line) as { endpoint: string };
        resolve({
          endpoint,
          stop: () =>
            new Promise((done) => {
              child.once('exit', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${err}`)));
  });
}

describe('emulator gke and run --once', () => {
  it('serves the samples; run --once drains them up to now − settleLag, commits and exits 0', async () => {
    const emulator = await startEmulator(['--port', '0', '--data', ENTRIES, '--faults', 'throttle-every=2']);
    expect(emulator.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    const dir = await tempDir();
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      [
        'sources:',
        '  - name: gke-samples',
        '    type: gke',
        '    projectId: example-project',
        `    endpoint: ${emulator.endpoint}`,
        '    insecure: true',
        '    startFrom: "2026-01-01T00:00:00Z"',
        '    pageSize: 4',
        'sinks:',
        `  - { name: out, type: file, path: ${join(dir, 'out.jsonl')} }`,
        `checkpoint: { path: ${join(dir, 'checkpoints.json')} }`,
        `deadLetter: { path: ${join(dir, 'dead.jsonl')} }`,
        'server: { host: 127.0.0.1, port: 0 }',
      ].join('\n'),
    );
    try {
      const started = Date.now();
      const run = await runCli(['run', '--config', config, '--once'], { timeoutMs: 30_000 });
      expect(run.code, run.stderr).toBe(0);
      const events = (await readFile(join(dir, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { annotations: Record<string, string> });
      expect(events).toHaveLength(9); // the example-project samples
      expect(new Set(events.map((e) => e.annotations.project_id))).toEqual(new Set(['example-project']));
      expect(run.stderr).toContain('RESOURCE_EXHAUSTED'); // throttled, backed off, carried on
      const saved = JSON.parse(await readFile(join(dir, 'checkpoints.json'), 'utf8')) as { sources: Record<string, { cursor: { watermark: string } }> };
      const watermark = Date.parse(saved.sources['gke-samples']!.cursor.watermark);
      expect(watermark).toBeLessThanOrEqual(Date.now() - 30_000);
      expect(watermark).toBeGreaterThanOrEqual(started - 30_000 - 1000);
    } finally {
      expect(await emulator.stop()).toBe(0);
    }
  });
});

describe('run --once on an error retrying cannot fix', () => {
  it('PERMISSION_DENIED from the emulator: exit 1 with one line naming the source, the answer and the role to grant', async () => {
    const emulator = await startEmulator(['--port', '0', '--data', ENTRIES, '--faults', 'denied-every=1']);
    const dir = await tempDir();
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      [
        'sources:',
        '  - name: gke-prod',
        '    type: gke',
        '    projectId: example-project',
        `    endpoint: ${emulator.endpoint}`,
        '    insecure: true',
        '    startFrom: "2026-01-01T00:00:00Z"',
        'sinks:',
        `  - { name: out, type: file, path: ${join(dir, 'out.jsonl')} }`,
        `checkpoint: { path: ${join(dir, 'checkpoints.json')} }`,
        `deadLetter: { path: ${join(dir, 'dead.jsonl')} }`,
        'server: { host: 127.0.0.1, port: 0 }',
      ].join('\n'),
    );
    try {
      const run = await runCli(['run', '--config', config, '--once'], { timeoutMs: 30_000 });
      expect(run.code, run.stderr).toBe(1);
      expect(plainLines(run.stderr)).toEqual([
        "source gke-prod: Cloud Logging entries.list answered PERMISSION_DENIED: The caller does not have permission. Likely fix: grant the bridge's identity the Logs Viewer role (roles/logging.viewer) on project example-project (roles/logging.privateLogViewer too, to read data_access)",
      ]);
    } finally {
      expect(await emulator.stop()).toBe(0);
    }
  });
});


describe('emulator gke input errors', () => {
  it('exits 2 with a message on an unknown fault or a missing data file', async () => {
    const fault = await runCli(['emulator', 'gke', '--port', '0', '--data', ENTRIES, '--faults', 'bogus=1']);
    expect(fault.code).toBe(2);
    expect(fault.stderr).toMatch(/^emulator gke: unknown fault "bogus"/);
    const missing = await runCli(['emulator', 'gke', '--port', '0', '--data', join(REPO, 'no-such-file.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^emulator gke: ENOENT/);
  });
});

describe('demo part gke', () => {
  it('polls the emulator through the SDK and prints the 24 GKE samples as events of cluster demo-gke', async () => {
    const got = await demoEvents(gkePart, 24, 'the GKE samples on stdout');
    expect(got.every((e) => validateEvent(e).length === 0 && e.annotations?.cluster_name === 'demo-gke' && e.annotations.project_id === 'demo-project')).toBe(true);
    expect(new Set(got.map((e) => e.auditID)).size).toBe(got.length);
    expect(got.some((e) => e.objectRef?.subresource === 'exec' && e.responseStatus?.code === 101)).toBe(true);
  });
});
