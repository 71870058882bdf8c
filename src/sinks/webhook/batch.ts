import { envelopeBytes, type BodyFormat, type BodyItem } from './format.js';

/**
 * The acknowledgement of one sink write: settles when each of its events has been delivered or
 * dead-lettered, fails as soon as one of its batches fails (the pipeline then retries the write).
 */
export class WriteTicket {
  readonly done: Promise<void>;
  private remaining: number;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;
  private finished = false;

  constructor(events: number) {
    this.remaining = events;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Observed by the write that owns it; this only keeps an abandoned write from being an unhandled rejection.
    this.done.catch(() => undefined);
    if (events === 0) this.finish();
  }

  settle(count: number): void {
    this.remaining -= count;
    if (this.remaining <= 0) this.finish();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.reject(err);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.resolve();
  }
}

export interface BatchLimits {
  maxItems: number;
  maxBytes: number;
}

/**
 * Items collected for one request body, with the writes they belong to. It never grows past the
 * count or byte limit: the body size, envelope included, is computed as items are added.
 */
export class Batch {
  readonly items: BodyItem[] = [];
  readonly owners = new Map<WriteTicket, number>();
  private itemBytes = 0;

  constructor(
    private readonly format: BodyFormat,
    private readonly limits: BatchLimits,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** Size of the body these items make. */
  get bytes(): number {
    return this.itemBytes + envelopeBytes(this.format, this.items.length);
  }

  get full(): boolean {
    return this.items.length >= this.limits.maxItems;
  }

  /** Whether one more item of `bytes` keeps the body within the limits. */
  accepts(bytes: number): boolean {
    if (this.full) return false;
    return this.itemBytes + bytes + envelopeBytes(this.format, this.items.length + 1) <= this.limits.maxBytes;
  }

  add(item: BodyItem, bytes: number, owner: WriteTicket): void {
    this.items.push(item);
    this.itemBytes += bytes;
    this.owners.set(owner, (this.owners.get(owner) ?? 0) + 1);
  }

  settle(): void {
    for (const [owner, count] of this.owners) owner.settle(count);
  }

  fail(err: unknown): void {
    for (const owner of this.owners.keys()) owner.fail(err);
  }
}
