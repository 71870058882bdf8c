import { goJSON } from '../event/encode.js';
import { InputError, type ConvertContext } from '../component/converter.js';
import { SOURCES } from '../registry.js';
import { parseJsonOrLines } from '../util/json-input.js';
import { isReject } from '../event/event.js';
import { scrubEvent } from '../process/scrub.js';
import { dedupeKey } from '../pipeline/dedupe.js';
import { notAvailable } from './not-available.js';
import { readInput } from './input.js';

export interface ConvertOptions extends ConvertContext {
  /** A source type whose component has a converter. */
  from: string;
  /** Redact Secret values as sinks do (default); false prints them as the provider logged them. */
  scrub?: boolean;
  /**
   * Print each (auditID, stage) once, as the pipeline delivers it (default); false prints every
   * record. An export can hold one event twice: an AKS workspace that receives both kube-audit and
   * kube-audit-admin, an EKS or GKE export taken over overlapping windows.
   */
  dedupe?: boolean;
}

/**
 * convert --from P [FILE|-]: provider records in, Events out as JSON lines on stdout, each
 * (auditID, stage) once unless dedupe is false; rejects on stderr with their position and reason,
 * and how many duplicates were skipped. Exit 0 all converted, 3 some rejected, 2 unreadable.
 */
export async function convertCommand(file: string, options: ConvertOptions): Promise<number> {
  const load = SOURCES.find((c) => c.type === options.from)?.converter;
  if (!load) return notAvailable(`convert --from ${options.from}`);
  const converter = await load();

  let text: string;
  try {
    text = await readInput(file);
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
  // The key the pipeline's dedupe window uses, so convert prints what `run` would deliver.
  const seen = options.dedupe === false ? undefined : new Set<string>();
  let duplicates = 0;
  for (const { record, ref } of records) {
    const result = converter.normalize(record, ref, context);
    if (isReject(result)) {
      rejected++;
      process.stderr.write(`${ref}: rejected: ${result.reason}\n`);
    } else if (seen?.has(dedupeKey(result))) {
      duplicates++;
    } else {
      seen?.add(dedupeKey(result));
      out.push(`${goJSON(options.scrub === false ? result : scrubEvent(result, { secrets: true, paths: [] }))}\n`);
    }
    if (out.length >= 1000) process.stdout.write(out.splice(0).join(''));
  }
  process.stdout.write(out.join(''));
  if (duplicates > 0) {
    process.stderr.write(`convert: skipped ${duplicates} duplicate ${duplicates === 1 ? 'event' : 'events'} (an (auditID, stage) already printed); --no-dedupe prints every record\n`);
  }
  return rejected > 0 ? 3 : 0;
}
