// The window loop every polled source shares (src/sources/polling/window-poller.ts), over a log in
// memory: a provider supplies pages, a record's position and key, and the conversion.
import { describe, expect, it } from 'vitest';
import type { AuditEvent, Reject } from '../../../src/event/event.js';
import type { Cursor, SourceBatch } from '../../../src/pipeline/types.js';
import type { ApiFailure, PollContext } from '../../../src/sources/polling/loop.js';
import { OverlapWindowPoller, type Page, type RecordId } from '../../../src/sources/polling/window-poller.js';
import type { PositionCodec, Window } from '../../../src/sources/polling/window.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import { makeEvents } from '../../helpers/events.js';

interface Row {
  at: number;
  id: string;
}

const ms: PositionCodec = {
  unit: 'ms',
  format: (p) => Number(p),
  parse: (v) => (typeof v === 'number' ? BigInt(v) : typeof v === 'string' && /^\d+$/.test(v) ? BigInt(v) : undefined),
  fromMs: (t) => BigInt(Math.floor(t)),
};

/** A log in memory, read in pages of `pageSize` rows; `keyset` resumes after the last row like AKS. */
class MemoryPoller extends OverlapWindowPoller<Row> {
  readonly windows: Window[] = [];
  readonly pagesServed: number[] = [];
  emptyPagesFirst = 0;

  constructor(
    readonly log: Row[],
    private readonly pageSize: number,
    private readonly keyset: boolean,
    metrics?: Metrics,
  ) {
    super({ name: 'mem', codec: ms, settleLagMs: 10, overlapMs: 50, ...(metrics ? { metrics } : {}) });
  }

  protected async *pages(window: Window): AsyncGenerator<Page<Row>> {
    this.windows.push(window);
    for (let i = 0; i < this.emptyPagesFirst; i++) yield { records: [], done: false };
    const after = window.resume?.after;
    const rows = this.log
      .filter((r) => BigInt(r.at) >= window.start && BigInt(r.at) < window.end)
      .filter((r) => after === undefined || BigInt(r.at) > window.resume!.position || r.id > after)
      .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    for (let i = 0; i < rows.length || i === 0; i += this.pageSize) {
      const page = rows.slice(i, i + this.pageSize);
      const done = i + this.pageSize >= rows.length;
      this.pagesServed.push(page.length);
      const last = page.at(-1);
      yield this.keyset && !done && last ? { records: page, done, resume: { position: BigInt(last.at), after: last.id } } : { records: page, done };
    }
  }

  protected identify(r: Row): RecordId {
    return { position: BigInt(r.at), key: r.id };
  }

  protected convert(r: Row): AuditEvent | Reject {
    return { ...makeEvents(0, 1)[0]!, auditID: r.id };
  }

  classify(): ApiFailure {
    return { code: 'x', throttled: false };
  }
}

async function poll(poller: MemoryPoller, cursor: Cursor, nowMs: number, stopAfter = Infinity): Promise<{ batches: (SourceBatch & { cursor: Cursor })[]; progress: number }> {
  let progress = 0;
  const ctx: PollContext = { signal: new AbortController().signal, nowMs, progress: () => progress++ };
  const batches: (SourceBatch & { cursor: Cursor })[] = [];
  for await (const batch of poller.poll(cursor, ctx)) {
    batches.push(JSON.parse(JSON.stringify(batch)) as SourceBatch & { cursor: Cursor });
    if (batches.length >= stopAfter) break;
  }
  return { batches, progress };
}

const ids = (batches: readonly SourceBatch[]): string[] => batches.flatMap((b) => b.events.map((e) => e.auditID));

describe('OverlapWindowPoller', () => {
  it('reads the window page by page, one batch each, and completes it with the last', async () => {
    const log = Array.from({ length: 7 }, (_, i) => ({ at: 100 + i, id: `r${i}` }));
    const poller = new MemoryPoller(log, 3, false);
    const { batches, progress } = await poll(poller, poller.initialCursor(100), 200);
    expect(poller.windows).toEqual([{ start: 100n, end: 190n }]);
    expect(batches.map((b) => b.events.length)).toEqual([3, 3, 1]);
    expect(batches.map((b) => b.cursor.resume)).toEqual([102, 105, undefined]);
    expect(batches.at(-1)!.cursor).toMatchObject({ watermark: 190, floor: 140 });
    expect(progress).toBe(3);
  });

  it('re-reads the overlap and hands on only what it had not seen, counting it as late', async () => {
    const metrics = new Metrics();
    const log = [{ at: 150, id: 'a' }, { at: 160, id: 'b' }];
    const poller = new MemoryPoller(log, 10, false, metrics);
    const first = await poll(poller, poller.initialCursor(100), 200);
    expect(ids(first.batches)).toEqual(['a', 'b']);
    log.push({ at: 155, id: 'late' }, { at: 195, id: 'new' });
    const second = await poll(poller, first.batches.at(-1)!.cursor, 220);
    expect(poller.windows[1]).toEqual({ start: 140n, end: 210n });
    expect(ids(second.batches)).toEqual(['late', 'new']);
    expect((await metrics.lateEvents.get()).values[0]?.value).toBe(1);
  });

  it('yields nothing for a page that holds nothing and names no resume point', async () => {
    const poller = new MemoryPoller([{ at: 120, id: 'a' }], 10, false);
    poller.emptyPagesFirst = 3;
    const { batches, progress } = await poll(poller, poller.initialCursor(100), 200);
    expect(batches).toHaveLength(1);
    expect(ids(batches)).toEqual(['a']);
    expect(progress).toBe(4); // every answer counts as a sign of life
  });

  it('with keyset pages, a restart continues strictly after the last record handed on', async () => {
    const log = Array.from({ length: 6 }, (_, i) => ({ at: 120, id: `k${i}` })); // one instant
    const poller = new MemoryPoller(log, 2, true);
    const first = await poll(poller, poller.initialCursor(100), 200, 2);
    expect(first.batches.at(-1)!.cursor).toMatchObject({ resume: 120, resumeAfter: 'k3' });
    const rest = await poll(poller, first.batches.at(-1)!.cursor, 200);
    expect(poller.windows[1]).toEqual({ start: 120n, end: 190n, resume: { position: 120n, after: 'k3' } });
    expect(ids(rest.batches)).toEqual(['k4', 'k5']);
    expect(rest.batches.at(-1)!.cursor.resume).toBeUndefined();
  });

  it('hands the cursor on unchanged when nothing has settled, so a first run checkpoints its startFrom, and says it has caught up', async () => {
    const poller = new MemoryPoller([], 10, false);
    const { batches } = await poll(poller, poller.initialCursor(195), 200);
    expect(batches).toEqual([{ source: 'mem', events: [], rejects: [], cursor: { unit: 'ms', watermark: 195, floor: 195, seen: {} }, caughtUp: true }]);
    expect(poller.windows).toEqual([]);
  });

  it('refuses a checkpoint it cannot read, naming the source', async () => {
    const poller = new MemoryPoller([], 10, false);
    await expect(poll(poller, { offset: 3 }, 200)).rejects.toThrow(/^source mem: the checkpoint is not a window cursor in ms/);
  });
});
