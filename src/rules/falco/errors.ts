import { Positions } from '../jpath/errors.js';

/**
 * A Falco condition (or output) that cannot be read or compiled: Falco's reason, and where in the
 * text (1-based line and column, and the offset).
 */
export class FalcoConditionError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly offset: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = 'FalcoConditionError';
  }

  static at(text: string, offset: number, reason: string): FalcoConditionError {
    const { line, column } = new Positions(text).at(Math.min(Math.max(offset, 0), text.length));
    return new FalcoConditionError(reason, line, column, offset);
  }
}
