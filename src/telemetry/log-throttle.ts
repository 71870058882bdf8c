import type { Logger } from './logger.js';

/**
 * Logs at a bounded rate per kind of message, so that a flood (a client hammering the webhook with
 * bad requests, a sink refusing every event of a backlog) cannot fill the disk or drown the rest.
 * A message over the limit is counted, and the count rides on the next one that is logged.
 */
export class LogThrottle {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    /** Messages of one kind logged per interval. */
    private readonly perInterval = 5,
    private readonly intervalMs = 60_000,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    this.log('warn', kind, fields, message);
  }

  error(kind: string, fields: Record<string, unknown>, message: string): void {
    this.log('error', kind, fields, message);
  }

  private log(level: 'warn' | 'error', kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    let window = this.windows.get(kind);
    if (!window || now - window.start >= this.intervalMs) {
      const suppressed = window?.suppressed ?? 0;
      window = { start: now, logged: 0, suppressed };
      this.windows.set(kind, window);
    }
    if (window.logged >= this.perInterval) {
      window.suppressed++;
      return;
    }
    window.logged++;
    const extra = window.suppressed > 0 ? { suppressedBefore: window.suppressed } : {};
    window.suppressed = 0;
    this.logger[level]({ ...fields, ...extra }, message);
  }
}
