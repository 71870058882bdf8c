// Faults the Pub/Sub emulator injects, from a comma list in the style of the GKE emulator's
// (src/sources/gke/emulator/faults.ts), e.g. "redeliver-every=5,drop-every=20,slow-ms=50,malformed-every=7".
// Each models something the real service or a real deployment does to a subscriber.

export { everyNth } from '../../gke/emulator/faults.js';

export interface PubsubFaults {
  /** Every Nth message (in publication order) comes back once more after its first ack: at-least-once. */
  redeliverEvery?: number;
  /** Every lease lasts at most this long, whatever the stream's deadline or a modack asked. */
  deadlineMs?: number;
  /** Deadline extensions (modack seconds > 0) are accepted and have no effect; nacks still work. */
  ignoreModacks?: boolean;
  /** Each StreamingPull ends with UNAVAILABLE right after it has sent its Nth message. */
  dropEvery?: number;
  /** Each StreamingPull ends with UNAVAILABLE this long after it opened. */
  dropAfterMs?: number;
  /** Streams send one message per response, this long apart. */
  slowMs?: number;
  /** Every Nth message's data is not JSON (the LogEntry cut short). */
  malformedEvery?: number;
  /** Every Nth message's data is a LogEntry that is not a Kubernetes API audit entry. */
  foreignEvery?: number;
}

type NumericFault = Exclude<keyof PubsubFaults, 'ignoreModacks'>;

const NUMERIC: Record<string, NumericFault> = {
  'redeliver-every': 'redeliverEvery',
  'deadline-ms': 'deadlineMs',
  'drop-every': 'dropEvery',
  'drop-after-ms': 'dropAfterMs',
  'slow-ms': 'slowMs',
  'malformed-every': 'malformedEvery',
  'foreign-every': 'foreignEvery',
};

const KNOWN = [...Object.keys(NUMERIC), 'ignore-modacks'];

/** Parses a fault spec; throws with the offending item on anything it does not know. */
export function parsePubsubFaults(spec: string | undefined): PubsubFaults {
  const faults: PubsubFaults = {};
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    const n = Number(value);
    if (name === 'ignore-modacks') {
      // A bare name reads as on, so "ignore-modacks" and "ignore-modacks=1" say the same.
      if (value !== undefined && value !== '0' && value !== '1') throw new Error(`fault ignore-modacks: expected 0 or 1, got ${JSON.stringify(value)}`);
      faults.ignoreModacks = value !== '0';
      continue;
    }
    const key = NUMERIC[name];
    if (!key) throw new Error(`unknown fault ${JSON.stringify(name)}; known: ${KNOWN.join(', ')}`);
    if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new Error(`fault ${name}: expected a whole number, got ${JSON.stringify(value ?? '')}`);
    }
    faults[key] = n;
  }
  return faults;
}
