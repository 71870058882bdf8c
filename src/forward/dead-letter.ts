import type { AuditEvent, Reject } from '../normalize/event.js';
import { JsonLinesAppender } from './jsonl-appender.js';

export interface DeadLetter {
  /** Records a source could not normalize. */
  rejects(source: string, rejects: readonly Reject[]): Promise<void>;
  /** A batch a sink refused permanently, with the sink's reason (status, start of the response). */
  refused(sink: string, events: readonly AuditEvent[], reason: string, detail?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/**
 * The dead-letter file: one JSON object per line, each saying what it is, where it came from and
 * why it is here, with the record itself so nothing is lost and it can be replayed by hand.
 */
export class FileDeadLetter implements DeadLetter {
  private readonly out: JsonLinesAppender;

  constructor(
    path: string,
    private readonly now: () => number = Date.now,
  ) {
    this.out = new JsonLinesAppender(path);
  }

  get path(): string {
    return this.out.path;
  }

  rejects(source: string, rejects: readonly Reject[]): Promise<void> {
    const time = new Date(this.now()).toISOString();
    return this.out.append(
      rejects.map((r) =>
        JSON.stringify({ time, kind: 'reject', source, reason: r.reason, ...(r.ref ? { ref: r.ref } : {}), record: r.raw }),
      ),
    );
  }

  refused(sink: string, events: readonly AuditEvent[], reason: string, detail: Record<string, unknown> = {}): Promise<void> {
    const time = new Date(this.now()).toISOString();
    return this.out.append([JSON.stringify({ time, kind: 'refused', sink, reason, ...detail, events })]);
  }

  close(): Promise<void> {
    return this.out.close();
  }
}
