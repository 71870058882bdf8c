// Input files of the CLI and the emulators: one JSON document, or JSON lines.

/** The whole text as one JSON value, or else one JSON value per non-empty line. */
export function parseJsonOrLines(text: string): {
  values: { value: unknown; ref: string }[];
  unreadable: { ref: string; reason: string }[];
} {
  try {
    return { values: [{ value: JSON.parse(text) as unknown, ref: 'input' }], unreadable: [] };
  } catch {
    // not a single JSON document: JSON lines
  }
  const values: { value: unknown; ref: string }[] = [];
  const unreadable: { ref: string; reason: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      values.push({ value: JSON.parse(line) as unknown, ref: `line ${i + 1}` });
    } catch (err) {
      unreadable.push({ ref: `line ${i + 1}`, reason: `not JSON: ${(err as Error).message}` });
    }
  });
  return { values, unreadable };
}
