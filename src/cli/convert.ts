import { readFile } from 'node:fs/promises';
import { text as streamText } from 'node:stream/consumers';
import { goJSON } from '../event/encode.js';
import { InputError, type ConvertContext } from '../component/converter.js';
import { SOURCES } from '../registry.js';
import { parseJsonOrLines } from '../util/json-input.js';
import { isReject } from '../event/event.js';
import { scrubEvent } from '../process/scrub.js';
import { notAvailable } from './not-available.js';

export interface ConvertOptions extends ConvertContext {
  /** A source type whose component has a converter. */
  from: string;
  /** Redact Secret values as sinks do (default); false prints them as the provider logged them. */
  scrub?: boolean;
}

/**
 * convert --from P [FILE|-]: provider records in, Events out as JSON lines on stdout; rejects on
 * stderr with their position and reason. Exit 0 all converted, 3 some rejected, 2 unreadable.
 */
export async function convertCommand(file: string, options: ConvertOptions): Promise<number> {
  const load = SOURCES.find((c) => c.type === options.from)?.converter;
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
