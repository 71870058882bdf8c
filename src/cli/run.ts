import { Bridge } from '../bridge.js';
import { checkConfig, type CheckedConfig } from '../check-config.js';
import { CheckpointError } from '../checkpoint/store.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../telemetry/logger.js';

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

  const logger = createLogger(config.log.level);
  let bridge: Bridge;
  try {
    bridge = await Bridge.create(config, { logger, once: options.once, processMetrics: true, checked });
    await bridge.start();
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
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  logger.info('exiting');
  return 0;
}
