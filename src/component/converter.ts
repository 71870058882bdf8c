import type { AuditEvent, Reject } from '../event/event.js';

/** What `convert` and the emulators know about the records' origin, for annotations. */
export interface ConvertContext {
  cluster?: string;
  region?: string;
  accountId?: string;
}

/** The input is not a shape this provider's converter reads: `convert` exits 2. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface ProviderRecord {
  record: unknown;
  /** Where it was in the input, for messages: "line 3", "[5]", "events[2]". */
  ref: string;
}

/**
 * One provider's converter for `convert --from` (the README's Command line section): picks the records out of the parsed
 * input (a JSON array, JSON lines, or the provider CLI's export shape) and normalizes each.
 * `normalize` is pure and never throws on bad input: it returns a Reject with a reason.
 */
export interface Converter {
  records(values: readonly { value: unknown; ref: string }[]): ProviderRecord[];
  normalize(record: unknown, ref: string, context: ConvertContext): AuditEvent | Reject;
}
