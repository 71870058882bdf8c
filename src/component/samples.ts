import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '../event/event.js';
import { toNativeEvent } from '../event/parse.js';

/** The repository's samples/ folder (works from src/ under the test runner and from dist/). */
export const SAMPLES_DIR = fileURLToPath(new URL('../../samples/', import.meta.url));

/**
 * Native audit events from the samples (Falco's k8saudit trace files and Canonical's examples),
 * brought to v1 as every source does. The deliberately malformed trace file is skipped. What the
 * components' demo parts replay (src/sources/<type>/demo.ts).
 */
export async function loadSampleEvents(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (const folder of ['k8s-events/falco-trace-files', 'k8s-events/canonical-smoke-alerts']) {
    const dir = `${SAMPLES_DIR}${folder}/`;
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
      const lines = (await readFile(dir + file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
      const parsed = lines.map((line) => {
        try {
          return toNativeEvent(JSON.parse(line));
        } catch {
          return undefined;
        }
      });
      // A file is taken whole or not at all, as a webhook body of its lines would be.
      if (parsed.every((p) => p?.ok)) for (const p of parsed) if (p?.ok) events.push(p.event);
    }
  }
  return events;
}
