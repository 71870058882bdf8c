// An event's time as Falco takes it from a k8s audit event: its stageTimestamp, RFC 3339 with up to
// nanoseconds, as nanoseconds since 1970.
import { perEvaluation } from '../scope.js';
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Nanoseconds since 1970 of an RFC 3339 time, or undefined when it is not one (a day that is not in
 * its month included, as Go's time.Parse refuses it). Digits past the ninth are dropped, as Go drops them.
 */
export function parseNanoTime(text: unknown): bigint | undefined {
  const parts = timeParts(text);
  return parts === undefined ? undefined : nanosOf(parts);
}

function nanosOf([millis, digits]: [number, string]): bigint {
  const fraction = digits === '' ? 0n : BigInt(digits.length >= 9 ? digits.slice(0, 9) : digits.padEnd(9, '0'));
  return BigInt(millis) * 1_000_000n + fraction;
}

/** The decimal number of `n` digits at `at`, or -1. */
function number(text: string, at: number, n: number): number {
  let value = 0;
  for (let i = at; i < at + n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * [milliseconds since 1970 of the whole seconds, the fraction's digits] of an RFC 3339 time. Read
 * by position rather than by regular expression: every event's time goes through here.
 */
function timeParts(text: unknown): [number, string] | undefined {
  if (typeof text !== 'string' || text.length < 20) return undefined;
  const year = number(text, 0, 4);
  const month = number(text, 5, 2);
  const day = number(text, 8, 2);
  const hour = number(text, 11, 2);
  const minute = number(text, 14, 2);
  const second = number(text, 17, 2);
  const t = text[10];
  if (text[4] !== '-' || text[7] !== '-' || (t !== 'T' && t !== 't') || text[13] !== ':' || text[16] !== ':') return undefined;
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS[month - 1]!)) return undefined;
  let i = 19;
  let fraction = '';
  if (text[i] === '.') {
    const from = ++i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    if (i === from) return undefined;
    fraction = text.slice(from, i);
  }
  let offsetMinutes = 0;
  const zone = text[i];
  if (zone === 'Z' || zone === 'z') {
    if (i + 1 !== text.length) return undefined;
  } else if (zone === '+' || zone === '-') {
    const oh = number(text, i + 1, 2);
    const om = number(text, i + 4, 2);
    if (i + 6 !== text.length || text[i + 3] !== ':' || oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offsetMinutes = (zone === '-' ? -1 : 1) * (oh * 60 + om);
  } else return undefined;
  return [Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000, fraction];
}

// Every time field reads the stageTimestamp: it is read once per evaluation, and turned into a
// number only for the fields that need one.
const eventTime = perEvaluation((event) => (typeof event === 'object' && event !== null ? timeParts((event as Record<string, unknown>).stageTimestamp) : undefined));

/** Whether an event has a readable stageTimestamp, so its time fields exist. */
export function hasEventTime(event: unknown): boolean {
  return eventTime(event) !== undefined;
}

/** The stageTimestamp of an event in nanoseconds, or undefined. */
export const eventNanos: (event: unknown) => bigint | undefined = perEvaluation((event) => {
  const parts = eventTime(event);
  return parts === undefined ? undefined : nanosOf(parts);
});

/** 2025-02-10T09:15:57.508657000Z */
export function isoNanoTime(nanos: bigint): string {
  const seconds = nanos / 1_000_000_000n - (nanos % 1_000_000_000n < 0n ? 1n : 0n);
  const fraction = ((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}
