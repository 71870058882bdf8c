// When a partition's position may be committed: the cumulative cursor of the checkpoint file and
// the per-partition checkpoints of a Blob store.
import { earliestEventPosition } from '@azure/event-hubs';
import { describe, expect, it } from 'vitest';
import { cursorOf, eventPositionAfter, FROM_START, parseCursor, PartitionCheckpointer, type Position } from '../../../src/sources/aks-eventhubs/positions.js';

const at = (sequenceNumber: number): Position => ({ sequenceNumber, offset: String(sequenceNumber * 100) });
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function checkpointer(fail: (p: Position) => boolean = () => false): { c: PartitionCheckpointer; writes: number[]; errors: number[] } {
  const writes: number[] = [];
  const errors: number[] = [];
  const c = new PartitionCheckpointer({
    write: async (p) => {
      if (fail(p)) throw new Error('blob store unavailable');
      writes.push(p.sequenceNumber);
    },
    onError: (_err, p) => errors.push(p.sequenceNumber),
    retryMs: 5,
  });
  return { c, writes, errors };
}

describe('PartitionCheckpointer (Blob store)', () => {
  it('writes the newest batch whose every earlier batch is delivered, even when deliveries finish out of order', async () => {
    const { c, writes } = checkpointer();
    const [a, b, d] = [c.add(at(9)), c.add(at(19)), c.add(at(29))];
    c.settle(d, true);
    c.settle(b, true);
    await tick();
    expect(writes).toEqual([]); // the first batch is not delivered: nothing may move
    c.settle(a, true);
    await c.idle();
    expect(writes).toEqual([29]);
    expect(c.checkpoint).toEqual(at(29));
  });

  it('writes step by step as the delivered prefix grows, never backwards', async () => {
    const { c, writes } = checkpointer();
    const a = c.add(at(1));
    const b = c.add(at(2));
    c.settle(a, true);
    await tick();
    expect(writes).toEqual([1]);
    c.settle(b, true);
    await c.idle();
    expect(writes).toEqual([1, 2]);
  });

  it('a batch the pipeline gave up on stops the generation: nothing after it is written', async () => {
    const { c, writes } = checkpointer();
    const [a, b, d] = [c.add(at(1)), c.add(at(2)), c.add(at(3))];
    c.settle(a, true);
    c.settle(b, false);
    c.settle(d, true);
    await c.idle();
    expect(writes).toEqual([1]);
  });

  it('once the partition left this replica nothing more is written, and idle() does not wait for batches still in flight to be written', async () => {
    const { c, writes } = checkpointer();
    const a = c.add(at(5));
    c.close();
    c.settle(a, true);
    await c.idle();
    expect(writes).toEqual([]);
  });

  it('a failed write is retried, and a newer position replaces it', async () => {
    let failing = true;
    const { c, writes, errors } = checkpointer(() => failing);
    const a = c.add(at(1));
    c.settle(a, true);
    await new Promise((r) => setTimeout(r, 20));
    expect(errors.length).toBeGreaterThan(0);
    const b = c.add(at(2));
    c.settle(b, true);
    failing = false;
    await c.idle();
    expect(writes).toEqual([2]);
    expect(c.checkpoint).toEqual(at(2));
  });

  it('idle() waits for batches still in flight', async () => {
    const { c } = checkpointer();
    const a = c.add(at(1));
    let idle = false;
    const waiting = c.idle().then(() => (idle = true));
    await tick();
    expect(idle).toBe(false);
    expect(c.pending).toBe(1);
    c.settle(a, true);
    await waiting;
    expect(idle).toBe(true);
  });
});

describe('the checkpoint file cursor', () => {
  it('round-trips the positions of every partition, and belongs to its hub and consumer group', () => {
    const cursor = cursorOf('insights-logs-kube-audit', '$Default', new Map([['0', at(3)], ['1', FROM_START]]));
    const stored = JSON.parse(JSON.stringify(cursor)) as Record<string, unknown>;
    expect(stored).toEqual({ v: 1, eventHub: 'insights-logs-kube-audit', consumerGroup: '$Default', partitions: { '0': { sequenceNumber: 3, offset: '300' }, '1': { sequenceNumber: -1 } } });
    const parsed = parseCursor(stored, 'insights-logs-kube-audit', '$Default');
    expect(parsed).toEqual({ ok: true, positions: new Map([['0', at(3)], ['1', FROM_START]]) });
    const other = parseCursor(stored, 'other-hub', '$Default');
    expect(other.ok).toBe(false);
    expect(!other.ok && other.problem).toMatch(/hub "insights-logs-kube-audit".*not of this source's "other-hub"/);
    expect(parseCursor({ next: 4 }, 'insights-logs-kube-audit', '$Default')).toMatchObject({ ok: false });
    expect(parseCursor(undefined, 'h', 'c')).toEqual({ ok: true, positions: new Map() });
  });

  it('resumes after the position: by offset when there is one, from the start for a partition pinned empty', () => {
    expect(eventPositionAfter(at(3))).toEqual({ offset: '300', isInclusive: false });
    expect(eventPositionAfter({ sequenceNumber: 7 })).toEqual({ sequenceNumber: 7, isInclusive: false });
    expect(eventPositionAfter(FROM_START)).toBe(earliestEventPosition);
  });
});
