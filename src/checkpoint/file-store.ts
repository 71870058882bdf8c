import { readFile } from 'node:fs/promises';
import { prepareDirectory, writeFileAtomic } from './atomic-write.js';
import { CheckpointError, type CheckpointStore, type Cursor } from './store.js';

interface CheckpointFile {
  version: 1;
  sources: Record<string, { cursor: Cursor; savedAt: string }>;
}

interface DedupeFile {
  version: 1;
  sources: Record<string, string[]>;
}

/**
 * Cursors of every source in one JSON file, replaced atomically on each save. Saves are
 * serialized and coalesced: while one write is in progress, later saves wait and are written
 * together, so a busy pipeline does not queue one file write per batch.
 * The dedupe windows, which can be large, live in a sibling file written less often.
 */
export class FileCheckpointStore implements CheckpointStore {
  private writing: Promise<void> | undefined;
  private pending: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;

  private constructor(
    readonly path: string,
    private readonly state: CheckpointFile,
    private readonly dedupe: DedupeFile,
    private readonly now: () => Date,
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
    const dedupe = await readJson(dedupePathOf(path), isDedupeFile, { version: 1, sources: {} });
    return new FileCheckpointStore(path, state, dedupe, now);
  }

  async load(source: string): Promise<Cursor | undefined> {
    return this.state.sources[source]?.cursor;
  }

  async loadDedupe(source: string): Promise<readonly string[]> {
    return this.dedupe.sources[source] ?? [];
  }

  save(source: string, cursor: Cursor): Promise<void> {
    this.state.sources[source] = { cursor, savedAt: this.now().toISOString() };
    return this.scheduleWrite();
  }

  async saveDedupe(windows: ReadonlyMap<string, readonly string[]>): Promise<void> {
    for (const [source, keys] of windows) this.dedupe.sources[source] = [...keys];
    await writeFileAtomic(this.dedupePath, JSON.stringify(this.dedupe));
  }

  savedAt(source: string): Date | undefined {
    const at = this.state.sources[source]?.savedAt;
    return at ? new Date(at) : undefined;
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing.catch(() => undefined);
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

export function dedupePathOf(path: string): string {
  return `${path.replace(/\.json$/, '')}.dedupe.json`;
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
