import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writeFileAtomic } from '../../src/checkpoint/atomic-write.js';
import { FileCheckpointStore } from '../../src/checkpoint/file-store.js';
import { DedupeWindow, dedupeKey, type BatchState } from '../../src/pipeline/dedupe.js';
import { rate, withBaseline, type Figure, type Suite } from '../harness.js';
import { auditId } from '../workload.js';

const KEYS = 500_000;

// A full collection before each reading, so that a difference of heaps is what is live.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live bytes: the V8 heap and the typed arrays' backing stores, which live outside it. */
function liveBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The key the previous window kept, as it built it: a fresh `${auditID}#${code}` string per event. */
function previousKey(i: number): string {
  return `${auditId(i)}#2`;
}

/**
 * Issue 18's dedupe window figures, at the default process.dedupe.maxKeys (500,000): bytes a key
 * (live heap and typed arrays after a full collection, window full, vs the previous Map of
 * `auditID#code` strings built the same way in this run), the snapshot's save and load with the
 * file store (vs the previous form: one JSON.stringify of the string keys, one JSON.parse into a
 * Map), and the admission rate.
 */
export const dedupeSuite: Suite = {
  name: 'dedupe',
  description: 'dedupe window at 500,000 keys: bytes a key, snapshot save/load time, admissions/s; vs the previous Map of strings',
  async run(ctx) {
    const delivered: BatchState = { state: 'delivered', settled: Promise.resolve() };
    const figures: Figure[] = [];

    // Bytes a key: each structure built from fresh auditID strings, as events bring them.
    let before = liveBytes();
    const window = new DedupeWindow(KEYS);
    for (let i = 0; i < KEYS; i++) window.admit(dedupeKey({ auditID: auditId(i), stage: 'ResponseComplete' }), delivered);
    const hashedBytes = (liveBytes() - before) / KEYS;
    before = liveBytes();
    let previous: Map<string, BatchState | true> | undefined = new Map();
    for (let i = 0; i < KEYS; i++) previous.set(previousKey(i), delivered);
    const previousBytes = (liveBytes() - before) / KEYS;
    ctx.log(`${window.size.toLocaleString('en-US')} keys: ${hashedBytes.toFixed(1)} bytes a key hashed, ${previousBytes.toFixed(1)} as the previous Map of strings (${previous.size.toLocaleString('en-US')} keys)`);
    figures.push(withBaseline({ key: 'dedupe.bytes_per_key', label: 'dedupe window, 500,000 keys: bytes a key', value: hashedBytes, unit: 'B' }, 'the previous Map of strings', previousBytes));

    const dir = mkdtempSync(join(tmpdir(), 'kab-bench-dedupe-'));
    try {
      // Save: the window's snapshot, then the store's chunked write (fsync and rename included).
      const path = join(dir, 'checkpoints.json');
      const store = await FileCheckpointStore.open(path);
      let started = performance.now();
      await store.saveDedupe(new Map([['bench', window.packedSnapshot()]]));
      const saveMs = performance.now() - started;
      const fileMb = statSync(store.dedupePath).size / 1e6;

      // Load: open the store (parse), hand the keys over, restore a fresh window.
      started = performance.now();
      const reopened = await FileCheckpointStore.open(path);
      const restored = new DedupeWindow(KEYS);
      restored.restore(await reopened.loadDedupe('bench'));
      const loadMs = performance.now() - started;
      if (restored.size !== KEYS) throw new Error(`restored ${restored.size} keys of ${KEYS}`);

      // The previous form: one JSON string of every key, and a Map of strings on load.
      const previousPath = join(dir, 'previous.dedupe.json');
      started = performance.now();
      await writeFileAtomic(previousPath, JSON.stringify({ version: 1, sources: { bench: [...previous.keys()] } }));
      const previousSaveMs = performance.now() - started;
      const previousFileMb = statSync(previousPath).size / 1e6;
      started = performance.now();
      const parsed = JSON.parse(await readFile(previousPath, 'utf8')) as { sources: Record<string, string[]> };
      const reloaded = new Map<string, true>();
      for (const key of parsed.sources.bench!) reloaded.set(key, true);
      const previousLoadMs = performance.now() - started;
      previous = undefined;

      // An upgrade: the previous version's file loaded into the hashed window.
      started = performance.now();
      const upgraded = new DedupeWindow(KEYS);
      // previous.dedupe.json is the dedupe file of a checkpoint at previous.json.
      upgraded.restore(await (await FileCheckpointStore.open(join(dir, 'previous.json'))).loadDedupe('bench'));
      const upgradeMs = performance.now() - started;
      if (upgraded.size !== KEYS) throw new Error(`upgraded ${upgraded.size} keys of ${KEYS}`);

      ctx.log(`snapshot of 500,000 keys: save ${saveMs.toFixed(0)} ms (${fileMb.toFixed(1)} MB), load ${loadMs.toFixed(0)} ms; previous form: save ${previousSaveMs.toFixed(0)} ms (${previousFileMb.toFixed(1)} MB), load ${previousLoadMs.toFixed(0)} ms; a previous file into the hashed window ${upgradeMs.toFixed(0)} ms`);
      figures.push(
        withBaseline({ key: 'dedupe.snapshot_save_ms', label: 'dedupe window, 500,000 keys: snapshot + save', value: saveMs, unit: 'ms' }, 'the previous JSON.stringify + write', previousSaveMs),
        withBaseline({ key: 'dedupe.snapshot_load_ms', label: 'dedupe window, 500,000 keys: open + load + restore', value: loadMs, unit: 'ms' }, 'the previous JSON.parse into a Map', previousLoadMs),
        { key: 'dedupe.snapshot_file_mb', label: '  the saved window', value: fileMb, unit: 'MB' },
        { key: 'dedupe.upgrade_load_ms', label: "  a previous version's file (auditID#code keys) into the hashed window", value: upgradeMs, unit: 'ms' },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // Admissions: a batch's keys through a full window (every key new, so every one evicts).
    const ids = Array.from({ length: 10_000 }, (_, i) => auditId(KEYS + i));
    let round = 0;
    const pending: BatchState = { state: 'pending', settled: Promise.resolve() };
    const admit = await rate(() => {
      round++;
      for (const id of ids) window.admit(dedupeKey({ auditID: `${id}-${round}`, stage: 'ResponseComplete' }), pending);
    }, ids.length, { minMs: ctx.quick ? 500 : 2000 });
    const map = new Map<string, BatchState | true>();
    for (let i = 0; i < KEYS; i++) map.set(previousKey(i), delivered);
    round = 0;
    const mapAdmit = await rate(() => {
      round++;
      for (const id of ids) {
        const key = `${id}-${round}#2`;
        if (map.get(key) === undefined) {
          map.set(key, pending);
          if (map.size > KEYS) map.delete(map.keys().next().value!);
        }
      }
    }, ids.length, { minMs: ctx.quick ? 500 : 2000 });
    figures.push(withBaseline({ key: 'dedupe.admit.keys_per_s', label: 'dedupe window, full: new keys admitted (hash + evict)', value: admit.opsPerSecond, unit: 'keys/s' }, 'the previous Map of strings', mapAdmit.opsPerSecond));
    return figures;
  },
};
