import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workerCount } from '../../src/bridge.js';
import { usableCpus } from '../../src/util/cpus.js';
import { tempDir } from '../helpers/fs.js';

describe('usable CPUs and pipeline.workers: auto', () => {
  it('lowers the CPU count to a cgroup v2 quota, and ignores "max", a missing file and nonsense', async () => {
    const dir = await tempDir();
    const file = async (text: string): Promise<string> => {
      const path = join(dir, `cpu.max.${Math.random()}`);
      await writeFile(path, text);
      return path;
    };
    const cpus = availableParallelism();
    expect(usableCpus(await file('100000 100000\n'))).toBe(1);
    expect(usableCpus(await file('150000 100000\n'))).toBe(Math.min(cpus, 2)); // 1.5 CPUs: two threads may run
    expect(usableCpus(await file('max 100000\n'))).toBe(cpus);
    expect(usableCpus(await file('garbage\n'))).toBe(cpus);
    expect(usableCpus(join(dir, 'absent'))).toBe(cpus);
  });

  it('auto is one worker per CPU beside the main thread, at most 4, and none on one CPU; a number is taken as it is', () => {
    expect(workerCount('auto', 1)).toBe(0);
    expect(workerCount('auto', 2)).toBe(1);
    expect(workerCount('auto', 3)).toBe(2);
    expect(workerCount('auto', 64)).toBe(4);
    expect(workerCount(0, 8)).toBe(0);
    expect(workerCount(6, 2)).toBe(6);
  });
});
