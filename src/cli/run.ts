import { Bridge } from '../bridge.js';
import { checkConfig, type CheckedConfig } from '../check-config.js';
import { CheckpointError } from '../checkpoint/store.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../telemetry/logger.js';
import { BackfillProgress } from './progress.js';

export async function runCommand(options: { config: string; once: boolean }): Promise<number> {
  let config: Config;
  let checked: CheckedConfig;
  try {
    config = (await loadConfigFile(options.config)).config;
    checked = checkConfig(config);
    if (!checked.compiled) throw new ConfigError(options.config, checked.problems);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }

  // On a terminal only; the logs then pass under the progress line instead of through it.
  const progress = options.once ? BackfillProgress.forTerminal(config) : undefined;
  const logger = createLogger(config.log.level, progress?.logs);
  let bridge: Bridge;
  try {
    bridge = await Bridge.create(config, { logger, once: options.once, processMetrics: true, checked, stdout: progress?.stdout });
    await bridge.start();
    progress?.start(bridge);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.fatal({ error: message }, 'cannot start');
    if (err instanceof CheckpointError) process.stderr.write(`${message}\n`);
    return 1;
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting for in-flight deliveries');
      process.exit(1);
    }
    void bridge.stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await bridge.done;
  } finally {
    progress?.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  // A source that stopped on a lasting error (run --once: permission denied, unknown log group...)
  // fails the run with one line per source on stderr: the source, the API's answer, the fix.
  const stopped = bridge.health.stoppedSources();
  for (const line of stopped) process.stderr.write(`${line}\n`);
  logger.info({ exitCode: stopped.length > 0 ? 1 : 0 }, 'exiting');
  return stopped.length > 0 ? 1 : 0;
}
