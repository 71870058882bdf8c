import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { statCpuSeconds } from './threads.js';
import { ROOT } from './workload.js';

/**
 * The bridge as its own process (bench/bridge-child.ts: `run` with the cloud quotas lifted), so its
 * peak RSS is its own and not the benchmark's or the emulator's. Linux keeps the peak in
 * /proc/<pid>/status (VmHWM).
 */
export class BridgeProcess {
  private readonly listening: Promise<number>;

  private constructor(private readonly child: ChildProcess) {
    // The server's port, from its 'server listening' log line (info level).
    this.listening = new Promise<number>((resolve, reject) => {
      let head = '';
      const onData = (c: Buffer): void => {
        head += c.toString('utf8');
        const line = head.split('\n').find((l) => l.includes('"msg":"server listening"'));
        const port = line ? (JSON.parse(line) as { port?: number }).port : undefined;
        if (port !== undefined) {
          child.stderr?.off('data', onData);
          resolve(port);
        }
      };
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`bridge exited (${code}) before it listened`)));
    });
  }

  /** The server port, once the bridge listens (needs log level info or lower). */
  port(): Promise<number> {
    return this.listening;
  }

  static start(configPath: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = []): BridgeProcess {
    const child = spawn(process.execPath, [...nodeArgs, `${ROOT}dist-bench/bench/bridge-child.js`, configPath], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tail = '';
    child.stderr.on('data', (c: Buffer) => {
      tail = (tail + c.toString('utf8')).slice(-4000);
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`bridge exited ${code}: ${tail}\n`);
    });
    return new BridgeProcess(child);
  }

  /** Peak resident set size so far, MB. */
  peakRssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  }

  /** CPU seconds the bridge has used (user + system), from /proc/<pid>/stat at 100 ticks per second. */
  cpuSeconds(): number {
    return statCpuSeconds(`/proc/${this.child.pid}/stat`);
  }

  /** CPU seconds the bridge's main thread has used (its thread id is the process id). */
  mainThreadCpuSeconds(): number {
    return statCpuSeconds(`/proc/${this.child.pid}/task/${this.child.pid}/stat`);
  }

  rssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  }

  /** SIGTERM and wait for the drain to finish. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}
