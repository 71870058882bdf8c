import type { AuditEvent } from './event.js';
import { rememberEncoding } from './encode.js';

/**
 * An event as goJSON text made elsewhere (a worker thread, src/pipeline/prepare.ts), with the
 * fields a sink checks before it sends one. Sinks that send text (Sink.writeEncoded) take it as it
 * is; the object is parsed only when asked for, once, and its encoding is the text.
 */
export class EncodedEvent {
  private parsed: AuditEvent | undefined;

  constructor(
    /** goJSON of the top-level v1 Event. */
    readonly text: string,
    readonly auditID: string,
    readonly stageTimestamp: string,
  ) {}

  get event(): AuditEvent {
    if (this.parsed === undefined) {
      this.parsed = JSON.parse(this.text) as AuditEvent;
      rememberEncoding(this.parsed, this.text);
    }
    return this.parsed;
  }
}
