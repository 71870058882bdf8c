import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

// Keys that may hold credentials anywhere in a log record's structured fields. Values are
// replaced rather than the key removed, so a reader sees that something was there.
const REDACT = [
  'authorization',
  'password',
  'token',
  'bearerToken',
  'secret',
  'clientSecret',
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  '*.authorization',
  '*.password',
  '*.token',
  '*.bearerToken',
  '*.secret',
  '*.clientSecret',
  '*.secretAccessKey',
  '*.sessionToken',
  'headers.authorization',
  'headers["x-api-key"]',
];

/**
 * Structured JSON logs on stderr: stdout is reserved for the stdout sink and command output.
 * `destination` is for tests.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { name: 'kube-audit-bridge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
