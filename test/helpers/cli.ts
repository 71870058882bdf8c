import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams, type SpawnOptionsWithoutStdio } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const running = new Set<ChildProcess>();
// A test that times out, or a test run cut short, must not leave a bridge or an emulator behind
// holding ports and CPU: whatever is still running when this test process exits goes with it.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `spawn`, and the child is killed when this test process exits if it has not exited by then. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptionsWithoutStdio = {}): ChildProcessWithoutNullStreams {
  const child = spawn(command, args, options);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Starts `node <args>` (the CLI is `[CLI, ...]`), tracked as spawnTracked does. */
export function spawnNode(args: readonly string[], options: SpawnOptionsWithoutStdio = {}): ChildProcessWithoutNullStreams {
  return spawnTracked(process.execPath, args, options);
}

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI to completion (the tests run after `npm run build`, as `npm test` does), with
 * `input` on its stdin when given.
 */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnNode([CLI, ...args], { cwd: options.cwd ?? REPO, env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kube-audit-bridge ${args.join(' ')} did not finish in time\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
  });
}

/** Starts the CLI and resolves once a JSON log line satisfies `ready`. */
export function startCli(
  args: string[],
  ready: (log: Record<string, unknown>) => boolean,
  options: { cwd?: string } = {},
): Promise<{ child: ChildProcessWithoutNullStreams; log: Record<string, unknown>; output: { stdout: string; stderr: string } }> {
  return new Promise((resolve, reject) => {
    const child = spawnNode([CLI, ...args], { cwd: options.cwd ?? REPO, env: process.env });
    const output = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
    let buffered = '';
    child.stderr.on('data', (d: Buffer) => {
      output.stderr += d.toString();
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          const log = JSON.parse(line) as Record<string, unknown>;
          if (ready(log)) resolve({ child, log, output });
        } catch {
          // not a log line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before it was ready:\n${output.stderr}`)));
  });
}

export function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** The stderr lines that are not JSON logs: what a person reads. */
export function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  });
}
