// --faults for the Event Hubs emulator, a comma list such as
// "duplicate-every=7,detach-every=50,disconnect-ms=2000,slow-ms=20,malformed-every=9".
// "every N" counts deliveries (transfers to consumers, over all links) for the delivery faults and
// messages appended to the hub for the message faults, so a test can say which ones are hit.

export interface EventHubsFaults {
  /** Every Nth delivery is sent a second time right after the first (same sequence number and offset). */
  duplicateEvery?: number;
  /** After every Nth delivery the link that carried it is detached with amqp:link:detach-forced. */
  detachEvery?: number;
  /** Each receiver link is detached with amqp:link:detach-forced this long after it opened. */
  detachMs?: number;
  /** After every Nth delivery its connection is closed with amqp:connection:forced. */
  disconnectEvery?: number;
  /** Each connection is closed with amqp:connection:forced this long after it opened. */
  disconnectMs?: number;
  /** After every Nth delivery its TCP connection is destroyed without an AMQP close (a network drop). */
  resetEvery?: number;
  /** A receiver link waits this long between two deliveries (a slow link). */
  slowMs?: number;
  /** Every Nth message appended is an extra message whose body is not JSON (a record cut mid-way). */
  malformedEvery?: number;
  /** Every Nth message appended is an extra `{"records": [...]}` whose record has a foreign category. */
  foreignEvery?: number;
  /** Every Nth message appended is an extra kube-audit record whose properties.log is a klog text line. */
  klogEvery?: number;
}

const NAMES: Record<string, keyof EventHubsFaults> = {
  'duplicate-every': 'duplicateEvery',
  'detach-every': 'detachEvery',
  'detach-ms': 'detachMs',
  'disconnect-every': 'disconnectEvery',
  'disconnect-ms': 'disconnectMs',
  'reset-every': 'resetEvery',
  'slow-ms': 'slowMs',
  'malformed-every': 'malformedEvery',
  'foreign-every': 'foreignEvery',
  'klog-every': 'klogEvery',
};

/** Parses a fault spec; throws naming the offending item on anything it does not know. */
export function parseEventHubsFaults(spec: string | undefined): EventHubsFaults {
  const faults: EventHubsFaults = {};
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=', 2);
    const key = NAMES[(name ?? '').trim()];
    const n = Number(value);
    if (!key) throw new Error(`--faults: unknown fault ${JSON.stringify(name)}; known: ${Object.keys(NAMES).join(', ')}`);
    if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new Error(`--faults: ${name} needs a whole number, got ${JSON.stringify(value)}`);
    }
    faults[key] = n;
  }
  return faults;
}

/** True on occurrences N, 2N, 3N... (1-based); never when N is unset or 0. */
export function everyNth(n: number | undefined, occurrence: number): boolean {
  return n !== undefined && n > 0 && occurrence % n === 0;
}
