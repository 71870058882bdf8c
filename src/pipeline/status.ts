// What the status page (src/server/status-page.ts) shows that the metrics do not hold: each source's
// committed position, poll and error times, each sink's failing state, and the last rejects, dead
// letters and alerts. Everything is reduced to short, cleaned text when it is reported, so the board
// never keeps an event, a record, an alert's output or a raw cursor, and its memory is bounded.
import type { Cursor } from '../checkpoint/store.js';
import type { AuditEvent, Reject } from '../event/event.js';
import type { Clock } from '../util/clock.js';
import type { DeadLetter } from './dead-letter.js';
import { Health } from './health.js';

/** Entries kept of each kind (rejects, refusals, alerts). */
export const STATUS_RING_SIZE = 20;

/** The newest `capacity` items pushed, and how many were pushed in all. */
export class Ring<T> {
  private readonly items: T[] = [];
  private pushed = 0;

  constructor(readonly capacity: number) {}

  push(item: T): void {
    this.pushed++;
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  /** Counts items that were not pushed because newer ones would have pushed them out at once. */
  skipped(count: number): void {
    if (count > 0) this.pushed += count;
  }

  get total(): number {
    return this.pushed;
  }

  newestFirst(): T[] {
    return [...this.items].reverse();
  }
}

/** A committed cursor in a form a person reads: where the source has read to. */
export interface CursorSummary {
  /** The time the source has read up to (a window's end, a resume point, an ingestion time). */
  timeMs?: number;
  /** What that time is, or the position when it is not a time (Event Hubs sequence numbers). */
  text: string;
}

export interface SourceStatus {
  name: string;
  /** Polled sources only; push and streaming sources that never report a poll have none. */
  pollIntervalMs: number | undefined;
  registeredAt: number;
  lastSuccess: number | undefined;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  /** It gave up on an error retrying cannot fix (run --once); lastError is its line. */
  stopped: boolean;
  cursor: CursorSummary | undefined;
  /** When the cursor was committed (or loaded at start). */
  cursorAt: number | undefined;
}

export interface SinkStatus {
  name: string;
  thresholdMs: number;
  failingSince: number | undefined;
  lastError: string | undefined;
}

export interface DeadLetterNote {
  at: number;
  kind: 'reject' | 'refused' | 'alert';
  /** The source (rejects), the sink or stage (refusals), or `sink/output` (alerts). */
  from: string;
  /** The reason's leading words (reasonHead): the rest may quote the record or the event. */
  reason: string;
  /** A reject's position in its source's input. */
  ref?: string;
  /** Records, events or alerts written in that one go. */
  count: number;
  /** The identity of the first refused event; no other field of an event is kept. */
  event?: { auditID: string; stage: string };
}

export interface AlertNote {
  at: number;
  sink: string;
  rule: string;
  priority: string;
}

export interface StatusSnapshot {
  now: number;
  sources: SourceStatus[];
  sinks: SinkStatus[];
  rejects: DeadLetterNote[];
  refusals: DeadLetterNote[];
  alerts: AlertNote[];
  totals: { rejects: number; refusals: number; alerts: number };
}

/** What the source runner reports (src/pipeline/source-runner.ts). */
export interface CursorReporter {
  cursor(source: string, cursor: Cursor | undefined): void;
}

/** What a rules sink reports (src/sinks/rules/sink.ts): only the rule and the priority of each alert are read. */
export interface AlertReporter {
  alertsRaised(sink: string, alerts: readonly { rule: string; priority: string }[]): void;
}

const REASON_CHARS = 200;
const ERROR_CHARS = 300;
const NAME_CHARS = 120;
const REF_CHARS = 80;

export class StatusBoard implements CursorReporter, AlertReporter {
  private readonly sources = new Map<string, SourceStatus>();
  private readonly sinks = new Map<string, SinkStatus>();
  private readonly rejectRing = new Ring<DeadLetterNote>(STATUS_RING_SIZE);
  private readonly refusalRing = new Ring<DeadLetterNote>(STATUS_RING_SIZE);
  private readonly alertRing = new Ring<AlertNote>(STATUS_RING_SIZE);

  constructor(private readonly clock: Clock) {}

  now(): number {
    return this.clock.now();
  }

  sourceRegistered(name: string, pollIntervalMs: number | undefined): void {
    this.sources.set(name, {
      name,
      pollIntervalMs,
      registeredAt: this.clock.now(),
      lastSuccess: undefined,
      lastError: undefined,
      lastErrorAt: undefined,
      stopped: false,
      cursor: undefined,
      cursorAt: undefined,
    });
  }

  sourcePolled(name: string): void {
    const s = this.sources.get(name);
    if (s) s.lastSuccess = this.clock.now();
  }

  sourceFailed(name: string, error: string): void {
    const s = this.sources.get(name);
    if (!s) return;
    s.lastError = cleanText(error, ERROR_CHARS);
    s.lastErrorAt = this.clock.now();
  }

  sourceStopped(name: string, line: string): void {
    this.sourceFailed(name, line);
    const s = this.sources.get(name);
    if (s) s.stopped = true;
  }

  cursor(source: string, cursor: Cursor | undefined): void {
    const s = this.sources.get(source);
    const summary = summarizeCursor(cursor);
    if (!s || !summary) return;
    s.cursor = summary;
    s.cursorAt = this.clock.now();
  }

  sinkRegistered(name: string, thresholdMs: number): void {
    this.sinks.set(name, { name, thresholdMs, failingSince: undefined, lastError: undefined });
  }

  sinkFailed(name: string, error: string): void {
    const s = this.sinks.get(name);
    if (!s) return;
    s.failingSince ??= this.clock.now();
    s.lastError = cleanText(error, ERROR_CHARS);
  }

  sinkRecovered(name: string): void {
    const s = this.sinks.get(name);
    if (!s) return;
    s.failingSince = undefined;
    s.lastError = undefined;
  }

  rejected(source: string, rejects: readonly Reject[]): void {
    const at = this.clock.now();
    // Only the newest entries can stay in the ring: a flood of rejects costs no more than a ring.
    for (const r of rejects.slice(-STATUS_RING_SIZE)) {
      const ref = r.ref === undefined ? undefined : cleanText(r.ref, REF_CHARS);
      this.rejectRing.push({ at, kind: 'reject', from: cleanText(source, NAME_CHARS), reason: reasonHead(r.reason), ...(ref ? { ref } : {}), count: 1 });
    }
    this.rejectRing.skipped(rejects.length - STATUS_RING_SIZE);
  }

  refused(component: string, events: readonly AuditEvent[], reason: string): void {
    const event = identityOf(events[0]);
    this.refusalRing.push({
      at: this.clock.now(),
      kind: 'refused',
      from: cleanText(component, NAME_CHARS),
      reason: reasonHead(reason),
      count: events.length,
      ...(event ? { event } : {}),
    });
  }

  alertsRefused(sink: string, output: string, count: number, reason: string): void {
    this.refusalRing.push({ at: this.clock.now(), kind: 'alert', from: cleanText(`${sink}/${output}`, NAME_CHARS), reason: reasonHead(reason), count });
  }

  alertsRaised(sink: string, alerts: readonly { rule: string; priority: string }[]): void {
    const at = this.clock.now();
    for (const a of alerts.slice(-STATUS_RING_SIZE)) {
      this.alertRing.push({ at, sink: cleanText(sink, NAME_CHARS), rule: cleanText(a.rule, NAME_CHARS), priority: cleanText(a.priority, 20) });
    }
    this.alertRing.skipped(alerts.length - STATUS_RING_SIZE);
  }

  /** Copies: what the page renders cannot change the board, nor the board a page being rendered. */
  snapshot(): StatusSnapshot {
    return {
      now: this.clock.now(),
      sources: [...this.sources.values()].map((s) => ({ ...s })),
      sinks: [...this.sinks.values()].map((s) => ({ ...s })),
      rejects: this.rejectRing.newestFirst(),
      refusals: this.refusalRing.newestFirst(),
      alerts: this.alertRing.newestFirst(),
      totals: { rejects: this.rejectRing.total, refusals: this.refusalRing.total, alerts: this.alertRing.total },
    };
  }

  /** The dead-letter file as the pipeline and the sinks write to it, with each write that succeeded noted here. */
  watchDeadLetter(inner: DeadLetter): DeadLetter {
    return new ReportingDeadLetter(inner, this);
  }
}

/**
 * Health that also tells the board: readiness stays Health's alone, the board only keeps the times
 * and the errors it is told. Arguments are passed on whole, so a parameter Health gains later is
 * not lost on the way.
 */
export class ReportingHealth extends Health {
  constructor(
    private readonly board: StatusBoard,
    ...args: ConstructorParameters<typeof Health>
  ) {
    super(...args);
  }

  override registerSource(...args: Parameters<Health['registerSource']>): void {
    super.registerSource(...args);
    this.board.sourceRegistered(args[0], args[1]);
  }

  override sourcePolled(...args: Parameters<Health['sourcePolled']>): void {
    super.sourcePolled(...args);
    this.board.sourcePolled(args[0]);
  }

  override sourceFailed(...args: Parameters<Health['sourceFailed']>): void {
    super.sourceFailed(...args);
    this.board.sourceFailed(args[0], args[1]);
  }

  override sourceStopped(...args: Parameters<Health['sourceStopped']>): void {
    super.sourceStopped(...args);
    this.board.sourceStopped(args[0], args[1]);
  }

  override registerSink(...args: Parameters<Health['registerSink']>): void {
    super.registerSink(...args);
    this.board.sinkRegistered(args[0], args[1] ?? 5 * 60_000);
  }

  override sinkFailed(...args: Parameters<Health['sinkFailed']>): void {
    super.sinkFailed(...args);
    this.board.sinkFailed(args[0], args[1]);
  }

  override sinkRecovered(...args: Parameters<Health['sinkRecovered']>): void {
    super.sinkRecovered(...args);
    this.board.sinkRecovered(args[0]);
  }
}

/** Notes on the board what was written, once the file has it (a failed write is retried by its caller). */
class ReportingDeadLetter implements DeadLetter {
  constructor(
    private readonly inner: DeadLetter,
    private readonly board: StatusBoard,
  ) {}

  async rejects(source: string, rejects: readonly Reject[]): Promise<void> {
    await this.inner.rejects(source, rejects);
    this.board.rejected(source, rejects);
  }

  async refused(component: string, events: readonly AuditEvent[], reason: string, detail?: Record<string, unknown>): Promise<void> {
    await this.inner.refused(component, events, reason, detail);
    this.board.refused(component, events, reason);
  }

  async alerts(sink: string, output: string, alerts: readonly unknown[], reason: string, detail?: Record<string, unknown>): Promise<void> {
    await this.inner.alerts(sink, output, alerts, reason, detail);
    this.board.alertsRefused(sink, output, alerts.length, reason);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Text made safe to keep and show: control characters become spaces, a URL keeps only its scheme
 * and host (a path or query may carry a token, a Slack webhook's path is its secret, and userinfo
 * is a password), a bearer token is hidden, and the length is capped.
 */
export function cleanText(text: string, max: number): string {
  const cleaned = String(text)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>(){}]+/gi, originOf)
    .replace(/\b(bearer|basic)\s+[^\s,;"']+/gi, '$1 [redacted]')
    .trim();
  return cleaned.length > max ? `${cleaned.slice(0, max - 1)}…` : cleaned;
}

/**
 * What a reject or a refusal is, without what it quotes: the text before the first ": " or " (".
 * Normalizers and receivers go on to quote the record or the event (a requestURI, a field's value),
 * which the dead-letter file keeps and the page must not show. "truncated message: cut at 1514
 * characters (auditID …, requestURI …)" becomes "truncated message"; "HTTP 400 from
 * https://falco:9765" stays whole.
 */
export function reasonHead(reason: string): string {
  const text = cleanText(reason, 10 * REASON_CHARS);
  const cut = text.search(/: |\s\(/);
  return cleanText(cut > 0 ? text.slice(0, cut) : text, REASON_CHARS);
}

function originOf(match: string): string {
  // Punctuation that ends a sentence is not part of the URL.
  const [, url, tail] = /^(.*?)([.,;:!?\]]*)$/s.exec(match)!;
  try {
    const u = new URL(url!);
    return `${u.protocol}//${u.host}${tail}`;
  } catch {
    return `[url]${tail}`;
  }
}

function identityOf(event: AuditEvent | undefined): { auditID: string; stage: string } | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const { auditID, stage } = event as { auditID?: unknown; stage?: unknown };
  if (typeof auditID !== 'string' || typeof stage !== 'string') return undefined;
  return { auditID: cleanText(auditID, 64), stage: cleanText(stage, 32) };
}

/**
 * A cursor in a few words. The polled sources' window cursors (src/sources/polling/) carry their
 * position as a time: `watermark`, the end of the last complete window, and `resume`, where a read
 * inside the next one continues (RFC 3339 text or epoch milliseconds; aks ingestion times, and
 * `ingested` in its older cursors); an Event Hubs cursor carries a sequence number per partition.
 * The rest of a cursor (the keys already seen) is not shown, and nothing of it as it was written.
 */
export function summarizeCursor(cursor: Cursor | undefined): CursorSummary | undefined {
  if (cursor === undefined || cursor === null || typeof cursor !== 'object') return undefined;
  const partitions = cursor.partitions;
  if (typeof partitions === 'object' && partitions !== null && !Array.isArray(partitions)) {
    const entries = Object.entries(partitions as Record<string, unknown>).flatMap(([id, p]) => {
      const seq = (p as { sequenceNumber?: unknown } | null)?.sequenceNumber;
      return typeof seq === 'number' && Number.isSafeInteger(seq) ? [`${cleanText(id, 16)}: #${seq}`] : [];
    });
    const shown = entries.slice(0, 4).join(', ');
    const more = entries.length > 4 ? ` and ${entries.length - 4} more` : '';
    return { text: entries.length === 0 ? 'no partition position yet' : `partition ${shown}${more}` };
  }
  const watermark = timeOf(cursor.watermark);
  const resume = timeOf(cursor.resume);
  const ingested = timeOf(cursor.ingested);
  // AKS reads by ingestion time (positions in 100 ns ticks), the others by event time.
  const byIngestion = cursor.unit === '100ns';
  if (resume !== undefined && (watermark === undefined || resume > watermark)) return { timeMs: resume, text: byIngestion ? 'ingested up to' : 'read up to' };
  if (watermark !== undefined) return { timeMs: watermark, text: byIngestion ? 'ingested up to' : 'windows complete up to' };
  if (ingested !== undefined) return { timeMs: ingested, text: 'ingested up to' };
  return { text: 'committed (a position that is not a time)' };
}

/** Milliseconds of an RFC 3339 string or of epoch milliseconds between 1973 and 5138. */
function timeOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 1e11 && value < 1e14 ? value : undefined;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
