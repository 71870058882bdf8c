import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let counter = 0;

/**
 * Replaces `path` with `data` so that a crash at any point leaves either the old or the new
 * file: write a temp file in the same directory, fsync it, rename over the target, fsync the
 * directory so the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeChunksAtomic(path, [data]);
}

/**
 * writeFileAtomic for content made chunk by chunk, so that a large file (a saved dedupe window)
 * never sits in memory whole.
 */
export async function writeChunksAtomic(path: string, chunks: Iterable<string | Uint8Array>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${++counter}`;
  try {
    const file = await open(tmp, 'w', 0o600);
    try {
      for (const chunk of chunks) await file.writeFile(chunk);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates the directory of `path` and removes temp files a killed writer left behind. */
export async function prepareDirectory(path: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const prefix = `${basename(path)}.tmp-`;
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(prefix)) await unlink(join(dir, entry)).catch(() => undefined);
  }
}
