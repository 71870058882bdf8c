import { createHash } from 'node:crypto';
import type { AuditEvent, Reject } from '../event/event.js';
import { JsonLinesAppender } from '../util/jsonl-appender.js';

export interface DeadLetter {
  /** Records a source could not normalize. */
  rejects(source: string, rejects: readonly Reject[]): Promise<void>;
  /** Events a sink or a stage refused for good, with the reason (and the sink's answer, in `detail`). */
  refused(component: string, events: readonly AuditEvent[], reason: string, detail?: Record<string, unknown>): Promise<void>;
  /** Alerts a rules sink's output refused for good, with the reason and the output's answer. */
  alerts(sink: string, output: string, alerts: readonly unknown[], reason: string, detail?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export interface DeadLetterOptions {
  now?: () => number;
  /**
   * Keep raw records and sinks' answers as received. Off by default: a record that could not be
   * parsed cannot be scrubbed, so only its size and SHA-256 are kept, and an answer may echo events.
   */
  keepRaw?: boolean;
  /** Applied to every event written here (the sinks' Secret scrubbing), unless the user opted out. */
  scrub?: (event: AuditEvent) => AuditEvent;
}

/** Keys of a refusal's detail that hold what a receiver answered: raw text, kept only with keepRaw. */
const RAW_KEYS = new Set(['response']);

/**
 * The dead-letter file: one JSON object per line, each saying what it is, where it came from and
 * why it is here. Events are scrubbed as sink output is; raw records and receivers' answers are
 * replaced by their size and digest unless keepRaw is set, so no Secret value reaches the disk
 * through this file by default. A line never fails to be written because of what it holds: an
 * event that cannot be scrubbed or encoded is kept as its identity and the reason.
 */
export class FileDeadLetter implements DeadLetter {
  private readonly out: JsonLinesAppender;
  private readonly now: () => number;
  private readonly keepRaw: boolean;
  private readonly scrub: ((event: AuditEvent) => AuditEvent) | undefined;

  constructor(path: string, options: DeadLetterOptions = {}) {
    this.out = new JsonLinesAppender(path);
    this.now = options.now ?? Date.now;
    this.keepRaw = options.keepRaw ?? false;
    this.scrub = options.scrub;
  }

  get path(): string {
    return this.out.path;
  }

  rejects(source: string, rejects: readonly Reject[]): Promise<void> {
    const time = new Date(this.now()).toISOString();
    return this.out.append(
      rejects.map((r) => {
        const text = typeof r.raw === 'string' ? r.raw : safeStringify(r.raw);
        // The raw record only when it can be encoded (a record too deep for JSON keeps its reason alone).
        const record = this.keepRaw && text !== undefined ? { record: r.raw } : {};
        return JSON.stringify({ time, kind: 'reject', source, reason: r.reason, ...(r.ref ? { ref: r.ref } : {}), ...fingerprint(text), ...record });
      }),
    );
  }

  refused(component: string, events: readonly AuditEvent[], reason: string, detail: Record<string, unknown> = {}): Promise<void> {
    const time = new Date(this.now()).toISOString();
    const kept = events.map((event) => this.keptEvent(event));
    const line = safeStringify({ time, kind: 'refused', sink: component, reason, ...this.detail(detail), events: kept });
    // The detail is the only part not made safe above: drop it rather than lose the line.
    return this.out.append([line ?? JSON.stringify({ time, kind: 'refused', sink: component, reason, events: kept })]);
  }

  alerts(sink: string, output: string, alerts: readonly unknown[], reason: string, detail: Record<string, unknown> = {}): Promise<void> {
    const time = new Date(this.now()).toISOString();
    // Alerts come from events the sink already had scrubbed; evt.time is a BigInt of nanoseconds.
    const line = JSON.stringify({ time, kind: 'alert', sink, output, reason, ...this.detail(detail), alerts }, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
    return this.out.append([line]);
  }

  close(): Promise<void> {
    return this.out.close();
  }

  /** The event as a sink would have received it, or its identity when that cannot be made. */
  private keptEvent(event: AuditEvent): unknown {
    let out: AuditEvent;
    try {
      out = this.scrub ? this.scrub(event) : event;
    } catch (err) {
      return { ...identity(event), unkept: `the event could not be scrubbed (${(err as Error).message}); only its identity is kept` };
    }
    const text = safeStringify(out);
    if (text === undefined) return { ...identity(event), unkept: 'the event could not be encoded as JSON; only its identity is kept' };
    return JSON.parse(text) as unknown;
  }

  private detail(detail: Record<string, unknown>): Record<string, unknown> {
    return this.keepRaw ? detail : (withoutRaw(detail, 0) as Record<string, unknown>);
  }
}

/** Replaces raw answers in a refusal's detail by their size and digest (the detail is a few levels deep at most). */
function withoutRaw(value: unknown, depth: number): unknown {
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => withoutRaw(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = RAW_KEYS.has(key) && typeof v === 'string' ? fingerprint(v) : withoutRaw(v, depth + 1);
  }
  return out;
}

function fingerprint(text: string | undefined): { size: number | null; sha256: string | null } {
  if (text === undefined) return { size: null, sha256: null };
  return { size: Buffer.byteLength(text, 'utf8'), sha256: createHash('sha256').update(text).digest('hex') };
}

function identity(event: AuditEvent): Record<string, unknown> {
  const e = event as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of ['auditID', 'stage', 'verb', 'requestURI'] as const) if (typeof e[key] === 'string') out[key] = e[key];
  return out;
}

/** JSON text, or undefined for a value JSON.stringify cannot encode (too deep, a cycle, a BigInt). */
export function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
