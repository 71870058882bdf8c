/** A source's position: opaque to everyone but its provider; JSON-serializable. */
export type Cursor = Record<string, unknown>;

export interface CheckpointStore {
  load(source: string): Promise<Cursor | undefined>;
  /** Durable when it resolves. */
  save(source: string, cursor: Cursor): Promise<void>;
  /** The dedupe windows saved beside the cursors, by source. */
  loadDedupe(source: string): Promise<readonly string[]>;
  /** Each source's window, packed as src/checkpoint/dedupe-keys.ts packs keys (packDedupeKeys). */
  saveDedupe(windows: ReadonlyMap<string, Uint32Array>): Promise<void>;
  /**
   * Records keys of a batch just delivered, between two saves of the windows, so that a process
   * killed before the next save still knows them after a restart; loadDedupe returns them after
   * the saved window. Survives the process, not the machine: it is not synced to disk.
   */
  journalDedupe(source: string, keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `checkpoint file ${file} ${detail}. The bridge will not start from scratch on its own: ` +
        'repair the file, or move it aside to start again from each source\'s startFrom.',
    );
    this.name = 'CheckpointError';
  }
}
