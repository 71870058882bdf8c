// A fixed set of worker threads running one script, each job a message and its answer. Jobs go to
// the worker with the fewest outstanding, so a slow job does not hold up the others behind it. A
// worker that dies (an uncaught error, an out-of-memory, an exit) fails only the jobs it held, and
// a fresh one takes its place on the next job: the caller decides what a failed job means.
import { Worker } from 'node:worker_threads';

/** What a worker answers: the job's result, or the message of the error it threw. */
export type WorkerAnswer<R> = { id: number; ok: true; result: R } | { id: number; ok: false; error: string };

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>;
}

export interface WorkerPoolOptions {
  /** The worker script (a built .js file). */
  script: URL;
  size: number;
  /** Handed to every worker as workerData. */
  workerData?: unknown;
  /** Heap limits of each worker (Node's ResourceLimits); default Node's. */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
  /** Told when a worker dies, with why. */
  onWorkerExit?: (reason: string) => void;
}

export class WorkerPool<J, R> {
  private readonly slots: (Slot | undefined)[];
  private nextId = 1;
  private closed = false;
  /** Workers started over the pool's life, replacements included (tests read it). */
  started = 0;

  constructor(private readonly options: WorkerPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`worker pool size must be a whole number ≥ 1, got ${options.size}`);
    this.slots = Array.from({ length: options.size }, () => undefined);
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Runs a job on the least busy worker; rejects if the worker throws or dies before answering.
   * `transfer` lists buffers of the job that change hands rather than being copied: the caller
   * must not touch them again.
   */
  run(job: J, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const index = this.leastBusy();
    const slot = (this.slots[index] ??= this.spawn(index));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      // A job in progress keeps the process alive; an idle worker does not.
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage({ id, job }, transfer);
    });
  }

  /** Ends every worker; jobs still running are failed. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.slots.flatMap((s) => (s ? [s] : []));
    this.slots.fill(undefined);
    await Promise.all(
      workers.map(async (slot) => {
        this.fail(slot, 'worker pool closed');
        await slot.worker.terminate();
      }),
    );
  }

  private leastBusy(): number {
    let best = 0;
    let bestLoad = Infinity;
    this.slots.forEach((slot, i) => {
      // A slot without a worker yet counts as idle: spreading work starts the workers it needs.
      const load = slot?.pending.size ?? 0;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    });
    return best;
  }

  private spawn(index: number): Slot {
    const { script, workerData, resourceLimits } = this.options;
    const worker = new Worker(script, { workerData, ...(resourceLimits ? { resourceLimits } : {}) });
    this.started++;
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (answer: WorkerAnswer<R>) => {
      const waiter = slot.pending.get(answer.id);
      if (!waiter) return;
      slot.pending.delete(answer.id);
      if (slot.pending.size === 0) slot.worker.unref();
      if (answer.ok) waiter.resolve(answer.result);
      else waiter.reject(new Error(answer.error));
    });
    let dead = false;
    const gone = (reason: string): void => {
      if (dead) return;
      dead = true;
      if (this.slots[index] === slot) this.slots[index] = undefined;
      if (slot.pending.size > 0 || !this.closed) this.options.onWorkerExit?.(reason);
      this.fail(slot, reason);
    };
    worker.on('error', (err) => gone(`worker thread failed: ${err.message}`));
    worker.on('exit', (code) => gone(`worker thread exited with code ${code}`));
    worker.unref();
    return slot;
  }

  private fail(slot: Slot, reason: string): void {
    for (const waiter of slot.pending.values()) waiter.reject(new Error(reason));
    slot.pending.clear();
  }
}
