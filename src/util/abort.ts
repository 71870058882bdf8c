import { abortReason } from './clock.js';

export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Detaches from the parents; call when the work is done so long-lived parents keep no listeners. */
  dispose(): void;
}

/**
 * A signal that aborts when any parent does (with that parent's reason). AbortSignal.any would do,
 * but the pipeline's delivery signal lives as long as the process and every batch would leave a
 * dependant on it; this one removes its listeners when disposed.
 */
export function linkSignals(parents: Iterable<AbortSignal | undefined>): LinkedSignal {
  const controller = new AbortController();
  const attached: { parent: AbortSignal; onAbort: () => void }[] = [];
  const dispose = (): void => {
    for (const { parent, onAbort } of attached.splice(0)) parent.removeEventListener('abort', onAbort);
  };
  for (const parent of parents) {
    if (!parent) continue;
    if (parent.aborted) {
      controller.abort(abortReason(parent));
      break;
    }
    const onAbort = (): void => {
      dispose();
      controller.abort(abortReason(parent));
    };
    parent.addEventListener('abort', onAbort, { once: true });
    attached.push({ parent, onAbort });
  }
  if (controller.signal.aborted) dispose();
  return { signal: controller.signal, dispose };
}

const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` when the signal aborts, sharing one listener per signal among all callers, so
 * that many waits on one long-lived signal (every in-flight write on the pipeline's delivery
 * signal) do not pile up listeners on it. Returns the function that unregisters the callback.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = watchers.get(signal);
  if (!callbacks) {
    const set = new Set<() => void>();
    callbacks = set;
    watchers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        watchers.delete(signal);
        for (const cb of [...set]) cb();
      },
      { once: true },
    );
  }
  callbacks.add(callback);
  const registered = callbacks;
  return () => {
    registered.delete(callback);
  };
}
