import { checkConfig } from '../check-config.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { CompiledProcessing } from '../process/stages.js';

export async function validateCommand(file: string, options: { files?: boolean } = {}): Promise<number> {
  try {
    const { config } = await loadConfigFile(file);
    const checked = checkConfig(config, { files: options.files ?? true });
    for (const warning of checked.warnings) process.stderr.write(`${file}: warning: ${warning}\n`);
    if (!checked.compiled) throw new ConfigError(file, checked.problems);
    const names = (items: { name: string; type: string }[]): string => items.map((i) => `${i.name} (${i.type})`).join(', ');
    process.stdout.write(`${file}: valid\n  sources: ${names(config.sources)}\n  sinks: ${names(config.sinks)}\n${processSummary(config, checked.compiled.processing)}`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** One line on the process section, when it does more than the defaults. */
function processSummary(config: Config, processing: CompiledProcessing): string {
  const { policy, drop, keep, scrubPaths } = config.process;
  const unscrubbed = config.sinks.filter((s) => !(s.scrubSecrets ?? config.process.scrubSecrets)).map((s) => s.name);
  if (policy === undefined && drop.length === 0 && keep.length === 0 && scrubPaths.length === 0 && unscrubbed.length === 0) return '';
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (policy !== undefined) parts.push(`policy ${policy} (${plural(processing.policy!.rules.length, 'rule')})`);
  if (drop.length > 0 || keep.length > 0) parts.push(`${drop.length} drop, ${plural(keep.length, 'keep condition')}`);
  if (scrubPaths.length > 0) parts.push(plural(scrubPaths.length, 'scrub path'));
  if (unscrubbed.length > 0) parts.push(`not scrubbed for ${unscrubbed.join(', ')}`);
  return `  process: ${parts.join('; ')}\n`;
}
