// Reading one window with several requests in flight, for an API whose pages chain by a token
// (each page names the next, so one reader waits a full round trip per page). The window is cut
// into consecutive ranges of positions, each read by its own chain of pages, up to `parallel` of
// them at once, and their pages are handed on strictly in range order: the window cursor
// (src/sources/polling/window-poller.ts) sees what a single reader would have shown it, only
// sooner. Ranges are sized from what the first page covered, so a dense backlog is cut into
// ranges of a few pages each; a window one page holds is read with one request, as before, and
// once a range comes back far below a page, the rest of the window is read as one chain again.

/**
 * Pages' worth of positions a range is cut to, going by the first page, and the pages a range may
 * read ahead of the caller: a whole range, so that the next range is in hand when the caller gets
 * to it. More than one, so that a range's pages are full ones but its last: ranges of one page
 * each were mostly a full page and a sliver, twice the batches for the same events (end to end on
 * EKS that cost a quarter of the rate). At 150 ms a request (`npm run bench -- --only eks`) ranges of
 * four pages read one page ahead gained 1.15x with 2 and with 4 at once; two pages read whole gain
 * 1.55x and 2.38x (one-page ranges: 1.70x and 2.66x).
 */
export const PAGES_PER_RANGE = 2;

/** The pages of [from, to), in position order, the last one saying it has no more (ReadAheadOptions.more). */
export type RangeReader<P> = (from: bigint, to: bigint, signal: AbortSignal) => AsyncIterable<P>;

export interface ReadAheadOptions<P> {
  start: bigint;
  end: bigint;
  /** Ranges read at once, at most; 1 reads the window as one chain. */
  parallel: number;
  read: RangeReader<P>;
  /** Whether the chain has more pages after this one. */
  more: (page: P) => boolean;
  /** The first and last position a page holds; undefined for an empty page. */
  positions: (page: P) => { first: bigint; last: bigint } | undefined;
  /** How many records a page holds. */
  size: (page: P) => number;
  /**
   * Told the error of a range that failed while an earlier one was still being handed on, when
   * reading stops before reaching it: the API answered it, so it counts, though only the first
   * failure reaches the caller.
   */
  unsurfaced?: (error: unknown) => void;
}

/**
 * The window's pages in position order, each with whether it is the window's last. Positions at a
 * range's start may be read twice (the first page's last position starts the next range): the
 * caller's cursor drops them by key, as it drops a window's overlap.
 */
export async function* readAhead<P>(options: ReadAheadOptions<P>, signal: AbortSignal): AsyncGenerator<{ page: P; last: boolean }> {
  const { start, end, read, more, positions, size } = options;
  const first = read(start, end, signal)[Symbol.asyncIterator]();
  const head = await first.next();
  if (head.done) throw new Error('a range reader ended without a page');
  const covered = positions(head.value);
  if (options.parallel <= 1 || !more(head.value) || covered === undefined) {
    // One chain: the rest of the window's pages follow the first page's token.
    let page = head.value;
    for (;;) {
      const last = !more(page);
      yield { page, last };
      if (last) return;
      const next = await first.next();
      if (next.done) throw new Error('a range reader ended before its last page');
      page = next.value;
    }
  }
  await first.return?.();
  yield { page: head.value, last: false };

  // The first page was full: what is left of the window is cut into ranges of PAGES_PER_RANGE times
  // the positions that page covered, read `parallel` at a time.
  const perPage = Math.max(1, size(head.value));
  let span = (covered.last - covered.first > 0n ? covered.last - covered.first : 1n) * BigInt(PAGES_PER_RANGE);
  let from = covered.last;
  // Once a range comes back far below a page, the dense part is behind: the rest is one chain.
  let sparse = false;
  const controller = new AbortController();
  const stop = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();
  const queue: RangeChannel<P>[] = [];
  let surfaced: { error: unknown } | undefined;
  const launch = (): void => {
    while (queue.length < options.parallel && from < end) {
      const to = sparse || end - from <= span ? end : from + span;
      queue.push(new RangeChannel(read(from, to, controller.signal), PAGES_PER_RANGE, more, controller.signal));
      from = to;
    }
  };
  try {
    launch();
    while (queue.length > 0) {
      const range = queue[0]!;
      let records = 0;
      let pages = 0;
      for (;;) {
        const page = await range.next().catch((error: unknown) => {
          surfaced = range.failed;
          throw error;
        });
        if (page === undefined) break;
        records += size(page);
        pages++;
        const last = !more(page) && queue.length === 1 && from >= end;
        yield { page, last };
      }
      queue.shift();
      // A range that took more than twice the pages it was cut for halves the ranges after it: they
      // follow the density of the log rather than that of its first page.
      if (pages > 2 * PAGES_PER_RANGE && span > 1n) span /= 2n;
      if (records < perPage / 4) sparse = true;
      launch();
    }
  } finally {
    signal.removeEventListener('abort', stop);
    // A range that failed after the caller's signal aborted failed of the abort: not the API's answer.
    const answered = !signal.aborted;
    controller.abort(new Error('read-ahead ended'));
    for (const range of queue) {
      const failure = range.discard();
      if (answered && failure !== undefined && failure !== surfaced) options.unsurfaced?.(failure.error);
    }
  }
}

/**
 * One range's pages, read ahead by at most `capacity` pages: the reader waits while that many wait
 * to be handed on, so memory is bounded by ranges × capacity pages.
 */
class RangeChannel<P> {
  private readonly pages: P[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wakeReader: (() => void) | undefined;
  private wakeTaker: (() => void) | undefined;

  constructor(
    source: AsyncIterable<P>,
    private readonly capacity: number,
    more: (page: P) => boolean,
    signal: AbortSignal,
  ) {
    void this.pump(source, more, signal);
  }

  /** The next page, undefined at the range's end; throws what the reader threw. */
  async next(): Promise<P | undefined> {
    for (;;) {
      if (this.pages.length > 0) {
        const page = this.pages.shift()!;
        this.wakeReader?.();
        return page;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wakeTaker = resolve));
    }
  }

  /** How the reader failed, if it did. */
  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  /** Pages nobody will take: let them go. Returns how the reader had failed, if it had. */
  discard(): { error: unknown } | undefined {
    this.pages.length = 0;
    this.wakeReader?.();
    return this.failure;
  }

  private async pump(source: AsyncIterable<P>, more: (page: P) => boolean, signal: AbortSignal): Promise<void> {
    try {
      for await (const page of source) {
        this.pages.push(page);
        this.wake();
        if (!more(page)) break;
        while (this.pages.length >= this.capacity && !signal.aborted) await new Promise<void>((resolve) => (this.wakeReader = resolve));
        signal.throwIfAborted();
      }
      this.ended = true;
    } catch (error) {
      this.failure = { error };
    }
    this.wake();
  }

  private wake(): void {
    const taker = this.wakeTaker;
    this.wakeTaker = undefined;
    taker?.();
  }
}
