import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../src/checkpoint/file-store.js';
import { CheckpointError } from '../../src/checkpoint/store.js';
import { FIXTURES } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

describe('FileCheckpointStore', () => {
  it('round-trips cursors and dedupe windows across reopen', async () => {
    const path = join(await tempDir(), 'state', 'checkpoints.json');
    const store = await FileCheckpointStore.open(path);
    await store.save('a', { watermark: 10, seen: ['x'] });
    await store.save('b', { offset: 3 });
    await store.saveDedupe(new Map([['a', ['k1#2', 'k2#2']]]));
    await store.close();

    const again = await FileCheckpointStore.open(path);
    expect(await again.load('a')).toEqual({ watermark: 10, seen: ['x'] });
    expect(await again.load('b')).toEqual({ offset: 3 });
    expect(await again.load('c')).toBeUndefined();
    expect(await again.loadDedupe('a')).toEqual(['k1#2', 'k2#2']);
    expect(await again.loadDedupe('b')).toEqual([]);
  });

  it('coalesces concurrent saves and resolves each only once its state is on disk', async () => {
    const path = join(await tempDir(), 'checkpoints.json');
    const store = await FileCheckpointStore.open(path);
    const saves = Array.from({ length: 50 }, (_, i) => store.save(`s${i % 5}`, { n: i }));
    await Promise.all(saves);
    const reopened = await FileCheckpointStore.open(path);
    for (let s = 0; s < 5; s++) expect(await reopened.load(`s${s}`)).toEqual({ n: 45 + s });
  });

  it.each([
    ['is not JSON', '{"version": 1, "sources": {', /checkpoint file .* is not valid JSON/],
    ['has the wrong shape', '{"version": 2, "sources": {}}', /checkpoint file .* does not have the expected shape/],
    ['has a cursor that is not an object', '{"version": 1, "sources": {"a": {"cursor": 5, "savedAt": "x"}}}', /does not have the expected shape/],
  ])('refuses to start when the file %s, naming the file and the fix', async (_what, content, message) => {
    const path = join(await tempDir(), 'checkpoints.json');
    await writeFile(path, content);
    const err = await FileCheckpointStore.open(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toContain('move it aside to start again');
  });

  it('refuses a checkpoint path it cannot read', async () => {
    const path = join(await tempDir(), 'checkpoints.json');
    await mkdir(path); // a directory where the file should be
    await expect(FileCheckpointStore.open(path)).rejects.toThrow(/checkpoint file .*checkpoints\.json cannot be read \(EISDIR/);
  });

  it('a writer killed at any moment leaves the old or the new checkpoint, never a broken one', async () => {
    const dir = await tempDir();
    const path = join(dir, 'checkpoints.json');
    let lastSeen = 0;
    let killedMidWrite = 0;
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, [`${FIXTURES}scripts/checkpoint-writer.mjs`, path, String(512 * 1024)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
      });
      // Let it write for a while, then kill it without warning.
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 120));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;

      if ((await readdir(dir)).some((f) => f.includes('.tmp-'))) killedMidWrite++;
      const store = await FileCheckpointStore.open(path); // throws if the file is broken
      const cursor = (await store.load('source-a')) as { n: number; pad: string; check: number };
      expect(cursor.check).toBe(cursor.n * 7);
      expect(cursor.pad).toHaveLength(512 * 1024);
      // The next writer continues from 1 again, so compare within the round only: a valid, complete save.
      expect(cursor.n).toBeGreaterThan(0);
      lastSeen = cursor.n;
      expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]); // leftovers cleaned at open
    }
    expect(lastSeen).toBeGreaterThan(0);
    // The kills must really land during writes for the test to mean anything.
    expect(killedMidWrite).toBeGreaterThan(0);
  });
});
