import { describe, expect, it } from 'vitest';
import { isAbortError, untilAborted } from '../../src/util/clock.js';

describe('untilAborted', () => {
  it('settles with the promise while the signal is live', async () => {
    await expect(untilAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(untilAborted(Promise.reject(new Error('refused')), new AbortController().signal)).rejects.toThrow('refused');
  });

  it('rejects at once when the signal aborts first, and when it was aborted already', async () => {
    const controller = new AbortController();
    const pending = untilAborted(new Promise<never>(() => undefined), controller.signal);
    controller.abort();
    const err: unknown = await pending.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    await expect(untilAborted(Promise.resolve(1), controller.signal)).rejects.toBeInstanceOf(Error);
  });
});
