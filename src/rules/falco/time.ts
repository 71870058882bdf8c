// An event's time as Falco takes it from a k8s audit event: its stageTimestamp, RFC 3339 with up to
// nanoseconds, as nanoseconds since 1970.
import { isRfc3339 } from '../../normalize/event.js';

const PARTS = /^(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$/;

/** Nanoseconds since 1970 of an RFC 3339 time, or undefined when it is not one. */
export function parseNanoTime(text: unknown): bigint | undefined {
  if (!isRfc3339(text)) return undefined;
  const m = PARTS.exec(text);
  if (!m) return undefined;
  const zone = m[4] === 'z' || m[4] === 'Z' ? 'Z' : m[4]!;
  const whole = Date.parse(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(whole)) return undefined;
  const fraction = (m[3] ?? '').padEnd(9, '0').slice(0, 9);
  return BigInt(whole) * 1_000_000n + BigInt(fraction);
}

/** The stageTimestamp of an event in nanoseconds, or undefined. */
export function eventNanos(event: unknown): bigint | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  return parseNanoTime((event as Record<string, unknown>).stageTimestamp);
}

/** 2025-02-10T09:15:57.508657000Z */
export function isoNanoTime(nanos: bigint): string {
  const seconds = nanos / 1_000_000_000n - (nanos % 1_000_000_000n < 0n ? 1n : 0n);
  const fraction = ((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}
