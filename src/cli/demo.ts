import { runDemo } from '../demo/demo.js';
import { createLogger } from '../telemetry/logger.js';
import { parseDuration } from '../util/duration.js';

/**
 * demo [--duration D] [--port N] [--json]: events and alerts on stdout as readable text lines, or
 * as JSON lines with --json (for jq and the tests).
 */
export async function demoCommand(options: { duration?: string; port: string; json?: boolean }): Promise<number> {
  const durationMs = options.duration !== undefined ? parseDuration(options.duration) : undefined;
  if (options.duration !== undefined && durationMs === undefined) {
    process.stderr.write(`demo: --duration ${options.duration}: expected a duration such as 30s or 5m\n`);
    return 2;
  }
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`demo: --port ${options.port}: expected a TCP port from 0 to 65535\n`);
    return 2;
  }
  const logger = createLogger('info');
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const summary = await runDemo({ durationMs, port, logger, signal: stop.signal, format: options.json ? 'json' : 'text' });
    logger.info(summary, 'demo finished');
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
