import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/**
 * Reads a request body as text, decoding gzip or deflate, and stops with 413 as soon as the
 * decoded size passes `limit` (so a small compressed body cannot expand without bound).
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let stream: Readable = req;
  if (encoding === 'gzip' || encoding === 'x-gzip') stream = req.pipe(createGunzip());
  else if (encoding === 'deflate') stream = req.pipe(createInflate());
  else if (encoding !== 'identity') throw new BodyError(415, `unsupported Content-Encoding "${encoding}"; send identity, gzip or deflate`);

  const declared = Number(req.headers['content-length']);
  if (encoding === 'identity' && declared > limit) {
    req.resume();
    throw new BodyError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }

  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > limit) {
        stream.destroy();
        req.resume();
        throw new BodyError(413, `body exceeds the limit of ${limit} bytes${encoding === 'identity' ? '' : ' once decoded'}`);
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof BodyError) throw err;
    throw new BodyError(400, `cannot read the body: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
