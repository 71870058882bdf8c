import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DemoPartFactory } from '../../component/demo.js';
import { SAMPLES_DIR } from '../../component/samples.js';
import { sleepUnlessAborted } from '../webhook/demo.js';
import { loadRecords, startEventHubsEmulator, type DiagnosticRecord } from './emulator/index.js';

const HUB = 'insights-logs-kube-audit';
const ROUND_INTERVAL_MS = 10_000;

/**
 * An AKS cluster whose diagnostic setting streams kube-audit to an Event Hub: the emulator (AMQP on
 * 127.0.0.1) holds the AKS sample records in two partitions and receives them again every ten
 * seconds as new requests; an `aks-eventhubs` source reads it with a connection string from a file.
 */
export const aksEventHubsPart: DemoPartFactory = async ({ workDir, logger }) => {
  const samples = await loadRecords(`${SAMPLES_DIR}aks/azurediagnostics-rows.json`);
  // Records whose Event parses are replayed with fresh ids; the one Log Analytics cut (not JSON)
  // is served once, to show a reject in the dead-letter file.
  const replayable = samples.filter((r) => eventOf(r) !== undefined);
  const emulator = await startEventHubsEmulator({ hub: HUB, partitions: 2, data: samples, recordsPerMessage: 5 });
  const connectionStringFile = join(workDir, 'eventhubs-connection-string');
  await writeFile(connectionStringFile, emulator.connectionString, { mode: 0o600 });
  logger.info({ part: 'aks-eventhubs', endpoint: emulator.endpoint, records: samples.length }, 'Event Hubs emulator listening');
  return {
    name: 'aks-eventhubs',
    sources: [
      {
        name: 'demo-aks-eventhubs',
        type: 'aks-eventhubs',
        eventHub: HUB,
        connectionStringFile,
        startPosition: 'earliest',
        maxWaitTime: '500ms',
      },
    ],
    async run(_bridgeUrl, signal) {
      for (let round = 2; !signal.aborted; round++) {
        await sleepUnlessAborted(ROUND_INTERVAL_MS, signal);
        if (signal.aborted) break;
        emulator.append(freshCopies(replayable, Date.now()));
        logger.info({ part: 'aks-eventhubs', round, records: replayable.length }, 'the diagnostic setting sent another round of kube-audit records');
      }
    },
    stop: () => emulator.close(),
  };
};

function eventOf(record: DiagnosticRecord): Record<string, unknown> | undefined {
  const log = (record.properties as { log?: unknown } | undefined)?.log;
  if (typeof log !== 'string') return undefined;
  try {
    const event: unknown = JSON.parse(log.replace(/^\uFEFF/, ''));
    return typeof event === 'object' && event !== null ? (event as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The records as new requests: fresh auditIDs (shared by the stages of one request) and timestamps of now. */
function freshCopies(records: readonly DiagnosticRecord[], nowMs: number): DiagnosticRecord[] {
  const ids = new Map<unknown, string>();
  return records.map((record, i) => {
    const event = eventOf(record)!;
    if (!ids.has(event.auditID)) ids.set(event.auditID, randomUUID());
    const at = new Date(nowMs - 2000 + i).toISOString().replace('Z', '000Z');
    const fresh = { ...event, auditID: ids.get(event.auditID), requestReceivedTimestamp: at, stageTimestamp: at };
    return { ...record, properties: { ...(record.properties as object), log: JSON.stringify(fresh) }, time: new Date(nowMs).toISOString() };
  });
}
