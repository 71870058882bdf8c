import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/pipeline/worker-pool.js';

type Job = number | 'throw' | 'exit' | { wait: number; n: number };
type Result = { n: number; threadId: number };

const DOUBLE = new URL('../fixtures/workers/double.mjs', import.meta.url);
const pools: WorkerPool<Job, Result>[] = [];

function pool(size: number, onWorkerExit?: (reason: string) => void): WorkerPool<Job, Result> {
  const p = new WorkerPool<Job, Result>({ script: DOUBLE, size, ...(onWorkerExit ? { onWorkerExit } : {}) });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('worker pool', () => {
  it('answers every job with its own result, spread over the workers', async () => {
    const p = pool(2);
    const results = await Promise.all(Array.from({ length: 40 }, (_, n) => p.run(n)));
    expect(results.map((r) => r.n)).toEqual(Array.from({ length: 40 }, (_, n) => n * 2));
    expect(new Set(results.map((r) => r.threadId)).size).toBe(2);
    expect(p.started).toBe(2);
  });

  it('sends a job to the idle worker, not behind a slow one', async () => {
    const p = pool(2);
    const slow = p.run({ wait: 400, n: 1 });
    const fast = await p.run(5);
    const slowResult = await slow;
    expect(fast.threadId).not.toBe(slowResult.threadId);
  });

  it('rejects a job its worker answered with an error, and goes on', async () => {
    const p = pool(1);
    await expect(p.run('throw')).rejects.toThrow('asked to throw');
    expect((await p.run(4)).n).toBe(8);
    expect(p.started).toBe(1);
  });

  it('fails only the jobs of a worker that died, and starts a new one for the next job', async () => {
    const exits: string[] = [];
    const p = pool(2, (reason) => exits.push(reason));
    const held = p.run({ wait: 300, n: 21 });
    await expect(p.run('exit')).rejects.toThrow('worker thread exited with code 3');
    expect((await held).n).toBe(42); // the other worker's job is untouched
    expect(exits).toEqual(['worker thread exited with code 3']);
    const after = await Promise.all([p.run(1), p.run(2)]);
    expect(after.map((r) => r.n)).toEqual([2, 4]);
    expect(p.started).toBe(3);
  });

  it('fails what is running when closed, and refuses jobs after', async () => {
    const p = pool(1);
    const running = expect(p.run({ wait: 5000, n: 1 })).rejects.toThrow('worker pool closed');
    await p.close();
    await running;
    await expect(p.run(1)).rejects.toThrow('worker pool is closed');
  });

  it('refuses a size that is not a whole number of at least 1', () => {
    expect(() => new WorkerPool({ script: DOUBLE, size: 0 })).toThrow(/whole number ≥ 1/);
  });
});
