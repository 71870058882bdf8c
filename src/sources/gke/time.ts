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

/** Epoch nanoseconds → RFC 3339 UTC with nine fractional digits (what Cloud Logging prints). */
export function formatTimeNs(ns: bigint): string {
  const ms = ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n);
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** A protobuf Timestamp as the SDK hands it ({seconds: string|number|Long, nanos}) → epoch ns. */
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
  return s * 1_000_000_000n + n;
}

export function msToNs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * 1_000_000n;
}

export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}
