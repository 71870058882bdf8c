import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointStore, Cursor } from '../../src/checkpoint/store.js';
import type { AuditEvent } from '../../src/event/event.js';
import type { Sink, Source, SourceBatch } from '../../src/pipeline/types.js';
import { abortReason } from '../../src/util/clock.js';

/** A sink that records what it acknowledged; each write can be held, failed or released by the test. */
export class RecordingSink implements Sink {
  readonly received: AuditEvent[] = [];
  readonly writes: { events: readonly AuditEvent[]; release: () => void; fail: (err: Error) => void }[] = [];
  /** When set, writes wait for the test to release them. */
  hold = false;
  /** When set, each write throws this until cleared. */
  failWith: Error | undefined;
  closed = false;

  constructor(readonly name = 'recording') {}

  write(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    if (!this.hold) {
      this.received.push(...events);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.writes.push({
        events,
        release: () => {
          signal.removeEventListener('abort', onAbort);
          this.received.push(...events);
          resolve();
        },
        fail: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * A polling-like source over a fixed list of batches: resumes after the cursor {next: i}, and
 * counts how many batches the pipeline pulled (to observe backpressure).
 */
export class ListSource implements Source {
  pulled = 0;

  constructor(
    readonly name: string,
    private readonly batches_: { events: AuditEvent[]; rejects?: SourceBatch['rejects']; caughtUp?: boolean }[],
    private readonly options: { endWhenDone?: boolean } = { endWhenDone: true },
  ) {}

  async *batches(from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const start = typeof from?.next === 'number' ? from.next : 0;
    for (let i = start; i < this.batches_.length && !signal.aborted; i++) {
      this.pulled++;
      const b = this.batches_[i]!;
      yield { source: this.name, events: b.events, rejects: b.rejects ?? [], cursor: { next: i + 1 }, ...(b.caughtUp ? { caughtUp: true } : {}) };
    }
    if (!this.options.endWhenDone) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    }
  }
}

/** Records the order of saves on top of a real store. */
export class SpyingStore implements CheckpointStore {
  readonly saved: Cursor[] = [];

  constructor(private readonly inner: CheckpointStore) {}

  load(source: string): Promise<Cursor | undefined> {
    return this.inner.load(source);
  }
  async save(source: string, cursor: Cursor): Promise<void> {
    this.saved.push(cursor);
    await this.inner.save(source, cursor);
  }
  loadDedupe(source: string): Promise<readonly string[]> {
    return this.inner.loadDedupe(source);
  }
  saveDedupe(windows: ReadonlyMap<string, Uint32Array>): Promise<void> {
    return this.inner.saveDedupe(windows);
  }
  journalDedupe(source: string, keys: readonly string[]): Promise<void> {
    return this.inner.journalDedupe(source, keys);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Polls a condition until it holds (tests wait on effects, never on fixed sleeps). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Keys of `source` in the dedupe journals a (killed) bridge left in `dir` (src/checkpoint/file-store.ts). */
export async function journaledDedupeKeys(dir: string, source: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const name of await readdir(dir)) {
    if (!name.startsWith('checkpoints.dedupe-journal.')) continue;
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      try {
        const [from, ...batch] = JSON.parse(line) as string[];
        if (from === source) for (const key of batch) keys.add(key);
      } catch {
        // a line cut short by the kill
      }
    }
  }
  return keys;
}
