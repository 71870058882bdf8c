import { readFile } from 'node:fs/promises';
import { parseJsonOrLines } from '../../../util/json-input.js';
import { gkeRecords } from '../normalize.js';
import type { EmulatorModule } from '../../../component/emulator.js';
import { parseGkeFaults } from './faults.js';
import { GkeEmulator } from './server.js';

export { GkeEmulator } from './server.js';
export { parseGkeFaults } from './faults.js';

/** Reads LogEntries in the shapes `convert --from gke` reads: a gcloud JSON array, JSON lines, one entry. */
export async function loadGkeEntries(file: string): Promise<unknown[]> {
  const { values, unreadable } = parseJsonOrLines(await readFile(file, 'utf8'));
  if (unreadable.length > 0) throw new Error(`${file}: ${unreadable[0]!.ref}: ${unreadable[0]!.reason}`);
  return gkeRecords(values).map((r) => r.record);
}

export const gkeEmulatorModule: EmulatorModule = {
  async runFromCli(options, signal) {
    const faults = parseGkeFaults(options.faults);
    const entries = await loadGkeEntries(options.data);
    const emulator = await GkeEmulator.start(entries, { port: options.port, faults });
    process.stdout.write(`${JSON.stringify({ endpoint: emulator.endpoint, entries: emulator.size })}\n`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await emulator.stop();
  },
};
