import { randomUUID } from 'node:crypto';
import { formatTimeNs } from './time.js';
import type { DemoPartFactory } from '../../component/demo.js';
import { SAMPLES_DIR } from '../../component/samples.js';
import { sleepUnlessAborted } from '../webhook/demo.js';

const PROJECT = 'demo-project';
const CLUSTER = 'demo-gke';
const REPLAY_INTERVAL_MS = 10_000;

/**
 * A GKE cluster: the Cloud Logging emulator on 127.0.0.1 serving the real GKE sample entries,
 * replayed every few seconds with fresh insertIds and timestamps (and an ingestion lag of a
 * second), and a gke source polling it through the SDK.
 */
export const gkePart: DemoPartFactory = async ({ logger }) => {
  // Loaded here, not at the top: every CLI command imports the demo parts, few need gRPC.
  const { GkeEmulator, loadGkeEntries } = await import('./emulator/index.js');
  const samples = (await loadGkeEntries(`${SAMPLES_DIR}gke/entries.json`)) as Record<string, unknown>[];
  const emulator = await GkeEmulator.start(freshGkeEntries(samples, Date.now() - 20_000, PROJECT, CLUSTER));
  return {
    name: 'gke',
    sources: [
      {
        name: 'demo-gke',
        type: 'gke',
        projectId: PROJECT,
        endpoint: emulator.endpoint,
        insecure: true,
        pollInterval: '2s',
        settleLag: '3s',
        overlap: '30s',
        startFrom: '-2m',
      },
    ],
    async run(_bridgeUrl, signal) {
      for (let replay = 2; !signal.aborted; replay++) {
        await sleepUnlessAborted(REPLAY_INTERVAL_MS, signal);
        if (signal.aborted) break;
        emulator.add(freshGkeEntries(samples, Date.now(), PROJECT, CLUSTER));
        logger.info({ part: 'gke', replay, entries: samples.length, endpoint: emulator.endpoint }, 'added sample GKE audit entries to the Cloud Logging emulator');
      }
    },
    stop: () => emulator.stop(),
  };
};

/** The sample entries as new requests at `startMs` of `cluster` in `project`: new insertIds, one millisecond apart. */
export function freshGkeEntries(samples: readonly Record<string, unknown>[], startMs: number, project: string, cluster: string): Record<string, unknown>[] {
  return samples.map((entry, i) => {
    const id = randomUUID();
    const ns = BigInt(startMs + i) * 1_000_000n + 123_000n;
    const resource = entry.resource as { type: string; labels: Record<string, string> };
    return {
      ...entry,
      insertId: id,
      operation: { ...(entry.operation as object), id },
      logName: `projects/${project}/logs/cloudaudit.googleapis.com%2Factivity`,
      resource: { type: resource.type, labels: { ...resource.labels, cluster_name: cluster, project_id: project } },
      timestamp: formatTimeNs(ns),
      receiveTimestamp: formatTimeNs(ns + 1_000_000_000n),
    };
  });
}
