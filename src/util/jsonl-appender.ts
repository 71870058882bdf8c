import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';

/**
 * Appends JSON lines to a file and fsyncs before acknowledging. Appends that arrive while a
 * write is in progress are written and synced together (group commit), so durability costs
 * one fsync per burst rather than per call.
 */
export class JsonLinesAppender {
  private handle: Promise<FileHandle> | undefined;
  private queue: { text: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(readonly path: string) {}

  append(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ text: `${lines.join('\n')}\n`, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await (await handle).close();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        try {
          const file = await this.file();
          await file.appendFile(group.map((g) => g.text).join(''));
          await file.datasync();
          for (const g of group) g.resolve();
        } catch (err) {
          // Reopen on the next attempt: the file may have been removed or the disk recovered.
          const broken = this.handle;
          this.handle = undefined;
          if (broken) await broken.then((h) => h.close()).catch(() => undefined);
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private file(): Promise<FileHandle> {
    this.handle ??= mkdir(dirname(this.path), { recursive: true }).then(() => open(this.path, 'a', 0o600));
    return this.handle;
  }
}
