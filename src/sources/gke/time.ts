// Cloud Logging timestamps carry nanoseconds; a JS Date keeps milliseconds. The GKE path keeps
// time as epoch nanoseconds (bigint) from the wire to the filter text and the cursor.

const TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** RFC 3339 with up to nine fractional digits → epoch nanoseconds; undefined when invalid. */
export function parseTimeNs(text: string): bigint | undefined {
  const m = TIME.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

const NS_PER_SECOND = 1_000_000_000n;

/** The last second formatted, and its text up to the fraction: a page's entries share their seconds. */
let lastSecond = Number.NaN;
let lastSecondText = '';

/** Epoch nanoseconds → RFC 3339 UTC with nine fractional digits (what Cloud Logging prints). */
export function formatTimeNs(ns: bigint): string {
  // One bigint division, the rest in numbers: the bigint arithmetic of every entry's two
  // timestamps was a few percent of the main thread's work on a GKE page.
  let seconds = ns / NS_PER_SECOND;
  let frac = Number(ns - seconds * NS_PER_SECOND);
  if (frac < 0) {
    seconds -= 1n;
    frac += 1e9;
  }
  const s = Number(seconds);
  if (s !== lastSecond) {
    lastSecondText = new Date(s * 1000).toISOString().slice(0, 19);
    lastSecond = s;
  }
  return `${lastSecondText}.${String(frac).padStart(9, '0')}Z`;
}

/** The instants a protobuf Timestamp may hold, in epoch ns: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const MIN_TIMESTAMP_NS = -62_135_596_800n * 1_000_000_000n;
const MAX_TIMESTAMP_NS = 253_402_300_799n * 1_000_000_000n + 999_999_999n;

/**
 * A protobuf Timestamp as the SDK hands it ({seconds: string|number|Long, nanos}) → epoch ns;
 * undefined outside the range the type defines, which no date text can show (formatTimeNs would
 * throw on it, and one such entry failed its whole page, read again at every retry).
 */
export function timestampToNs(ts: unknown): bigint | undefined {
  if (typeof ts !== 'object' || ts === null) return undefined;
  const { seconds, nanos } = ts as { seconds?: unknown; nanos?: unknown };
  let s: bigint;
  try {
    s = BigInt(typeof seconds === 'object' && seconds !== null ? (seconds as { toString(): string }).toString() : ((seconds ?? 0) as string | number));
  } catch {
    return undefined;
  }
  const n = typeof nanos === 'number' && Number.isInteger(nanos) ? BigInt(nanos) : 0n;
  // The sum is bounded, not the seconds alone: nanos past a second carry into them.
  const ns = s * 1_000_000_000n + n;
  return ns < MIN_TIMESTAMP_NS || ns > MAX_TIMESTAMP_NS ? undefined : ns;
}

export function msToNs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * 1_000_000n;
}

export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}
