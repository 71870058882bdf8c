import type { Writable } from 'node:stream';
import type { AuditEvent } from '../../event/event.js';
import type { Sink } from '../../pipeline/types.js';
import { eventWriter, type OutputFormat, wantsColor } from './format.js';

/** Events on stdout, one per line (JSON or text); acknowledged once the write is handed to the OS. */
export class StdoutSink implements Sink {
  private readonly render: (event: AuditEvent) => string;

  constructor(
    readonly name: string,
    private readonly out: Writable = process.stdout,
    format: OutputFormat = 'json',
    color: boolean = wantsColor(out),
  ) {
    this.render = eventWriter(format, color);
  }

  write(events: readonly AuditEvent[]): Promise<void> {
    const text = events.map((e) => `${this.render(e)}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    // stdout belongs to the process; nothing to release.
  }
}
