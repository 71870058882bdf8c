import { unavailableComponents } from '../bridge.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { rulesSinkProblems } from '../forward/rules/sink.js';
import { processProblems } from '../process/stages.js';

export async function validateCommand(file: string): Promise<number> {
  try {
    const { config } = await loadConfigFile(file);
    const unavailable = [...unavailableComponents(config), ...rulesSinkProblems(config.sinks), ...processProblems(config)];
    if (unavailable.length > 0) throw new ConfigError(file, unavailable);
    const names = (items: { name: string; type: string }[]): string => items.map((i) => `${i.name} (${i.type})`).join(', ');
    process.stdout.write(`${file}: valid\n  sources: ${names(config.sources)}\n  sinks: ${names(config.sinks)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
