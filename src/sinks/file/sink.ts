import type { AuditEvent } from '../../event/event.js';
import { encodeOnce } from '../../event/encode.js';
import type { EncodedEvent } from '../../event/encoded.js';
import type { Sink } from '../../pipeline/types.js';
import { JsonLinesAppender } from '../../util/jsonl-appender.js';

/** JSON lines appended to a file, one Event per line; fsynced before the batch is acknowledged. */
export class FileSink implements Sink {
  private readonly out: JsonLinesAppender;

  constructor(
    readonly name: string,
    path: string,
  ) {
    this.out = new JsonLinesAppender(path);
  }

  write(events: readonly AuditEvent[]): Promise<void> {
    return this.out.append(events.map((e) => encodeOnce(e)));
  }

  writeEncoded(events: readonly EncodedEvent[]): Promise<void> {
    return this.out.append(events.map((e) => e.text));
  }

  close(): Promise<void> {
    return this.out.close();
  }
}
