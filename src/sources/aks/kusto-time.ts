// Kusto datetimes have 100 ns precision and `tostring()` renders them with 7 fractional digits
// (2020-05-05T16:16:37.6559120Z). The cursor keeps that text exactly, so comparisons and window
// arithmetic are done on ticks (bigint, 100 ns since the epoch), never through a millisecond Date.

const KUSTO_TIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/** Ticks for a UTC ISO 8601 time with any number of fractional digits; undefined when not one. */
export function parseTicks(text: string): bigint | undefined {
  const m = KUSTO_TIME.exec(text);
  if (!m) return undefined;
  const whole = Date.parse(`${m[1]}T${m[2]}Z`);
  if (Number.isNaN(whole)) return undefined;
  const fraction = (m[3] ?? '').padEnd(7, '0').slice(0, 7);
  return BigInt(whole) * 10_000n + BigInt(fraction);
}

export function formatTicks(ticks: bigint): string {
  const ms = ticks / 10_000n - (ticks % 10_000n < 0n ? 1n : 0n);
  const frac = ((ticks % 10_000_000n) + 10_000_000n) % 10_000_000n;
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${frac.toString().padStart(7, '0')}Z`;
}

export function ticksFromMs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * 10_000n;
}

export function msFromTicks(ticks: bigint): number {
  return Number(ticks / 10_000n);
}

/** The text of a time in milliseconds, as Kusto writes it. */
export function kustoTime(ms: number): string {
  return formatTicks(ticksFromMs(ms));
}
