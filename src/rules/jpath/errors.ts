/** A jpath condition that cannot be read: where (1-based line and column) and what was expected. */
export class JpathError extends Error {
  constructor(
    /** Without the position: "expected …, found …". */
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly offset: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = 'JpathError';
  }
}

/** Maps offsets in a text to 1-based lines and columns. */
export class Positions {
  private readonly lineStarts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }
}
