import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';

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
 * decoded size passes `limit` (so a small compressed body cannot expand without bound). It never
 * destroys the request: a refused body is left flowing so that the caller can answer and drain it,
 * and the client reads the answer instead of a connection reset. A decoder is stopped at once.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let decoder: Transform | undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip();
  else if (encoding === 'deflate') decoder = createInflate();
  else if (encoding !== 'identity') return Promise.reject(new BodyError(415, `unsupported Content-Encoding "${encoding}"; send identity, gzip or deflate`));

  const declared = Number(req.headers['content-length']);
  if (encoding === 'identity' && declared > limit) {
    return Promise.reject(new BodyError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }

  const stream: Readable = decoder ? req.pipe(decoder) : req;
  return new Promise<string>((resolve, reject) => {
    // With a declared length the bytes go straight into one buffer, not into chunks copied again at the end.
    const into = encoding === 'identity' && Number.isInteger(declared) && declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (err: BodyError): void => {
      if (settled) return;
      settled = true;
      chunks.length = 0;
      stream.off('data', onData);
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) fail(new BodyError(413, `body exceeds the limit of ${limit} bytes${encoding === 'identity' ? '' : ' once decoded'}`));
      else if (into && size <= into.length) chunk.copy(into, size - chunk.length);
      else chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => {
      if (settled) return;
      settled = true;
      if (into && size === into.length && chunks.length === 0) resolve(into.toString('utf8'));
      else if (into) fail(new BodyError(400, `the body has ${size} bytes, not the ${into.length} its Content-Length says`));
      else resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    stream.once('error', (err: Error) => fail(new BodyError(400, `cannot read the body: ${err.message}`)));
    if (decoder) req.once('error', (err: Error) => fail(new BodyError(400, `cannot read the body: ${err.message}`)));
  });
}
