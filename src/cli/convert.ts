import { readFile } from 'node:fs/promises';
import { text as streamText } from 'node:stream/consumers';
import { goJSON } from '../event/encode.js';
import { converters, InputError, type ConvertContext, type ConverterProvider } from '../component/converter.js';
import { isReject } from '../event/event.js';
import { scrubEvent } from '../process/scrub.js';
import { notAvailable } from './not-available.js';

export interface ConvertOptions extends ConvertContext {
  from: ConverterProvider;
  /** Redact Secret values as sinks do (default); false prints them as the provider logged them. */
  scrub?: boolean;
}

/**
 * convert --from P [FILE|-]: provider records in, Events out as JSON lines on stdout; rejects on
 * stderr with their position and reason. Exit 0 all converted, 3 some rejected, 2 unreadable.
 */
export async function convertCommand(file: string, options: ConvertOptions): Promise<number> {
  const load = converters[options.from];
  if (!load) return notAvailable(`convert --from ${options.from}`);
  const converter = await load();

  let text: string;
  try {
    text = file === '-' ? await streamText(process.stdin) : await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`convert: cannot read ${file === '-' ? 'stdin' : file}: ${(err as Error).message}\n`);
    return 2;
  }

  const { values, unreadable } = parseJsonOrLines(text);
  let rejected = unreadable.length;
  for (const line of unreadable) process.stderr.write(`${line.ref}: rejected: ${line.reason}\n`);

  let records;
  try {
    records = converter.records(values);
  } catch (err) {
    if (err instanceof InputError) {
      process.stderr.write(`convert: unreadable input: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (values.length === 0 && unreadable.length > 0) {
    process.stderr.write('convert: unreadable input: neither JSON nor JSON lines\n');
    return 2;
  }

  const context: ConvertContext = { cluster: options.cluster, region: options.region, accountId: options.accountId };
  const out: string[] = [];
  for (const { record, ref } of records) {
    const result = converter.normalize(record, ref, context);
    if (isReject(result)) {
      rejected++;
      process.stderr.write(`${ref}: rejected: ${result.reason}\n`);
    } else out.push(`${goJSON(options.scrub === false ? result : scrubEvent(result, { secrets: true, paths: [] }))}\n`);
    if (out.length >= 1000) process.stdout.write(out.splice(0).join(''));
  }
  process.stdout.write(out.join(''));
  return rejected > 0 ? 3 : 0;
}

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
