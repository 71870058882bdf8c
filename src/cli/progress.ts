// What `run --once` shows while it backfills, when stderr is a terminal: one line, redrawn in place
// a few times a second and cleared at the end, with the events delivered, the window reached, the
// rate and the time left. Off a terminal nothing is drawn: stderr then carries the JSON logs alone.
// The logs (and stdout, when it is the same terminal) go through here while the line is up, so that a
// log line never lands in the middle of it.
import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Bridge } from '../bridge.js';
import type { Config } from '../config/schema.js';

/** Redraws per second at most. */
const REDRAW_MS = 250;

export interface ProgressNumbers {
  /** Events every sink has acknowledged. */
  delivered: number;
  elapsedMs: number;
  /** The oldest of the sources' positions: the window every source has reached. */
  reachedMs?: number | undefined;
  /** Until every source reaches its target (now − settleLag at the start), when it can be told. */
  leftMs?: number | undefined;
}

/** The progress line, at most `columns − 1` characters so that it never wraps (a wrapped line cannot be redrawn). */
export function renderProgress(n: ProgressNumbers, columns = 120): string {
  const parts = [`backfill: ${n.delivered.toLocaleString('en-US')} events delivered`];
  if (n.reachedMs !== undefined) parts.push(`window reached ${new Date(n.reachedMs).toISOString().slice(0, 19).replace('T', ' ')}Z`);
  if (n.elapsedMs >= 1000) parts.push(`${Math.round(n.delivered / (n.elapsedMs / 1000)).toLocaleString('en-US')} events/s`);
  if (n.leftMs !== undefined) parts.push(n.leftMs <= 0 ? 'finishing' : `about ${roughDuration(n.leftMs)} left`);
  const line = parts.join(' · ');
  const width = Math.max(10, columns - 1);
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** A time left, as precise as an estimate deserves: "40 s", "3 min 10 s", "2 h 5 min". */
export function roughDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 600) {
    const tens = Math.round(s / 10) * 10;
    return tens % 60 === 0 ? `${tens / 60} min` : `${Math.floor(tens / 60)} min ${tens % 60} s`;
  }
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export interface SourceProgress {
  /** Where the source is now (its committed cursor's time, or its newest delivered event's). */
  reachedMs: number | undefined;
  /** The first position seen, and when: progress is measured from there. */
  firstReachedMs: number | undefined;
  firstSeenAtMs: number | undefined;
  /** Where once mode stops: now − settleLag when the run began; none for streaming sources. */
  targetMs: number | undefined;
}

/**
 * The time left: each source's distance to its target at the pace it has kept since it was first
 * seen, the slowest source's. Unknown while a source with a target has not moved yet.
 */
export function estimateLeftMs(sources: readonly SourceProgress[], nowMs: number): number | undefined {
  let left: number | undefined;
  for (const s of sources) {
    if (s.targetMs === undefined) continue;
    if (s.reachedMs === undefined || s.firstReachedMs === undefined || s.firstSeenAtMs === undefined) return undefined;
    const remaining = s.targetMs - s.reachedMs;
    if (remaining <= 0) {
      left = Math.max(left ?? 0, 0);
      continue;
    }
    const pace = (s.reachedMs - s.firstReachedMs) / Math.max(1, nowMs - s.firstSeenAtMs);
    if (pace <= 0) return undefined;
    left = Math.max(left ?? 0, remaining / pace);
  }
  return left;
}

interface Terminal {
  fd: number;
  columns?: number | undefined;
}

/**
 * The progress line of one `run --once`. `forTerminal` gives none unless stderr is a terminal; then
 * `logs` is the logger's destination and `stdout` the stdout sink's, when stdout is a terminal too.
 */
export class BackfillProgress {
  readonly logs: Writable;
  readonly stdout: Writable | undefined;
  private shown = '';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly sources = new Map<string, SourceProgress>();
  private startedAt = 0;

  private constructor(
    private readonly err: Terminal,
    out: Terminal | undefined,
    private readonly config: Config,
    private readonly now: () => number = Date.now,
  ) {
    this.logs = this.passThrough(err.fd);
    this.stdout = out ? Object.assign(this.passThrough(out.fd), { isTTY: true }) : undefined;
  }

  static forTerminal(config: Config): BackfillProgress | undefined {
    if (!process.stderr.isTTY) return undefined;
    return new BackfillProgress({ fd: 2, columns: process.stderr.columns }, process.stdout.isTTY ? { fd: 1 } : undefined, config);
  }

  /** Starts redrawing from the bridge's metrics and status board. */
  start(bridge: Bridge): void {
    this.startedAt = this.now();
    for (const source of this.config.sources) {
      const settleLag = (source as { settleLag?: unknown }).settleLag;
      this.sources.set(source.name, {
        reachedMs: undefined,
        firstReachedMs: undefined,
        firstSeenAtMs: undefined,
        targetMs: typeof settleLag === 'number' ? this.startedAt - settleLag : undefined,
      });
    }
    this.timer = setInterval(() => void this.redraw(bridge), REDRAW_MS);
    this.timer.unref();
  }

  /** Clears the line; what is written afterwards goes straight through. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw('');
  }

  private async redraw(bridge: Bridge): Promise<void> {
    if (this.busy || this.timer === undefined) return;
    this.busy = true;
    try {
      const numbers = await this.numbers(bridge);
      // A terminal whose size is not set reports 0 columns.
      const columns = process.stderr.columns || this.err.columns || 120;
      if (this.timer !== undefined) this.draw(renderProgress(numbers, columns));
    } catch {
      // The line is a courtesy: a failed read of the metrics leaves the last one up.
    } finally {
      this.busy = false;
    }
  }

  private async numbers(bridge: Bridge): Promise<ProgressNumbers> {
    const now = this.now();
    const deliveredBySink = new Map<string, number>();
    for (const { value, labels } of (await bridge.metrics.eventsDelivered.get()).values) deliveredBySink.set(String(labels.sink), value);
    const delivered = Math.min(...this.config.sinks.map((s) => deliveredBySink.get(s.name) ?? 0));
    const lag = new Map<string, number>();
    for (const { value, labels } of (await bridge.metrics.sourceLag.get()).values) lag.set(String(labels.source), value);
    const cursors = new Map(bridge.status.snapshot().sources.map((s) => [s.name, s.cursor?.timeMs]));
    for (const [name, s] of this.sources) {
      const lagSeconds = lag.get(name);
      s.reachedMs = cursors.get(name) ?? (lagSeconds === undefined ? undefined : now - lagSeconds * 1000);
      if (s.reachedMs !== undefined && s.firstReachedMs === undefined) {
        s.firstReachedMs = s.reachedMs;
        s.firstSeenAtMs = now;
      }
    }
    const reached = [...this.sources.values()].flatMap((s) => (s.reachedMs === undefined ? [] : [s.reachedMs]));
    return {
      delivered: Number.isFinite(delivered) ? delivered : 0,
      elapsedMs: now - this.startedAt,
      reachedMs: reached.length > 0 ? Math.min(...reached) : undefined,
      leftMs: estimateLeftMs([...this.sources.values()], now),
    };
  }

  /** Replaces the line on the terminal: back to its start, the new text, the rest erased. */
  private draw(line: string): void {
    if (line === this.shown) return;
    if (line === '' && this.shown === '') return;
    writeAll(this.err.fd, `\r${line}\x1b[K`);
    this.shown = line;
  }

  /** Writes to `fd` with the line taken down first and put back after, synchronously as the logger's own destination does. */
  private passThrough(fd: number): Writable {
    return new Writable({
      write: (chunk: Buffer | string, _encoding, done) => {
        const line = this.shown;
        try {
          if (line !== '') writeAll(this.err.fd, '\r\x1b[K');
          writeAll(fd, chunk);
          if (line !== '') writeAll(this.err.fd, line);
          done();
        } catch (err) {
          done(err as Error);
        }
      },
    });
  }
}

/** writeSync until every byte is out (a terminal may take part of a large write). */
function writeAll(fd: number, data: Buffer | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
}
