import { emulators, type EmulatorCliOptions, type EmulatorProvider } from '../component/emulator.js';
import { notAvailable } from './not-available.js';

export async function emulatorCommand(provider: EmulatorProvider, options: Omit<EmulatorCliOptions, 'port'> & { port: string }): Promise<number> {
  const load = emulators[provider];
  if (!load) return notAvailable(`emulator ${provider}`);
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
    await (await load()).runFromCli({ ...options, port }, stop.signal);
    return 0;
  } catch (err) {
    // Bad data files, fault specs and busy ports are the user's to fix: a message, not a stack.
    process.stderr.write(`emulator ${provider}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
