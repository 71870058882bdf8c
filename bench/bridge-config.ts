import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** A config file for a bridge with the given sources and one webhook sink to `url`, in a fresh temp dir. */
export function writeBridgeConfig(sources: Record<string, unknown>[], url: string, extra: Record<string, unknown> = {}): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kab-bench-'));
  const config = {
    sources,
    sinks: [{ name: 'receiver', type: 'webhook', url }],
    checkpoint: { path: join(dir, 'checkpoints.json') },
    deadLetter: { path: join(dir, 'dead-letter.jsonl') },
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'warn' },
    ...extra,
  };
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(config));
  return { file, dir };
}
