import { readFile } from 'node:fs/promises';
import { parseJsonOrLines } from '../../../util/json-input.js';
import { isPlainObject } from '../../../event/event.js';
import { stringOption, type EmulatorCliOptions, type EmulatorModule } from '../../../component/emulator.js';
import { EksEmulator, type EmulatorRecord } from './server.js';

export { EksEmulator, type EmulatorRecord } from './server.js';

/** The log group EKS writes a cluster's control-plane logs to. */
export function eksLogGroup(cluster: string): string {
  return `/aws/eks/${cluster}/cluster`;
}

/**
 * Reads emulator data in the shapes `convert --from eks` reads: a JSON array of FilterLogEvents
 * events, JSON lines, or `{"logGroupName"?, "events": [...]}` (the `aws logs filter-log-events`
 * output and the samples' file). Returns the records and the file's log group, if it names one.
 */
export function parseEksData(text: string): { records: EmulatorRecord[]; logGroupName?: string } {
  const { values } = parseJsonOrLines(text);
  const records: EmulatorRecord[] = [];
  let logGroupName: string | undefined;
  const take = (value: unknown): void => {
    if (isPlainObject(value) && typeof value.timestamp === 'number' && typeof value.message === 'string') {
      records.push(value as unknown as EmulatorRecord);
    }
  };
  for (const { value } of values) {
    if (Array.isArray(value)) value.forEach(take);
    else if (isPlainObject(value) && Array.isArray(value.events)) {
      if (typeof value.logGroupName === 'string') logGroupName ??= value.logGroupName;
      value.events.forEach(take);
    } else take(value);
  }
  return logGroupName === undefined ? { records } : { records, logGroupName };
}

export const eksEmulatorModule: EmulatorModule = {
  async runFromCli(options: EmulatorCliOptions, signal: AbortSignal): Promise<void> {
    const { records, logGroupName } = parseEksData(await readFile(options.data, 'utf8'));
    const cluster = stringOption(options, 'cluster');
    const logGroup = stringOption(options, 'logGroup') ?? (cluster ? eksLogGroup(cluster) : logGroupName);
    if (!logGroup) throw new Error('emulator eks: give --cluster NAME or --log-group NAME (the data file names no log group)');
    // Records of the file belong to the served group whatever group the file was exported from.
    const emulator = await EksEmulator.start({
      port: options.port,
      logGroup,
      records: records.map((r) => ({ ...r, logGroupName: logGroup })),
      faults: options.faults,
    });
    process.stdout.write(`${JSON.stringify({ endpoint: emulator.url, logGroup, records: records.length })}\n`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await emulator.close();
  },
};
