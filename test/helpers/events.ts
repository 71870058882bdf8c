import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatMicroTime, type AuditEvent } from '../../src/event/event.js';

export const SAMPLES = fileURLToPath(new URL('../../samples/', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** A component's testdata folder (src/sources/<type>/testdata/), with a trailing slash. */
export const testdata = (component: string): string => fileURLToPath(new URL(`../../src/sources/${component}/testdata/`, import.meta.url));

/** A minimal valid v1 Event with a distinct auditID. */
export function makeEvent(n: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  const t = formatMicroTime(BigInt(Date.UTC(2026, 0, 2, 3, 4, 5)) * 1000n + BigInt(n));
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI: `/api/v1/namespaces/default/configmaps/cm-${n}`,
    verb: 'get',
    user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    sourceIPs: ['203.0.113.7'],
    userAgent: 'kubectl/v1.36.0',
    objectRef: { resource: 'configmaps', namespace: 'default', name: `cm-${n}`, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: t,
    stageTimestamp: t,
    ...overrides,
  };
}

export function makeEvents(from: number, count: number): AuditEvent[] {
  return Array.from({ length: count }, (_, i) => makeEvent(from + i));
}

/** JSON lines file → parsed values. */
export function readJsonLines(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}
