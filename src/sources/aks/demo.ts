import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AksEmulator } from './emulator/server.js';
import { kustoTime } from './kusto-time.js';
import type { DemoPartFactory } from '../../component/demo.js';
import { SAMPLES_DIR } from '../../component/samples.js';
import { sleepUnlessAborted } from '../webhook/demo.js';

const WORKSPACE = '7d0a3e59-2c1f-4b8e-9a64-0f3c5b1d2e01';
const TENANT = '00000000-0000-4000-8000-00000000a45e';
const CLIENT = 'kube-audit-bridge-demo';
const INGEST_INTERVAL_MS = 10_000;

type Row = Record<string, unknown>;

/**
 * An AKS cluster whose kube-audit log lands in a Log Analytics workspace: the emulator (HTTPS,
 * with its fake Entra token service) serves the AKSAudit sample rows, and every ten seconds
 * "ingests" them again as new requests; an `aks` source polls it with a client secret from a file.
 */
export const aksPart: DemoPartFactory = async ({ workDir, logger }) => {
  const file = JSON.parse(await readFile(`${SAMPLES_DIR}aks/aksaudit-rows.json`, 'utf8')) as { rows: Row[] };
  const samples = file.rows.filter((r) => r.Type === 'AKSAudit');
  const secret = randomUUID();
  const emulator = await AksEmulator.start(freshCopies(samples, Date.now()), { table: 'AKSAudit', workspaceId: WORKSPACE, clientSecret: secret });
  const caFile = join(workDir, 'aks-emulator-ca.pem');
  const secretFile = join(workDir, 'aks-client-secret');
  await writeFile(caFile, emulator.caPem);
  await writeFile(secretFile, secret, { mode: 0o600 });
  logger.info({ part: 'aks', endpoint: emulator.endpoint, rows: emulator.size }, 'Log Analytics emulator listening');
  return {
    name: 'aks',
    sources: [
      {
        name: 'demo-aks',
        type: 'aks',
        workspaceId: WORKSPACE,
        table: 'AKSAudit',
        endpoint: emulator.endpoint,
        caFile,
        credential: { type: 'clientSecret', tenantId: TENANT, clientId: CLIENT, clientSecretFile: secretFile, authorityHost: emulator.authorityHost },
        pollInterval: '3s',
        settleLag: '1s',
        overlap: '30s',
        startFrom: '-1m',
      },
    ],
    async run(_bridgeUrl, signal) {
      for (let round = 2; !signal.aborted; round++) {
        await sleepUnlessAborted(INGEST_INTERVAL_MS, signal);
        if (signal.aborted) break;
        emulator.append(freshCopies(samples, Date.now()));
        logger.info({ part: 'aks', round, rows: emulator.size }, 'workspace ingested another round of AKSAudit rows');
      }
    },
    stop: () => emulator.close(),
  };
};

/** The sample rows as new requests: fresh AuditIds, made a few seconds ago and ingested since, so the next poll sees them. */
function freshCopies(rows: readonly Row[], nowMs: number): Row[] {
  const ids = new Map<unknown, string>();
  return rows.map((r, i) => {
    if (!ids.has(r.AuditId)) ids.set(r.AuditId, randomUUID());
    const t = kustoTime(nowMs - 5000 + i);
    return { ...r, AuditId: ids.get(r.AuditId), RequestReceivedTime: t, StageReceivedTime: t, TimeGenerated: t, _TimeReceived: kustoTime(nowMs - 3000 + i) };
  });
}
