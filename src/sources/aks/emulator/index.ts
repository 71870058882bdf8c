import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonOrLines } from '../../../util/json-input.js';
import { aksConverter } from '../convert.js';
import { isPlainObject } from '../../../event/event.js';
import { stringOption, type EmulatorCliOptions, type EmulatorModule } from '../../../component/emulator.js';
import { parseFaults } from './faults.js';
import { AksEmulator } from './server.js';
import { isTableName, TABLE_NAMES } from './tables.js';

/** Rows from a data file in any shape `convert --from aks` reads. */
export async function loadRows(file: string): Promise<{ rows: Record<string, unknown>[]; workspaceId?: string }> {
  const { values } = parseJsonOrLines(await readFile(file, 'utf8'));
  const rows = aksConverter.records(values).map((r) => r.record).filter(isPlainObject);
  const first = values[0]?.value;
  const workspaceId = isPlainObject(first) && typeof first.workspaceId === 'string' ? first.workspaceId : undefined;
  return workspaceId ? { rows, workspaceId } : { rows };
}

export const aksEmulatorModule: EmulatorModule = {
  async runFromCli(options: EmulatorCliOptions, signal: AbortSignal): Promise<void> {
    const table = stringOption(options, 'table') ?? 'AKSAudit';
    if (!isTableName(table)) throw new Error(`--table ${table}: expected one of ${TABLE_NAMES.join(', ')}`);
    const faults = parseFaults(options.faults);
    const { rows, workspaceId } = await loadRows(options.data);
    const emulator = await AksEmulator.start(rows, { port: options.port, faults, table });
    const dir = await mkdtemp(join(tmpdir(), 'kube-audit-bridge-aks-'));
    try {
      const caFile = join(dir, 'ca.pem');
      await writeFile(caFile, emulator.caPem);
      process.stdout.write(
        `${JSON.stringify({
          endpoint: emulator.endpoint,
          caFile,
          authorityHost: emulator.authorityHost,
          msiEndpoint: emulator.msiEndpoint,
          table,
          rows: rows.length,
          ...(workspaceId ? { workspaceId } : {}),
        })}\n`,
      );
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      await emulator.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
