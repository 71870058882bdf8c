import type { AuditEvent } from './event.js';
import { rememberEncoding } from './encode.js';

/**
 * An event as goJSON made elsewhere (a worker thread, src/pipeline/prepare.ts): its UTF-8 bytes, a
 * range of a buffer it shares with the other events of its job, and the fields a sink checks before
 * it sends one. Sinks that send bytes (Sink.writeEncoded) copy the range into their body as it is;
 * the text is decoded and the object parsed only when asked for, once, and the object's encoding is
 * that text.
 */
export class EncodedEvent {
  private decoded: string | undefined;
  private parsed: AuditEvent | undefined;

  constructor(
    /** The job's buffer; this event is bytes `start` to `end` of it, goJSON of the top-level v1 Event. */
    readonly buffer: Buffer,
    readonly start: number,
    readonly end: number,
    readonly auditID: string,
    readonly stageTimestamp: string,
  ) {}

  /** An event from its text rather than a job's bytes (tests build them so). */
  static fromText(text: string, auditID: string, stageTimestamp: string): EncodedEvent {
    const buffer = Buffer.from(text);
    const encoded = new EncodedEvent(buffer, 0, buffer.length, auditID, stageTimestamp);
    encoded.decoded = text;
    return encoded;
  }

  get byteLength(): number {
    return this.end - this.start;
  }

  get text(): string {
    return (this.decoded ??= this.buffer.toString('utf8', this.start, this.end));
  }

  get event(): AuditEvent {
    if (this.parsed === undefined) {
      this.parsed = JSON.parse(this.text) as AuditEvent;
      rememberEncoding(this.parsed, this.text);
    }
    return this.parsed;
  }
}
