import type { Writable } from 'node:stream';
import type { AuditEvent } from '../../event/event.js';
import { goJSON } from '../../event/encode.js';
import type { Sink } from '../../pipeline/types.js';

/** JSON lines on stdout, one Event per line; acknowledged once the write is handed to the OS. */
export class StdoutSink implements Sink {
  constructor(
    readonly name: string,
    private readonly out: Writable = process.stdout,
  ) {}

  write(events: readonly AuditEvent[]): Promise<void> {
    const text = events.map((e) => `${goJSON(e)}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    // stdout belongs to the process; nothing to release.
  }
}
