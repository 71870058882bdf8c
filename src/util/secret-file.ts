import { stat, readFile } from 'node:fs/promises';

/**
 * A credential kept in a file (a projected service account token, a mounted Secret) and re-read
 * when the file changes, so rotation needs no restart. The value is never logged.
 */
export class SecretFile {
  private cached: { value: string; mtimeMs: number; size: number } | undefined;

  constructor(readonly path: string) {}

  async read(): Promise<string> {
    const info = await stat(this.path);
    if (!this.cached || this.cached.mtimeMs !== info.mtimeMs || this.cached.size !== info.size) {
      const value = (await readFile(this.path, 'utf8')).trim();
      if (value === '') throw new Error(`credential file ${this.path} is empty`);
      this.cached = { value, mtimeMs: info.mtimeMs, size: info.size };
    }
    return this.cached.value;
  }
}
