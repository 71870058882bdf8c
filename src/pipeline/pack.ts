// How text crosses between the main thread and a worker (src/pipeline/prepare.ts). postMessage's
// structured clone copies every string into a growing buffer and out again, field by field; a
// source's records are mostly text (a log line of some KB each), and so are a worker's answers.
// Written end to end into one buffer of their own, they cross by transfer instead: the sending
// thread writes each string once, the buffer changes hands without a copy, and the receiving
// thread reads what it needs where it lies.

/** Texts as UTF-8 end to end in one buffer of their own, and where each ends. */
export interface PackedTexts {
  bytes: Uint8Array;
  /** ends[i] is the offset just past text i; text i starts where text i-1 ends. */
  ends: Uint32Array;
}

const encoder = new TextEncoder();

/**
 * UTF-8 takes at least a byte for each UTF-16 unit, and audit text is mostly ASCII, so a buffer of
 * one byte a unit usually fits the texts exactly and spares measuring each of them first (a pass
 * over every character). The first text that does not fit has the rest measured, and the buffer is
 * remade at its exact size; either way no byte of the buffer is left over.
 */
export function packTexts(texts: readonly string[]): PackedTexts {
  const ends = new Uint32Array(texts.length);
  let units = 0;
  for (const text of texts) units += text.length;
  // Not from Buffer's shared pool: the whole ArrayBuffer is transferred.
  let bytes = new Uint8Array(units);
  let at = 0;
  texts.forEach((text, i) => {
    const { read, written } = encoder.encodeInto(text, bytes.subarray(at));
    if (read === text.length) {
      at += written;
    } else {
      let rest = 0;
      for (let j = i; j < texts.length; j++) rest += Buffer.byteLength(texts[j]!);
      const exact = new Uint8Array(at + rest);
      exact.set(bytes.subarray(0, at));
      bytes = exact;
      at += encoder.encodeInto(text, bytes.subarray(at)).written;
    }
    ends[i] = at;
  });
  return { bytes, ends };
}

/**
 * Texts packed as they come, in the layout of packTexts, so that no text outlives its packing: a
 * worker that kept a job's encoded events as strings until the job's end had them survive its
 * scavenges (copied, then promoted), which was most of what those scavenges did. The buffer is
 * scratch, reused from one `finish` to the next; `finish` copies out exactly what was written.
 */
export class TextPacker {
  private scratch = new Uint8Array(64 * 1024);
  private ends: number[] = [];
  private at = 0;

  get count(): number {
    return this.ends.length;
  }

  push(text: string): void {
    // UTF-8 takes at most three bytes for a UTF-16 unit (a surrogate pair: four for two).
    const room = text.length * 3;
    if (this.scratch.length - this.at < room) {
      const grown = new Uint8Array(Math.max(this.scratch.length * 2, this.at + room));
      grown.set(this.scratch.subarray(0, this.at));
      this.scratch = grown;
    }
    this.at += encoder.encodeInto(text, this.scratch.subarray(this.at)).written;
    this.ends.push(this.at);
  }

  /** What was pushed since the last finish, in a buffer of its own (to transfer), and a fresh start. */
  finish(): PackedTexts {
    const packed = { bytes: this.scratch.slice(0, this.at), ends: Uint32Array.from(this.ends) };
    this.ends = [];
    this.at = 0;
    return packed;
  }
}

/** Byte strings end to end in one buffer of their own, and where each ends (the layout of PackedTexts). */
export function packBytes(values: readonly Uint8Array[]): PackedTexts {
  const ends = new Uint32Array(values.length);
  let total = 0;
  values.forEach((value, i) => {
    total += value.byteLength;
    ends[i] = total;
  });
  const bytes = new Uint8Array(total);
  values.forEach((value, i) => bytes.set(value, ends[i]! - value.byteLength));
  return { bytes, ends };
}

/** The packed bytes as a Buffer over the same memory. */
function packedBuffer(packed: PackedTexts): Buffer {
  return Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength);
}

/** Each packed value's range of the buffer, in order. */
export function mapRanges<T>(packed: PackedTexts, visit: (buffer: Buffer, start: number, end: number, index: number) => T): T[] {
  const buffer = packedBuffer(packed);
  let start = 0;
  return Array.from(packed.ends, (end, index) => {
    const out = visit(buffer, start, end, index);
    start = end;
    return out;
  });
}

export function unpackTexts(packed: PackedTexts): string[] {
  return mapRanges(packed, (buffer, start, end) => buffer.toString('utf8', start, end));
}

/** Views of the packed buffer, one per byte string (no copy). */
export function unpackBytes(packed: PackedTexts): Uint8Array[] {
  return mapRanges(packed, (buffer, start, end) => buffer.subarray(start, end));
}

export function textTransfers(packed: PackedTexts): ArrayBuffer[] {
  return [packed.bytes.buffer as ArrayBuffer, packed.ends.buffer as ArrayBuffer];
}

/** One field of every record: strings or byte strings packed, anything else as it is. */
export type PackedColumn = { texts: PackedTexts } | { bytes: PackedTexts } | { values: unknown[] };

/**
 * A source's records on their way to a worker. Strings, or objects that all have the same fields,
 * are packed column by column (a column of strings, or of byte strings, into one buffer; any other
 * column, numbers or nested values, as it is); records of mixed shapes cross as they are, by
 * structured clone (which copies the whole buffer under a byte string that is a view).
 */
export type PackedRecords =
  | { form: 'texts'; texts: PackedTexts }
  | { form: 'columns'; count: number; fields: string[]; columns: PackedColumn[] }
  | { form: 'as-is'; records: unknown[] };

export function packRecords(records: readonly unknown[]): PackedRecords {
  if (records.length > 0 && records.every((r) => typeof r === 'string')) return { form: 'texts', texts: packTexts(records) };
  const fields = sameFields(records);
  if (fields === undefined) return { form: 'as-is', records: [...records] };
  const columns = fields.map((field): PackedColumn => {
    const values = records.map((r) => (r as Record<string, unknown>)[field]);
    if (values.every((v) => typeof v === 'string')) return { texts: packTexts(values) };
    if (values.every((v) => v instanceof Uint8Array)) return { bytes: packBytes(values) };
    return { values };
  });
  return { form: 'columns', count: records.length, fields, columns };
}

export function unpackRecords(packed: PackedRecords): unknown[] {
  if (packed.form === 'as-is') return packed.records;
  if (packed.form === 'texts') return unpackTexts(packed.texts);
  const columns = packed.columns.map((column): readonly unknown[] => ('texts' in column ? unpackTexts(column.texts) : 'bytes' in column ? unpackBytes(column.bytes) : column.values));
  return Array.from({ length: packed.count }, (_, i) => {
    const record: Record<string, unknown> = {};
    packed.fields.forEach((field, f) => (record[field] = columns[f]![i]));
    return record;
  });
}

/** The buffers a packing hands over with it (postMessage's transfer list). */
export function recordTransfers(packed: PackedRecords): ArrayBuffer[] {
  if (packed.form === 'texts') return textTransfers(packed.texts);
  if (packed.form === 'columns') return packed.columns.flatMap((c) => ('texts' in c ? textTransfers(c.texts) : 'bytes' in c ? textTransfers(c.bytes) : []));
  return [];
}

/**
 * The fields every record has, in the first record's order, if all are plain objects with exactly
 * those own fields; otherwise undefined. A field that holds undefined in some record is a field
 * all the same (it comes back undefined).
 */
function sameFields(records: readonly unknown[]): string[] | undefined {
  const first = records[0];
  if (!isPlainObject(first)) return undefined;
  const fields = Object.keys(first);
  // Rebuilt by assignment, a field of that name would set the record's prototype instead.
  if (fields.includes('__proto__')) return undefined;
  for (const record of records) {
    if (!isPlainObject(record)) return undefined;
    const keys = Object.keys(record);
    if (keys.length !== fields.length || keys.some((k, i) => k !== fields[i])) return undefined;
  }
  return fields;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
