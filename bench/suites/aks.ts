import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aksSourceSchema } from '../../src/sources/aks/config.js';
import { AksEmulator } from '../../src/sources/aks/emulator/server.js';
import { normalizeAksRow } from '../../src/sources/aks/normalize.js';
import { goJSON } from '../../src/event/encode.js';
import { isReject } from '../../src/event/event.js';
import { kustoTime } from '../../src/sources/aks/kusto-time.js';
import { AksSource } from '../../src/sources/aks/source.js';
import { jsonCeiling, onceSourceContext, rate, withBaseline, type Figure, type Suite } from '../harness.js';

type Row = Record<string, unknown>;
type Table = 'AKSAudit' | 'AzureDiagnostics';

/** `count` rows of a table from the samples (the ones that normalize), with distinct ids, ingested over the last hour. */
function rows(table: Table, count: number): Row[] {
  const file = table === 'AKSAudit' ? 'aksaudit-rows.json' : 'azurediagnostics-rows.json';
  const all = (JSON.parse(readFileSync(join(process.cwd(), 'samples/aks', file), 'utf8')) as { rows: Row[] }).rows;
  const base = all.filter((r) => (table === 'AzureDiagnostics' ? r.Category === 'kube-audit' : r.Type === 'AKSAudit') && !isReject(normalizeAksRow(r)));
  const start = Date.now() - 60 * 60_000;
  return Array.from({ length: count }, (_, i) => {
    const r = base[i % base.length]!;
    const id = randomUUID();
    const ingested = { TimeGenerated: kustoTime(start + i), _TimeReceived: kustoTime(start + i + 1) };
    if (table === 'AKSAudit') return { ...r, AuditId: id, ...ingested };
    return { ...r, log_s: String(r.log_s).replace(/"auditID":"[^"]*"/, `"auditID":"${id}"`), ...ingested };
  });
}

export const aksSuite: Suite = {
  name: 'aks',
  description: 'rows/s from the Log Analytics emulator (in the same process: its KQL, JSON and TLS count too) through @azure/monitor-query-logs and normalization to /dev/null, vs JSON.parse + JSON.stringify of the same events',
  async run(ctx) {
    const count = ctx.quick ? 2000 : 20_000;
    const minMs = ctx.quick ? 400 : 4000;
    const figures: Figure[] = [];
    const dir = await mkdtemp(join(tmpdir(), 'kab-bench-aks-'));
    const devNull = openSync('/dev/null', 'w');
    try {
      for (const table of ['AKSAudit', 'AzureDiagnostics'] as const) {
        const data = rows(table, count);
        const texts = data.map((r) => goJSON(normalizeAksRow(r)));
        const ceiling = await jsonCeiling(texts, minMs);
        // The bridge's own share: normalizing the rows as the wire carries them (dynamic cells as JSON text).
        const normalize = await rate(() => data.map((r) => normalizeAksRow(r)), count, { minMs });
        figures.push(
          withBaseline(
            { key: `aks.${table.toLowerCase()}.normalize_rows_per_s`, label: `aks normalization only, ${table} rows`, value: normalize.opsPerSecond, unit: 'rows/s' },
            'JSON.parse+stringify',
            ceiling.itemsPerSecond,
          ),
        );
        const emulator = await AksEmulator.start(data, { table });
        try {
          const caFile = join(dir, `${table}-ca.pem`);
          const secretFile = join(dir, `${table}-secret`);
          await writeFile(caFile, emulator.caPem);
          await writeFile(secretFile, 'bench-secret');
          const config = aksSourceSchema.parse({
            name: 'bench',
            type: 'aks',
            workspaceId: '7d0a3e59-2c1f-4b8e-9a64-0f3c5b1d2e01',
            table,
            endpoint: emulator.endpoint,
            caFile,
            credential: { type: 'clientSecret', tenantId: 'bench', clientId: 'bench', clientSecretFile: secretFile, authorityHost: emulator.authorityHost },
            startFrom: '-2h',
            settleLag: '1s',
            pageSize: 5000,
          });
          const source = new AksSource(config, onceSourceContext());
          const drainToDevNull = async (): Promise<number> => {
            let n = 0;
            for await (const batch of source.batches(undefined, new AbortController().signal)) {
              if (batch.events.length > 0) writeSync(devNull, batch.events.map((e) => `${goJSON(e)}\n`).join(''));
              n += batch.events.length;
            }
            if (n !== count) throw new Error(`the ${table} source read ${n} events, expected ${count}`);
            return n;
          };
          const r = await rate(drainToDevNull, count, { minMs, warmup: 1 });
          ctx.log(`${table}: ${Math.round(r.opsPerSecond)} rows/s through the SDK (${r.iterations} drains of ${count}); JSON ceiling ${Math.round(ceiling.itemsPerSecond)}/s`);
          figures.push(
            withBaseline(
              { key: `aks.${table.toLowerCase()}.rows_per_s`, label: `aks source, ${table}, emulator → SDK → Events`, value: r.opsPerSecond, unit: 'rows/s' },
              'JSON.parse+stringify',
              ceiling.itemsPerSecond,
            ),
          );
        } finally {
          await emulator.close();
        }
      }
    } finally {
      closeSync(devNull);
      await rm(dir, { recursive: true, force: true });
    }
    return figures;
  },
};
