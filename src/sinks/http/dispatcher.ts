import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import type { HttpClientFields } from './config.js';
import type { Logger } from '../../telemetry/logger.js';

export interface DispatcherOptions {
  /** Connections kept to the origin; the caller's concurrency. */
  connections: number;
  requestTimeoutMs: number;
}

/**
 * An undici Agent with the configured trust (caFile, or the system roots), client certificate and
 * verification. Files are read once here so that a wrong path stops the start with its key named.
 */
export function createDispatcher(
  url: URL,
  settings: Pick<HttpClientFields, 'caFile' | 'certFile' | 'keyFile' | 'insecureSkipVerify'>,
  options: DispatcherOptions,
  logger: Logger,
): Agent {
  const tls = url.protocol === 'https:';
  const configured = (['caFile', 'certFile', 'keyFile'] as const).filter((k) => settings[k] !== undefined);
  if (!tls && configured.length > 0) {
    logger.warn({ url: url.origin, settings: configured }, 'TLS settings are ignored: the URL is http://');
  }
  if (tls && settings.insecureSkipVerify) {
    logger.warn({ url: url.origin }, 'insecureSkipVerify is on: the server certificate is not verified');
  }
  return new Agent({
    connections: options.connections,
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
    connect: tls
      ? {
          ...(settings.caFile !== undefined ? { ca: readPem(settings.caFile, 'caFile') } : {}),
          ...(settings.certFile !== undefined ? { cert: readPem(settings.certFile, 'certFile') } : {}),
          ...(settings.keyFile !== undefined ? { key: readPem(settings.keyFile, 'keyFile') } : {}),
          rejectUnauthorized: !settings.insecureSkipVerify,
        }
      : {},
  });
}

function readPem(path: string, key: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!text.includes('-----BEGIN ')) throw new Error(`${key}: ${path} holds no PEM block (expected -----BEGIN ...)`);
  return text;
}
