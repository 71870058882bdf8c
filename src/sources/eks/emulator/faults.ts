/**
 * Faults the CloudWatch Logs emulator injects, from a comma list such as
 * "throttle-every=3,page-size=2,empty-every=4". Counters are 1-based: `throttle-every=3`
 * refuses requests 3, 6, 9...; `truncate-every=5` cuts records 5, 10, 15... of the data.
 */
export interface EksFaults {
  /** Answer every Nth FilterLogEvents request with 400 ThrottlingException. */
  throttleEvery?: number;
  /**
   * Answer every Nth request with `errorStatus` (default 500, ServiceUnavailableException; 403
   * AccessDeniedException; another 4xx InvalidParameterException).
   */
  errorEvery?: number;
  errorStatus: number;
  /** Answer every Nth request as AWS answers an identity without logs:FilterLogEvents: 400 AccessDeniedException. */
  deniedEvery?: number;
  /** Every Nth response is an empty page that still carries a nextToken. */
  emptyEvery?: number;
  /** At most this many events per page, whatever `limit` asks (CloudWatch's 1 MB cap, made small). */
  pageSize?: number;
  /** Delay before every response. */
  latencyMs: number;
  /** Every Nth record's message is cut and ends in "[Truncated...]", as EKS delivers oversized events. */
  truncateEvery?: number;
  /** Every Nth record's message is not JSON at all. */
  malformedEvery?: number;
  /** Every Nth record is ingested `lateMs` after its timestamp (visible only then). */
  lateEvery?: number;
  lateMs: number;
}

export const FAULT_KEYS = [
  'throttle-every',
  'error-every',
  'error-status',
  'denied-every',
  'empty-every',
  'page-size',
  'latency-ms',
  'truncate-every',
  'malformed-every',
  'late-every',
  'late-ms',
] as const;

export function parseFaults(spec: string | undefined): EksFaults {
  const faults: EksFaults = { errorStatus: 500, latencyMs: 0, lateMs: 60_000 };
  if (!spec) return faults;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, raw] = part.split('=', 2) as [string, string | undefined];
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n < 0) throw new Error(`fault ${part}: expected ${key}=<whole number>`);
    switch (key) {
      case 'throttle-every':
        faults.throttleEvery = positive(part, n);
        break;
      case 'error-every':
        faults.errorEvery = positive(part, n);
        break;
      case 'error-status':
        if (n < 400 || n > 599) throw new Error(`fault ${part}: expected an HTTP status from 400 to 599`);
        faults.errorStatus = n;
        break;
      case 'denied-every':
        faults.deniedEvery = positive(part, n);
        break;
      case 'empty-every':
        faults.emptyEvery = positive(part, n);
        break;
      case 'page-size':
        faults.pageSize = positive(part, n);
        break;
      case 'latency-ms':
        faults.latencyMs = n;
        break;
      case 'truncate-every':
        faults.truncateEvery = positive(part, n);
        break;
      case 'malformed-every':
        faults.malformedEvery = positive(part, n);
        break;
      case 'late-every':
        faults.lateEvery = positive(part, n);
        break;
      case 'late-ms':
        faults.lateMs = n;
        break;
      default:
        throw new Error(`unknown fault "${key}"; known: ${FAULT_KEYS.join(', ')}`);
    }
  }
  return faults;
}

function positive(part: string, n: number): number {
  if (n < 1) throw new Error(`fault ${part}: expected a whole number of at least 1`);
  return n;
}

/** 1-based "every Nth" test. */
export function isNth(count: number, every: number | undefined): boolean {
  return every !== undefined && count % every === 0;
}
