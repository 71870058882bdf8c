// --faults for the Log Analytics emulator: "throttle-every=5,retry-after=2,row-limit=1000".
export interface AksFaults {
  /** Every Nth query call answers 429 with Retry-After. */
  throttleEvery?: number;
  /** Seconds in the Retry-After of a 429 (default 1). */
  retryAfter: number;
  /** Every Nth query call answers 500. */
  errorEvery?: number;
  /** Every Nth query call answers 403, as for an identity without Log Analytics Reader on the workspace. */
  deniedEvery?: number;
  /** Every Nth query call answers 504 (the query ran past its time). */
  timeoutEvery?: number;
  /** Every Nth query call comes back as PartialFailure (200 with an error and part of the rows). */
  partialEvery?: number;
  /** A result with more rows than this is a PartialFailure E_QUERY_RESULT_SET_TOO_LARGE (the service: 500,000). */
  rowLimit: number;
  /** A result larger than this many bytes is a PartialFailure too (the service: 64 MB). */
  sizeLimit: number;
  /** Every Nth row becomes visible lateMs after its ingestion time (a late arrival). */
  lateEvery?: number;
  lateMs: number;
  /** Every Nth row is damaged: log_s or the User column is not JSON. */
  malformedEvery?: number;
  /** Every Nth AzureDiagnostics row has log_s cut at 32,766 bytes (Azure/AKS#3316). */
  truncateEvery?: number;
  /** Delay before every query answer. */
  slowMs: number;
}

const NAMES: Record<string, keyof AksFaults> = {
  'throttle-every': 'throttleEvery',
  'retry-after': 'retryAfter',
  'error-every': 'errorEvery',
  'timeout-every': 'timeoutEvery',
  'denied-every': 'deniedEvery',
  'partial-every': 'partialEvery',
  'row-limit': 'rowLimit',
  'size-limit': 'sizeLimit',
  'late-every': 'lateEvery',
  'late-ms': 'lateMs',
  'malformed-every': 'malformedEvery',
  'truncate-every': 'truncateEvery',
  'slow-ms': 'slowMs',
};

export const DEFAULT_FAULTS: AksFaults = { retryAfter: 1, rowLimit: 500_000, sizeLimit: 64 * 1024 * 1024, lateMs: 60_000, slowMs: 0 };

export function parseFaults(spec: string | undefined): AksFaults {
  const faults: AksFaults = { ...DEFAULT_FAULTS };
  if (!spec) return faults;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name, value] = part.split('=');
    const key = name ? NAMES[name.trim()] : undefined;
    const n = Number(value);
    if (!key) throw new Error(`--faults: unknown fault ${JSON.stringify(name)}; known: ${Object.keys(NAMES).join(', ')}`);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--faults: ${name} needs a whole number, got ${JSON.stringify(value)}`);
    (faults as unknown as Record<string, number>)[key] = n;
  }
  return faults;
}

/** True on calls N, 2N, 3N... (1-based); never when N is unset or 0. */
export function every(n: number | undefined, call: number): boolean {
  return n !== undefined && n > 0 && call % n === 0;
}
