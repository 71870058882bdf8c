import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aksSourceSchema } from '../../../src/sources/aks/config.js';
import { AksEmulator, type AksEmulatorOptions } from '../../../src/sources/aks/emulator/server.js';
import { createLocalPki, type LocalPki } from '../../../src/util/certs.js';
import type { AuditEvent, Reject } from '../../../src/event/event.js';
import { Health } from '../../../src/pipeline/health.js';
import type { Cursor } from '../../../src/pipeline/types.js';
import { kustoTime } from '../../../src/sources/aks/kusto-time.js';
import { AksSource } from '../../../src/sources/aks/source.js';
import { silentLogger, type Logger } from '../../../src/telemetry/logger.js';
import { Metrics } from '../../../src/telemetry/metrics.js';
import type { Clock } from '../../../src/util/clock.js';
import { QuotaRegistry } from '../../../src/util/token-bucket.js';
import { SAMPLES } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { onCleanup } from '../../helpers/webhook.js';

export const WORKSPACE = '7d0a3e59-2c1f-4b8e-9a64-0f3c5b1d2e01';
export const TENANT = '11111111-2222-3333-4444-555555555555';
export const CLIENT = '66666666-7777-8888-9999-000000000000';
export const SECRET = 'emulator-client-secret';

export type Row = Record<string, unknown>;

export function sampleRows(file: 'aksaudit-rows.json' | 'azurediagnostics-rows.json'): Row[] {
  return (JSON.parse(readFileSync(join(SAMPLES, 'aks', file), 'utf8')) as { rows: Row[] }).rows;
}

/** The rows as if ingested one every stepMs from startMs (TimeGenerated a second before). */
export function stamp(rows: readonly Row[], startMs: number, stepMs: number): Row[] {
  return rows.map((r, i) => ({ ...r, TimeGenerated: kustoTime(startMs + i * stepMs - 1000), _TimeReceived: kustoTime(startMs + i * stepMs) }));
}

let sharedPki: Promise<LocalPki> | undefined;

/** An emulator closed after the test; one CA per test file (key generation is slow). */
export async function startEmulator(rows: readonly Row[], options: AksEmulatorOptions = {}): Promise<AksEmulator> {
  sharedPki ??= createLocalPki('aks test');
  const emulator = await AksEmulator.start(rows, { pki: await sharedPki, ...options });
  onCleanup(() => emulator.close());
  return emulator;
}

export interface Harness {
  source: AksSource;
  metrics: Metrics;
  quotas: QuotaRegistry;
  health: Health;
}

/** An AKS source on the emulator, with the client-secret credential read from a file. */
export async function aksSource(
  emulator: AksEmulator,
  settings: Record<string, unknown>,
  options: { clock: Clock; once?: boolean; quotas?: QuotaRegistry; logger?: Logger; metrics?: Metrics },
): Promise<Harness> {
  const dir = await tempDir();
  const caFile = join(dir, 'ca.pem');
  const secretFile = join(dir, 'secret');
  await writeFile(caFile, emulator.caPem);
  await writeFile(secretFile, `${SECRET}\n`);
  const { credential, ...rest } = settings as { credential?: Record<string, unknown> };
  const config = aksSourceSchema.parse({
    name: 'aks-test',
    type: 'aks',
    workspaceId: WORKSPACE,
    endpoint: emulator.endpoint,
    caFile,
    credential: credential ?? { type: 'clientSecret', tenantId: TENANT, clientId: CLIENT, clientSecretFile: secretFile, authorityHost: emulator.authorityHost },
    settleLag: '1m',
    overlap: '10m',
    startFrom: '-2h',
    ...rest,
  });
  const metrics = options.metrics ?? new Metrics();
  const quotas = options.quotas ?? new QuotaRegistry(options.clock);
  const health = new Health(options.clock, metrics);
  health.registerSource(config.name, config.pollInterval);
  const source = new AksSource(config, { logger: options.logger ?? silentLogger(), metrics, health, clock: options.clock, quotas, once: options.once ?? true });
  return { source, metrics, quotas, health };
}

export interface Drained {
  events: AuditEvent[];
  rejects: Reject[];
  cursors: Cursor[];
  batches: number;
}

/** Reads a source until it ends (once mode) or `stopAfter` batches. */
export async function drain(source: AksSource, from?: Cursor, stopAfter = Infinity): Promise<Drained> {
  const out: Drained = { events: [], rejects: [], cursors: [], batches: 0 };
  const abort = new AbortController();
  for await (const batch of source.batches(from, abort.signal)) {
    out.events.push(...batch.events);
    out.rejects.push(...batch.rejects);
    if (batch.cursor) out.cursors.push(batch.cursor);
    if (++out.batches >= stopAfter) {
      abort.abort();
      break;
    }
  }
  return out;
}

export function keys(events: readonly AuditEvent[]): string[] {
  return events.map((e) => `${e.auditID}|${e.stage}`);
}
