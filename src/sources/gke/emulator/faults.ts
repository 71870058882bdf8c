// Faults the GKE emulator injects, from a comma list such as
// "throttle-every=5,unavailable-every=7,slow-page-ms=200,late-every=10,late-ms=30000,malformed-every=9",
// or "denied-every=1" for an identity without the Logs Viewer role.

export interface GkeFaults {
  /** Every Nth ListLogEntries call fails with RESOURCE_EXHAUSTED (the 60/min quota). */
  throttleEvery?: number;
  /** Every Nth call fails with UNAVAILABLE. */
  unavailableEvery?: number;
  /** Every Nth call fails with PERMISSION_DENIED (1: an identity that may not read the project's logs). */
  deniedEvery?: number;
  /** Each page is answered after this delay. */
  slowPageMs?: number;
  /** Every Nth entry of the data becomes visible only lateMs after its ingestion time. */
  lateEvery?: number;
  lateMs?: number;
  /** Every Nth entry is served with a protoPayload that is not a decodable AuditLog. */
  malformedEvery?: number;
}

const KEYS: Record<string, keyof GkeFaults> = {
  'throttle-every': 'throttleEvery',
  'unavailable-every': 'unavailableEvery',
  'denied-every': 'deniedEvery',
  'slow-page-ms': 'slowPageMs',
  'late-every': 'lateEvery',
  'late-ms': 'lateMs',
  'malformed-every': 'malformedEvery',
};

/** Parses a fault spec; throws with the offending item on anything it does not know. */
export function parseGkeFaults(spec: string | undefined): GkeFaults {
  const faults: GkeFaults = {};
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=', 2);
    const key = KEYS[name ?? ''];
    const n = Number(value);
    if (!key) throw new Error(`unknown fault ${JSON.stringify(name)}; known: ${Object.keys(KEYS).join(', ')}`);
    if (!Number.isInteger(n) || n < 0) throw new Error(`fault ${name}: expected a whole number, got ${JSON.stringify(value)}`);
    faults[key] = n;
  }
  if (faults.lateEvery !== undefined && faults.lateMs === undefined) faults.lateMs = 30_000;
  return faults;
}

/** True on the Nth, 2Nth... occurrence (1-based); never when N is unset or 0. */
export function everyNth(n: number | undefined, occurrence: number): boolean {
  return n !== undefined && n > 0 && occurrence % n === 0;
}
