import type { Clock } from '../../src/util/clock.js';
import { abortReason } from '../../src/util/clock.js';

/**
 * Virtual time: sleep() advances the clock by the requested time and resolves on the next turn
 * of the event loop, so code that waits minutes runs in milliseconds, deterministically.
 */
export class VirtualClock implements Clock {
  constructor(private time = Date.UTC(2026, 0, 2, 3, 0, 0)) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      setImmediate(() => {
        if (signal?.aborted) return reject(abortReason(signal));
        this.time += Math.max(0, ms);
        resolve();
      });
    });
  }
}
