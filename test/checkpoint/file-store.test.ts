import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalDedupeKey, packDedupeKeys } from '../../src/checkpoint/dedupe-keys.js';
import { dedupeFileChunks, FileCheckpointStore } from '../../src/checkpoint/file-store.js';
import { DedupeWindow, dedupeKey } from '../../src/pipeline/dedupe.js';
import { CheckpointError } from '../../src/checkpoint/store.js';
import { FIXTURES } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

describe('FileCheckpointStore', () => {
  it('round-trips cursors and dedupe windows across reopen', async () => {
    const path = join(await tempDir(), 'state', 'checkpoints.json');
    const store = await FileCheckpointStore.open(path);
    await store.save('a', { watermark: 10, seen: ['x'] });
    await store.save('b', { offset: 3 });
    await store.saveDedupe(new Map([['a', packDedupeKeys(['k1#2', 'k2#2'])]]));
    await store.close();

    const again = await FileCheckpointStore.open(path);
    expect(await again.load('a')).toEqual({ watermark: 10, seen: ['x'] });
    expect(await again.load('b')).toEqual({ offset: 3 });
    expect(await again.load('c')).toBeUndefined();
    // Keys come back as the window keeps them: the 64-bit hash of what was saved, as 16 hex digits.
    expect(await again.loadDedupe('a')).toEqual(['k1#2', 'k2#2'].map(canonicalDedupeKey));
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

  describe('dedupe windows', () => {
    it('load a window saved by the previous version (auditID#code strings) as the same keys', async () => {
      const path = join(await tempDir(), 'checkpoints.json');
      const ids = ['3f1c9a7e-5b2d-4e8f-a6c1-0d9e8b7a6f51', '9b8c7d6e-1a2b-4c3d-8e5f-6a7b8c9d0e1f'];
      // The previous version's file: keys `${auditID}#${stage code}` (ResponseComplete is 2, ResponseStarted 1).
      await writeFile(`${path.replace(/\.json$/, '')}.dedupe.json`, JSON.stringify({ version: 1, sources: { old: [`${ids[0]}#2`, `${ids[1]}#1`] } }));
      const store = await FileCheckpointStore.open(path);
      const window = new DedupeWindow(10);
      window.restore(await store.loadDedupe('old'));
      const b = { state: 'pending' as const, settled: Promise.resolve() };
      expect(window.admit(dedupeKey({ auditID: ids[0]!, stage: 'ResponseComplete' }), b)).toEqual({ kind: 'delivered' });
      expect(window.admit(dedupeKey({ auditID: ids[1]!, stage: 'ResponseStarted' }), b)).toEqual({ kind: 'delivered' });
      expect(window.admit(dedupeKey({ auditID: ids[1]!, stage: 'ResponseComplete' }), b)).toEqual({ kind: 'new' });
      // Saved again, in the new form, and still the same keys.
      await store.saveDedupe(new Map([['other', packDedupeKeys(['x#2'])]]));
      const file = JSON.parse(await readFile(store.dedupePath, 'utf8')) as { version: number; sources: Record<string, string[]> };
      expect(file).toEqual({ version: 1, sources: { old: [dedupeKey({ auditID: ids[0]!, stage: 'ResponseComplete' }), dedupeKey({ auditID: ids[1]!, stage: 'ResponseStarted' })], other: [canonicalDedupeKey('x#2')] } });
    });

    it('round-trip a 500,000-key window, written in chunks of at most 16,384 keys', async () => {
      const path = join(await tempDir(), 'checkpoints.json');
      const window = new DedupeWindow(500_000);
      window.restore(Array.from({ length: 500_000 }, (_, i) => dedupeKey({ auditID: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, stage: 'ResponseComplete' })));
      const snapshot = window.snapshot();
      const store = await FileCheckpointStore.open(path);
      let started = performance.now();
      await store.saveDedupe(new Map([['big', packDedupeKeys(snapshot)], ['small', packDedupeKeys(snapshot.slice(0, 3))]]));
      const saveMs = performance.now() - started;
      started = performance.now();
      const again = await FileCheckpointStore.open(path);
      const loaded = await again.loadDedupe('big');
      const restored = new DedupeWindow(500_000);
      restored.restore(loaded);
      const loadMs = performance.now() - started;
      expect(loaded).toEqual(snapshot);
      expect(await again.loadDedupe('small')).toEqual(snapshot.slice(0, 3));
      expect(restored.snapshot()).toEqual(snapshot);
      // Timings are not asserted (shared machines); the bench reports them (npm run bench -- --only dedupe).
      console.log(`500,000 keys: save ${saveMs.toFixed(0)} ms, open + load + restore ${loadMs.toFixed(0)} ms`);

      const chunks = [...dedupeFileChunks([['big', new Uint32Array(2 * 500_000)]])];
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(16384 * 19);
      expect(chunks.length).toBeGreaterThan(500_000 / 16384);
    });

    it('write one save at a time, the last one winning', async () => {
      const path = join(await tempDir(), 'checkpoints.json');
      const store = await FileCheckpointStore.open(path);
      const saves = Array.from({ length: 20 }, (_, i) => store.saveDedupe(new Map([['a', packDedupeKeys(Array.from({ length: 1000 + i }, (_, k) => `k${k}#2`))]])));
      await Promise.all(saves);
      const again = await FileCheckpointStore.open(path);
      expect(await again.loadDedupe('a')).toHaveLength(1019);
    });
  });

  describe('dedupe journal', () => {
    const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => canonicalDedupeKey(`${prefix}${i}#2`));
    const journals = async (dir: string) => (await readdir(dir)).filter((n) => n.includes('.dedupe-journal.')).sort();

    it('keeps keys delivered since the last save for a process that never saved again (SIGKILL)', async () => {
      const dir = await tempDir();
      const path = join(dir, 'checkpoints.json');
      const store = await FileCheckpointStore.open(path);
      await store.saveDedupe(new Map([['a', packDedupeKeys(keys('s', 3))]]));
      await store.journalDedupe('a', keys('j', 2));
      await store.journalDedupe('b', keys('b', 1));
      await store.journalDedupe('a', keys('k', 2));
      // No close, no save: what a killed process leaves behind.
      const again = await FileCheckpointStore.open(path);
      expect(await again.loadDedupe('a')).toEqual([...keys('s', 3), ...keys('j', 2), ...keys('k', 2)]);
      expect(await again.loadDedupe('b')).toEqual(keys('b', 1));
    });

    it('is dropped once a save holds its keys, and keys journaled during the save stay', async () => {
      const dir = await tempDir();
      const path = join(dir, 'checkpoints.json');
      const store = await FileCheckpointStore.open(path);
      await store.journalDedupe('a', keys('j', 2));
      expect(await journals(dir)).toEqual(['checkpoints.dedupe-journal.0']);
      const saving = store.saveDedupe(new Map([['a', packDedupeKeys(keys('j', 2))]]));
      // Delivered after the window was taken: not in this save, so it must outlive it.
      await store.journalDedupe('a', keys('late', 1));
      await saving;
      expect(await journals(dir)).toEqual(['checkpoints.dedupe-journal.1']);
      const again = await FileCheckpointStore.open(path);
      expect(await again.loadDedupe('a')).toEqual([...keys('j', 2), ...keys('late', 1)]);
      // A reopened store writes after the generations it found, and its first save drops them.
      await again.journalDedupe('a', keys('next', 1));
      expect(await journals(dir)).toEqual(['checkpoints.dedupe-journal.1', 'checkpoints.dedupe-journal.2']);
      await again.saveDedupe(new Map([['a', packDedupeKeys(await again.loadDedupe('a'))]]));
      expect(await journals(dir)).toEqual([]);
    });

    it('passes over a line cut short by a kill in the middle of a write', async () => {
      const dir = await tempDir();
      const path = join(dir, 'checkpoints.json');
      const [k1, k2] = keys('x', 2);
      await writeFile(join(dir, 'checkpoints.dedupe-journal.4'), `${JSON.stringify(['a', k1])}\n["a","${k2!.slice(0, 5)}`);
      const store = await FileCheckpointStore.open(path);
      expect(await store.loadDedupe('a')).toEqual([k1]);
    });

    it('outlives a save that failed', async () => {
      const dir = await tempDir();
      const path = join(dir, 'checkpoints.json');
      const store = await FileCheckpointStore.open(path);
      await store.journalDedupe('a', keys('j', 1));
      // The window's file cannot be written where a directory stands.
      await mkdir(store.dedupePath);
      await expect(store.saveDedupe(new Map([['a', packDedupeKeys(keys('j', 1))]]))).rejects.toThrow();
      expect(await journals(dir)).toEqual(['checkpoints.dedupe-journal.0']);
    });
  });
});
