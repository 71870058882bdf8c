import type { DemoPartFactory } from '../../component/demo.js';
import { SAMPLES_DIR } from '../../component/samples.js';
import { freshGkeEntries } from '../gke/demo.js';
import { sleepUnlessAborted } from '../webhook/demo.js';

const PROJECT = 'demo-project';
const CLUSTER = 'demo-gke-pubsub';
const SUBSCRIPTION = `projects/${PROJECT}/subscriptions/kube-audit`;
const REPUBLISH_INTERVAL_MS = 10_000;

/**
 * A GKE cluster whose Log Router sink writes to Pub/Sub: the Pub/Sub emulator on 127.0.0.1 gets
 * the GKE sample entries as the sink would publish them, again every few seconds with fresh
 * insertIds and timestamps, and a gke-pubsub source streams them through the Google client.
 */
export const gkePubsubPart: DemoPartFactory = async ({ logger }) => {
  // Loaded here, not at the top: every CLI command imports the demo parts, few need gRPC.
  const { loadLogEntries, startPubsubEmulator } = await import('./emulator/index.js');
  const samples = (await loadLogEntries(`${SAMPLES_DIR}gke/entries.json`)) as Record<string, unknown>[];
  const emulator = await startPubsubEmulator({ subscription: SUBSCRIPTION, data: freshGkeEntries(samples, Date.now(), PROJECT, CLUSTER) });
  return {
    name: 'gke-pubsub',
    sources: [{ name: 'demo-gke-pubsub', type: 'gke-pubsub', subscription: SUBSCRIPTION, endpoint: emulator.endpoint, insecure: true }],
    async run(_bridgeUrl, signal) {
      for (let round = 2; !signal.aborted; round++) {
        await sleepUnlessAborted(REPUBLISH_INTERVAL_MS, signal);
        if (signal.aborted) break;
        emulator.publish(freshGkeEntries(samples, Date.now(), PROJECT, CLUSTER));
        logger.info({ part: 'gke-pubsub', round, entries: samples.length, endpoint: emulator.endpoint }, 'published sample GKE audit entries to the Pub/Sub emulator');
      }
    },
    stop: () => emulator.close(),
  };
};
