import type { EmulatorComponent } from '../component/emulator.js';
import { SOURCES } from '../registry.js';
import { notAvailable } from './not-available.js';

/** Every emulator the components declare, by its `emulator <name>`. */
export const EMULATORS: ReadonlyMap<string, EmulatorComponent> = new Map(SOURCES.flatMap((c) => (c.emulator ? [[c.emulator.name, c.emulator] as const] : [])));

export async function emulatorCommand(name: string, options: Record<string, unknown> & { port: string; data: string }): Promise<number> {
  const emulator = EMULATORS.get(name);
  if (!emulator) return notAvailable(`emulator ${name}`);
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`emulator: --port ${options.port}: expected a TCP port from 0 to 65535\n`);
    return 2;
  }
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await (await emulator.load()).runFromCli({ ...options, port, data: options.data }, stop.signal);
    return 0;
  } catch (err) {
    // Bad data files, fault specs and busy ports are the user's to fix: a message, not a stack.
    process.stderr.write(`emulator ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
