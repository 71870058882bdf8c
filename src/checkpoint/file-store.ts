import { appendFile, readFile, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { prepareDirectory, writeChunksAtomic, writeFileAtomic } from './atomic-write.js';
import { DEDUPE_KEY_LENGTH, packDedupeKeys, unpackDedupeKeys, writeDedupeKey } from './dedupe-keys.js';
import { CheckpointError, type CheckpointStore, type Cursor } from './store.js';

interface CheckpointFile {
  version: 1;
  sources: Record<string, { cursor: Cursor; savedAt: string }>;
}

/**
 * The dedupe windows' file: each source's keys, oldest first, as src/checkpoint/dedupe-keys.ts writes
 * them (16 hex digits; a file of an earlier version holds `auditID#code` strings, which load as their
 * hashes). An earlier version reads this one too: its keys are strings it never matches, so after a
 * downgrade duplicates can pass, but it starts.
 */
interface DedupeFile {
  version: 1;
  sources: Record<string, string[]>;
}

/** Keys per write when a window is saved: about 300 KB each. */
const KEYS_PER_CHUNK = 16384;

/**
 * Cursors of every source in one JSON file, replaced atomically on each save. Saves are
 * serialized and coalesced: while one write is in progress, later saves wait and are written
 * together, so a busy pipeline does not queue one file write per batch.
 * The dedupe windows, which can be large, live in a sibling file written less often
 * (checkpoint.dedupeSaveInterval). Between two such saves the keys of each delivered batch are
 * appended to a journal, `<name>.dedupe-journal.<generation>`, one line per batch:
 * `["<source>","<key>",...]`. A save starts a new generation and, once written, deletes the
 * older ones, whose keys it holds; opening the store adds what journals remain to the windows.
 */
export class FileCheckpointStore implements CheckpointStore {
  private writing: Promise<void> | undefined;
  private dedupeWriting: Promise<void> = Promise.resolve();
  private journalWriting: Promise<void> = Promise.resolve();
  private pending: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;

  private constructor(
    readonly path: string,
    private readonly state: CheckpointFile,
    /** Every source's window as last saved or loaded, packed (8 bytes a key): a save rewrites them all. */
    private readonly dedupe: Map<string, Uint32Array>,
    private readonly now: () => Date,
    /** Journal generations on disk, and the one appends go to. */
    private readonly journals: Set<number>,
    private generation: number,
  ) {}

  get dedupePath(): string {
    return dedupePathOf(this.path);
  }

  static async open(path: string, now: () => Date = () => new Date()): Promise<FileCheckpointStore> {
    try {
      await prepareDirectory(path);
    } catch (err) {
      throw new CheckpointError(path, `cannot be prepared (${(err as Error).message})`);
    }
    const state = await readJson(path, isCheckpointFile, { version: 1, sources: {} });
    const file = await readJson(dedupePathOf(path), isDedupeFile, { version: 1, sources: {} });
    const journals = await readJournals(path);
    for (const [source, keys] of journals.keys) file.sources[source] = [...(file.sources[source] ?? []), ...keys];
    const dedupe = new Map(Object.entries(file.sources).map(([source, keys]) => [source, packDedupeKeys(keys)]));
    const generations = new Set(journals.generations);
    return new FileCheckpointStore(path, state, dedupe, now, generations, Math.max(-1, ...generations) + 1);
  }

  async load(source: string): Promise<Cursor | undefined> {
    return this.state.sources[source]?.cursor;
  }

  async loadDedupe(source: string): Promise<readonly string[]> {
    const packed = this.dedupe.get(source);
    return packed ? unpackDedupeKeys(packed) : [];
  }

  save(source: string, cursor: Cursor): Promise<void> {
    this.state.sources[source] = { cursor, savedAt: this.now().toISOString() };
    return this.scheduleWrite();
  }

  saveDedupe(windows: ReadonlyMap<string, Uint32Array>): Promise<void> {
    for (const [source, keys] of windows) this.dedupe.set(source, keys);
    // The windows were taken in this tick, so every key journaled so far is in them: later keys go
    // to a new generation, and this one and those before it can go once the windows are written.
    const retired = this.generation++;
    // One write at a time, each of the windows as they were when it began: the last save wins.
    const sources = [...this.dedupe];
    const write = this.dedupeWriting
      .catch(() => undefined)
      .then(() => writeChunksAtomic(this.dedupePath, dedupeFileChunks(sources)))
      .then(() => this.dropJournals(retired));
    this.dedupeWriting = write;
    return write;
  }

  journalDedupe(source: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    const generation = this.generation;
    this.journals.add(generation);
    const line = `${JSON.stringify([source, ...keys])}\n`;
    const write = this.journalWriting.catch(() => undefined).then(() => appendFile(journalPathOf(this.path, generation), line));
    this.journalWriting = write;
    return write;
  }

  savedAt(source: string): Date | undefined {
    const at = this.state.sources[source]?.savedAt;
    return at ? new Date(at) : undefined;
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing.catch(() => undefined);
    await this.dedupeWriting.catch(() => undefined);
    await this.journalWriting.catch(() => undefined);
  }

  private async dropJournals(upTo: number): Promise<void> {
    // An append queued before the save began may still be on its way to a retired file.
    await this.journalWriting.catch(() => undefined);
    for (const generation of [...this.journals]) {
      if (generation > upTo) continue;
      await rm(journalPathOf(this.path, generation), { force: true });
      this.journals.delete(generation);
    }
  }

  private scheduleWrite(): Promise<void> {
    if (!this.writing) {
      this.writing = this.writeLoop();
      return this.writing;
    }
    // A write is in progress and has already serialized the state: join the next one.
    if (!this.pending) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.pending = { promise, resolve, reject };
    }
    return this.pending.promise;
  }

  private async writeLoop(): Promise<void> {
    try {
      await writeFileAtomic(this.path, JSON.stringify(this.state));
    } finally {
      const next = this.pending;
      this.pending = undefined;
      this.writing = undefined;
      if (next) this.scheduleWrite().then(next.resolve, next.reject);
    }
  }
}

/**
 * The dedupe file's JSON, {"version":1,"sources":{"name":["<key>",...],...}}, in chunks of
 * KEYS_PER_CHUNK keys, so that a 500,000-key window is never one 10 MB string.
 */
export function* dedupeFileChunks(sources: readonly (readonly [string, Uint32Array])[]): Generator<string | Uint8Array> {
  yield '{"version":1,"sources":{';
  let firstSource = true;
  for (const [source, packed] of sources) {
    yield `${firstSource ? '' : ','}${JSON.stringify(source)}:[`;
    firstSource = false;
    const keys = packed.length / 2;
    for (let from = 0; from < keys; from += KEYS_PER_CHUNK) {
      const to = Math.min(keys, from + KEYS_PER_CHUNK);
      // Each key is "<16 hex digits>" and a comma before all but the first.
      const chunk = Buffer.allocUnsafe((to - from) * (DEDUPE_KEY_LENGTH + 3));
      let pos = 0;
      for (let k = from; k < to; k++) {
        if (k > 0) chunk[pos++] = 0x2c;
        chunk[pos++] = 0x22;
        pos = writeDedupeKey(chunk, pos, packed[2 * k]!, packed[2 * k + 1]!);
        chunk[pos++] = 0x22;
      }
      yield chunk.subarray(0, pos);
    }
    yield ']';
  }
  yield '}}';
}

export function dedupePathOf(path: string): string {
  return `${path.replace(/\.json$/, '')}.dedupe.json`;
}

function journalPrefix(path: string): string {
  return `${basename(path).replace(/\.json$/, '')}.dedupe-journal.`;
}

export function journalPathOf(path: string, generation: number): string {
  return join(dirname(path), `${journalPrefix(path)}${generation}`);
}

/**
 * Keys of every journal beside `path`, oldest generation first. A line cut short by a kill in the
 * middle of a write, or anything else that is not a list of strings, is passed over: the journal
 * only narrows the duplicates a crash can cause.
 */
async function readJournals(path: string): Promise<{ generations: number[]; keys: Map<string, string[]> }> {
  const prefix = journalPrefix(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (err) {
    throw new CheckpointError(path, `directory cannot be listed (${(err as Error).message})`);
  }
  const generations = names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => a - b);
  const keys = new Map<string, string[]>();
  for (const generation of generations) {
    let text: string;
    try {
      text = await readFile(journalPathOf(path, generation), 'utf8');
    } catch (err) {
      throw new CheckpointError(journalPathOf(path, generation), `cannot be read (${(err as Error).message})`);
    }
    for (const line of text.split('\n')) {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      if (!Array.isArray(entry) || entry.length < 2 || !entry.every((v) => typeof v === 'string')) continue;
      const [source, ...batch] = entry;
      const list = keys.get(source!) ?? [];
      for (const key of batch) list.push(key);
      keys.set(source!, list);
    }
  }
  return { generations, keys };
}

async function readJson<T>(path: string, check: (v: unknown) => v is T, empty: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty;
    throw new CheckpointError(path, `cannot be read (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(path, `is not valid JSON (${(err as Error).message})`);
  }
  if (!check(value)) throw new CheckpointError(path, 'does not have the expected shape {"version": 1, "sources": {...}}');
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCheckpointFile(v: unknown): v is CheckpointFile {
  return (
    isRecord(v) &&
    v.version === 1 &&
    isRecord(v.sources) &&
    Object.values(v.sources).every((s) => isRecord(s) && isRecord(s.cursor) && typeof s.savedAt === 'string')
  );
}

function isDedupeFile(v: unknown): v is DedupeFile {
  return (
    isRecord(v) &&
    v.version === 1 &&
    isRecord(v.sources) &&
    Object.values(v.sources).every((keys) => Array.isArray(keys) && keys.every((k) => typeof k === 'string'))
  );
}
