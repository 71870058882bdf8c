import { z } from 'zod';
import { duration, filePath } from '../../config/fields.js';

// TLS, authentication and retry settings shared by everything that POSTs (the webhook sink, alert outputs).
export const basicAuthSchema = z
  .strictObject({
    username: z.string().min(1).optional(),
    usernameFile: filePath.optional(),
    password: z.string().optional(),
    passwordFile: filePath.optional(),
    /** Name of an environment variable holding the password. */
    passwordEnv: z.string().min(1).optional(),
  })
  .refine((a) => (a.username === undefined) !== (a.usernameFile === undefined), {
    message: 'exactly one of username, usernameFile',
  })
  .refine((a) => [a.password, a.passwordFile, a.passwordEnv].filter((v) => v !== undefined).length === 1, {
    message: 'exactly one of password, passwordFile, passwordEnv',
  });

export const httpClientFields = {
  caFile: filePath.optional(),
  certFile: filePath.optional(),
  keyFile: filePath.optional(),
  insecureSkipVerify: z.boolean().default(false),
  /** File holding a bearer token; re-read when it changes (projected service account tokens). */
  bearerTokenFile: filePath.optional(),
  basicAuth: basicAuthSchema.optional(),
  /** Sent with every request; the sink sets Content-Type, and bearerTokenFile/basicAuth set Authorization. */
  headers: z.record(z.string(), z.string()).default({}),
  requestTimeout: duration({ min: 100 }).prefault('30s'),
  retry: z
    .strictObject({
      initialBackoff: duration({ min: 1 }).prefault('1s'),
      maxBackoff: duration({ min: 1 }).prefault('60s'),
    })
    .prefault({}),
};

/** The parsed HTTP client settings (TLS, auth, headers, timeout, retry), as src/sinks/http takes them. */
export type HttpClientFields = z.output<z.ZodObject<typeof httpClientFields>>;

// Headers the HTTP client computes for every request; a static value would corrupt the framing.
const RESERVED_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection']);

/** certFile and keyFile come together; a bearer token and basic auth exclude each other. */
export function checkHttpClient(
  value: {
    certFile?: string | undefined;
    keyFile?: string | undefined;
    bearerTokenFile?: string | undefined;
    basicAuth?: unknown;
    headers?: Record<string, string>;
  },
  ctx: z.RefinementCtx,
): void {
  for (const name of Object.keys(value.headers ?? {})) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      ctx.addIssue({
        code: 'custom',
        path: ['headers', name],
        message: 'set by the HTTP client for every request; remove it from headers',
        params: { complete: true },
      });
    }
  }
  if ((value.certFile === undefined) !== (value.keyFile === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [value.certFile === undefined ? 'certFile' : 'keyFile'],
      message: 'certFile and keyFile together (a client certificate needs its key)',
    });
  }
  if (value.bearerTokenFile !== undefined && value.basicAuth !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['basicAuth'], message: 'either bearerTokenFile or basicAuth, not both' });
  }
}
