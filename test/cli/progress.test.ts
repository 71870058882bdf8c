import { spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { estimateLeftMs, renderProgress, roughDuration, type SourceProgress } from '../../src/cli/progress.js';
import { CLI, REPO, runCli, spawnNode, spawnTracked } from '../helpers/cli.js';
import { testdata } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

/* eslint-disable no-control-regex -- the terminal's escape sequences are what these tests look for */
// run --once's progress line (src/cli/progress.ts): the rendering and the estimate as pure functions,
// then the built CLI against the EKS emulator: JSON logs alone when stderr is not a terminal, and the
// line drawn and cleared on a pseudo-terminal (script(1) from util-linux, when it is there).

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);

describe('the progress line', () => {
  it('says the events delivered, the window reached, the rate and the time left', () => {
    expect(renderProgress({ delivered: 123456, elapsedMs: 10_000, reachedMs: T0, leftMs: 190_000 })).toBe(
      'backfill: 123,456 events delivered · window reached 2026-01-02 03:04:05Z · 12,346 events/s · about 3 min 10 s left',
    );
    // No rate in the first second, no window before a source has one, no time left until it can be told.
    expect(renderProgress({ delivered: 0, elapsedMs: 400 })).toBe('backfill: 0 events delivered');
    expect(renderProgress({ delivered: 10, elapsedMs: 2000, reachedMs: T0, leftMs: 0 })).toBe('backfill: 10 events delivered · window reached 2026-01-02 03:04:05Z · 5 events/s · finishing');
  });

  it('never wraps: the line is cut to the terminal width', () => {
    const line = renderProgress({ delivered: 123456, elapsedMs: 10_000, reachedMs: T0, leftMs: 190_000 }, 40);
    expect(line).toHaveLength(39);
    expect(line.endsWith('…')).toBe(true);
  });

  it('rounds the time left as an estimate deserves', () => {
    expect([400, 40_000, 61_000, 184_000, 599_000, 600_000, 3_540_000, 7_500_000].map(roughDuration)).toEqual([
      '1 s',
      '40 s',
      '1 min',
      '3 min',
      '10 min',
      '10 min',
      '59 min',
      '2 h 5 min',
    ]);
    expect(roughDuration(95_000)).toBe('1 min 40 s');
  });

  it('estimates the time left from the pace of the slowest source since it was first seen', () => {
    const now = T0;
    const source = (over: Partial<SourceProgress>): SourceProgress => ({
      reachedMs: now - 60 * 60_000,
      firstReachedMs: now - 120 * 60_000,
      firstSeenAtMs: now - 60_000,
      targetMs: now - 60_000,
      ...over,
    });
    // One hour of window read in one minute; 59 minutes left to read: 59 s.
    expect(estimateLeftMs([source({})], now)).toBe(59_000);
    // The slowest source sets it; one with no target (a stream) does not count.
    expect(estimateLeftMs([source({}), source({ firstReachedMs: now - 90 * 60_000 }), source({ targetMs: undefined, reachedMs: undefined })], now)).toBe(118_000);
    // At the target: nothing left. Not moved yet, or not seen yet: unknown.
    expect(estimateLeftMs([source({ reachedMs: now })], now)).toBe(0);
    expect(estimateLeftMs([source({ firstReachedMs: now - 60 * 60_000 })], now)).toBeUndefined();
    expect(estimateLeftMs([source({ reachedMs: undefined })], now)).toBeUndefined();
    expect(estimateLeftMs([source({ targetMs: undefined })], now)).toBeUndefined();
  });
});

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGTERM');
});

/** `emulator eks` with the samples, slowed so that the backfill takes a few seconds. */
function startEmulator(): Promise<string> {
  return new Promise((resolve, reject) => {
    const data = `${testdata('eks')}filterlogevents-records.json`;
    const child = spawnNode([CLI, 'emulator', 'eks', '--port', '0', '--data', data, '--cluster', 'demo-eks', '--faults', 'page-size=2,latency-ms=60'], { cwd: REPO, env: process.env });
    children.push(child);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0]!) as { endpoint: string }).endpoint);
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
}

async function backfillConfig(): Promise<{ config: string; dir: string; env: NodeJS.ProcessEnv }> {
  const endpoint = await startEmulator();
  const dir = await tempDir();
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    `
sources:
  - { name: demo-eks, type: eks, region: us-east-1, cluster: demo-eks, accountId: "123456789012", endpoint: ${endpoint}, startFrom: "2018-10-25T00:00:00Z", settleLag: 1s }
sinks:
  - { name: archive, type: file, path: ${join(dir, 'audit.jsonl')} }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
  );
  const env = { AWS_ACCESS_KEY_ID: 'AKIDEMULATOR', AWS_SECRET_ACCESS_KEY: 'emulator-secret', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  return { config, dir, env };
}

describe('run --once and its progress', () => {
  it('writes JSON log lines only when stderr is not a terminal', async () => {
    const { config, env } = await backfillConfig();
    const result = await runCli(['run', '--config', config, '--once'], { env, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/[\r\u001b]|backfill:/);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('exiting');
  });

  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasScript)('draws the line in place on a terminal and clears it at the end, the logs passing under it (skipped without script(1))', async () => {
    const { config, env } = await backfillConfig();
    // script(1) gives the CLI a pseudo-terminal for stdin, stdout and stderr; its output is what the terminal received.
    const command = `stty cols 160 2>/dev/null; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run --config ${JSON.stringify(config)} --once`;
    const screen = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawnTracked('script', ['-qfec', command, '/dev/null'], { cwd: REPO, env: { ...process.env, ...env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`run --once on a terminal did not finish:\n${out}`));
      }, 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    expect(screen.code, screen.out).toBe(0);
    const draws = [...screen.out.matchAll(/\r(backfill: [^\r\n\u001b]*)\u001b\[K/g)].map((m) => m[1]!);
    expect(draws.length, screen.out).toBeGreaterThan(0);
    expect(draws.at(-1)).toMatch(/^backfill: \d+ events delivered · window reached 20\d\d-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    expect(draws.some((d) => / events\/s/.test(d))).toBe(true);
    expect(draws.every((d) => d.length < 160)).toBe(true);
    // Cleared at the end: after the last draw the line is erased, and what follows is logs alone.
    const last = screen.out.lastIndexOf('\rbackfill: ');
    const after = screen.out.slice(last);
    expect(after).toMatch(/\r\u001b\[K/);
    // Every log line reached the terminal whole, on a line of its own once the progress line is taken down.
    const logs = screen.out.split('\n').flatMap((l) => {
      const at = l.indexOf('{"level"');
      if (at < 0) return [];
      expect(l.slice(0, at), JSON.stringify(l)).toMatch(/^(.*\r\u001b\[K)?$/s);
      return [l.slice(at).replace(/\r$/, '')];
    });
    expect(logs.length).toBeGreaterThan(2);
    for (const line of logs) expect(() => JSON.parse(line) as unknown, JSON.stringify(line)).not.toThrow();
    expect(logs.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('exiting');
  });
});
