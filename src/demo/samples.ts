import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '../event/event.js';
import { parseAuditBody } from '../sources/webhook/parse.js';

/** The repository's samples/ folder (works from src/ under the test runner and from dist/). */
export const SAMPLES_DIR = fileURLToPath(new URL('../../samples/', import.meta.url));

/**
 * Native audit events from the samples (Falco's k8saudit trace files and Canonical's examples),
 * brought to v1 as the webhook source would. The deliberately malformed trace file is skipped.
 */
export async function loadSampleEvents(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (const folder of ['k8s-events/falco-trace-files', 'k8s-events/canonical-smoke-alerts']) {
    const dir = `${SAMPLES_DIR}${folder}/`;
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
      const lines = (await readFile(dir + file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
      const parsed = parseAuditBody(`[${lines.join(',')}]`);
      if (parsed.ok) events.push(...parsed.events);
    }
  }
  return events;
}
