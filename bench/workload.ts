// Benchmark workloads built from the real sample events. A set of N events is a pool of distinct
// templates cycled with fresh auditIDs and timestamps, so a 1,000,000-event set costs the memory of
// the pool, not of the set, and every event still has a key of its own for dedupe.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AuditEvent, EventLevel } from '../src/event/event.js';
import { formatMicroTime } from '../src/event/event.js';
import { parseAuditBody } from '../src/sources/webhook/parse.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The native sample events of Falco's trace files and Canonical's examples. */
export function nativeSampleEvents(): AuditEvent[] {
  const native: AuditEvent[] = [];
  for (const folder of ['falco-trace-files', 'canonical-smoke-alerts']) {
    const dir = `${ROOT}samples/k8s-events/${folder}/`;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const lines = readFileSync(dir + file, 'utf8').split('\n').filter((l) => l.trim() !== '');
      const parsed = parseAuditBody(`[${lines.join(',')}]`);
      if (parsed.ok) native.push(...parsed.events);
    }
  }
  return native;
}

/** The native samples and the EKS sample's messages. */
export function sampleEvents(): AuditEvent[] {
  const eks = JSON.parse(readFileSync(`${ROOT}samples/eks/filterlogevents-records.json`, 'utf8')) as { events: { message: string }[] };
  const fromEks = eks.events.flatMap((r) => {
    try {
      return [JSON.parse(r.message) as AuditEvent];
    } catch {
      return []; // the deliberately truncated record
    }
  });
  return [...nativeSampleEvents(), ...fromEks];
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same workload on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Share of each level in the mix: most of a real audit log is Metadata (reads, leases), then
// Request, then RequestResponse (the writes a policy asks full bodies for).
const LEVEL_MIX: readonly [EventLevel, number][] = [
  ['Metadata', 0.5],
  ['Request', 0.3],
  ['RequestResponse', 0.2],
];

function pickLevel(r: number): EventLevel {
  let acc = 0;
  for (const [level, share] of LEVEL_MIX) {
    acc += share;
    if (r < acc) return level;
  }
  return 'RequestResponse';
}

/**
 * Grows an object to about `bytes` of JSON with what makes real bodies large: managedFields entries,
 * labels and annotations, container env. Values are plain strings, so scrub and rules see
 * realistic shapes, not blobs.
 */
export function padObject(object: Record<string, unknown>, bytes: number, random: () => number): Record<string, unknown> {
  const metadata = { ...((object.metadata as Record<string, unknown> | undefined) ?? {}) };
  const annotations: Record<string, string> = { ...((metadata.annotations as Record<string, string> | undefined) ?? {}) };
  const managedFields: unknown[] = [...((metadata.managedFields as unknown[] | undefined) ?? [])];
  let size = JSON.stringify(object).length;
  let i = 0;
  while (size < bytes) {
    if (i % 3 === 0) {
      const entry = {
        manager: `controller-${Math.floor(random() * 50)}`,
        operation: 'Update',
        apiVersion: 'v1',
        time: '2024-05-01T10:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { [`f:app-${i}`]: {} }, 'f:annotations': { [`f:note-${i}`]: {} } } },
      };
      managedFields.push(entry);
      size += JSON.stringify(entry).length + 1;
    } else {
      const value = `value-${i}-${Math.floor(random() * 1e9).toString(36)}`.padEnd(40 + Math.floor(random() * 120), 'x');
      annotations[`bench.example.com/note-${i}`] = value;
      size += value.length + 32;
    }
    i++;
  }
  return { ...object, metadata: { ...metadata, annotations, managedFields } };
}

export interface WorkloadTemplate {
  /** The event as JSON text with `@@ID@@` where the auditID goes and `@@TS@@` for both timestamps. */
  text: string;
  level: EventLevel;
}

/**
 * `poolSize` distinct event templates of the level mix, each about 1 to 20 KB of JSON (sizes drawn
 * log-uniformly, so most events are small and a tail is large, as in real logs).
 */
export function buildTemplates(poolSize: number, seed = 1): WorkloadTemplate[] {
  const random = prng(seed);
  const base = sampleEvents();
  const templates: WorkloadTemplate[] = [];
  for (let i = 0; i < poolSize; i++) {
    const source = base[i % base.length]!;
    const level = pickLevel(random());
    const target = Math.round(1024 * Math.exp(random() * Math.log(20)));
    const event: Record<string, unknown> = { ...source, level, auditID: '@@ID@@', requestReceivedTimestamp: '@@TS@@', stageTimestamp: '@@TS@@' };
    delete event.requestObject;
    delete event.responseObject;
    const bodySeed = (source.requestObject ?? source.responseObject ?? { kind: source.objectRef?.resource ?? 'Object', apiVersion: 'v1', metadata: { name: source.objectRef?.name ?? `obj-${i}`, namespace: source.objectRef?.namespace } }) as Record<string, unknown>;
    const skeleton = JSON.stringify(event).length;
    if (level === 'Request') event.requestObject = padObject(bodySeed, target - skeleton, random);
    if (level === 'RequestResponse') {
      event.requestObject = padObject(bodySeed, (target - skeleton) / 2, random);
      event.responseObject = padObject((source.responseObject ?? bodySeed) as Record<string, unknown>, (target - skeleton) / 2, random);
    }
    if (level === 'Metadata') {
      // Metadata events are small by nature; pad their annotations only up to the low end.
      event.annotations = { ...(source.annotations ?? {}), 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "bench"'.padEnd(Math.max(0, Math.min(target, 2048) - skeleton), '.') };
    }
    templates.push({ text: JSON.stringify(event), level });
  }
  return templates;
}

const BASE_MICROS = 1_700_000_000_000_000n;

/** The i-th event of a set as JSON text: template i mod pool, a unique auditID, a rising timestamp. */
export function eventText(templates: readonly WorkloadTemplate[], i: number): string {
  const template = templates[i % templates.length]!;
  const ts = formatMicroTime(BASE_MICROS + BigInt(i) * 1000n);
  return template.text.replace('@@ID@@', auditId(i)).replaceAll('@@TS@@', ts);
}

export function auditId(i: number): string {
  const hex = i.toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${hex}`;
}

/** Sizes of a set, for the report. */
export function describeTemplates(templates: readonly WorkloadTemplate[]): { meanBytes: number; minBytes: number; maxBytes: number; levels: Record<string, number> } {
  const sizes = templates.map((t) => eventText([t], 0).length);
  const levels: Record<string, number> = {};
  for (const t of templates) levels[t.level] = (levels[t.level] ?? 0) + 1;
  return {
    meanBytes: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
    minBytes: Math.min(...sizes),
    maxBytes: Math.max(...sizes),
    levels,
  };
}

export interface SetRate {
  eventsPerSecond: number;
  mbPerSecond: number;
  events: number;
}

/**
 * Streams a set of `count` events through `process` in chunks of texts made outside the timed part,
 * so a large set never sits in memory whole and text making is not counted.
 */
export async function measureSet(
  templates: readonly WorkloadTemplate[],
  count: number,
  process: (texts: readonly string[], firstIndex: number) => unknown,
  chunk = 2000,
): Promise<SetRate> {
  let timedMs = 0;
  let bytes = 0;
  for (let first = 0; first < count; first += chunk) {
    const texts: string[] = [];
    for (let i = first; i < Math.min(count, first + chunk); i++) texts.push(eventText(templates, i));
    for (const t of texts) bytes += Buffer.byteLength(t);
    const start = performance.now();
    await process(texts, first);
    timedMs += performance.now() - start;
  }
  return { eventsPerSecond: (count * 1000) / timedMs, mbPerSecond: (bytes / 1e6) * (1000 / timedMs), events: count };
}

/** The ceiling (a): JSON.parse + JSON.stringify of the same bytes. */
export function jsonRoundTrip(texts: readonly string[]): number {
  let n = 0;
  for (const t of texts) n += JSON.stringify(JSON.parse(t)).length;
  return n;
}

/** Templates in the workload's pool (buildTemplates); a process that needs the same events builds the same pool. */
export const TEMPLATE_POOL = 2000;

export interface Workload {
  templates: WorkloadTemplate[];
  /** Events in the CPU set: 100,000 (quick: 10,000). */
  cpuSetSize: number;
  /** Events in the backlog set: 1,000,000 (quick: 50,000). */
  backlogSetSize: number;
  ceiling: SetRate;
}

let shared: Promise<Workload> | undefined;

/** One workload and one ceiling per run, so every suite's ratio is to the same (a). */
export function workload(quick: boolean): Promise<Workload> {
  shared ??= (async () => {
    const templates = buildTemplates(TEMPLATE_POOL);
    const cpuSetSize = quick ? 6000 : 100_000;
    // Warm the JIT on a small set before the measured one.
    await measureSet(templates, 4000, jsonRoundTrip);
    const ceiling = await measureSet(templates, cpuSetSize, jsonRoundTrip);
    return { templates, cpuSetSize, backlogSetSize: quick ? 20_000 : 1_000_000, ceiling };
  })();
  return shared;
}

export const CEILING_LABEL = 'JSON.parse+stringify ceiling';
