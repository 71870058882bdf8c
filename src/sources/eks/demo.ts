import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EksEmulator, type EmulatorRecord } from './emulator/server.js';
import { goJSON } from '../../event/encode.js';
import { formatMicroTime, isPlainObject } from '../../event/event.js';
import type { DemoPartFactory } from '../../component/demo.js';
import { SAMPLES_DIR } from '../../component/samples.js';
import { sleepUnlessAborted } from '../webhook/demo.js';

const CLUSTER = 'demo-eks';
const REPLAY_INTERVAL_MS = 5000;

interface SampleRecord {
  logStreamName: string;
  timestamp: number;
  message: string;
  ingestionTime: number;
}

/**
 * An EKS cluster: the CloudWatch Logs emulator serving the EKS samples, moved to the last two
 * minutes, with a source polling it through the real AWS SDK. Every five seconds the samples are
 * ingested again as new requests; one in ten arrives a few seconds late, and the emulator throttles
 * now and then and answers some empty pages, so the demo shows the source riding through both.
 */
export const eksPart: DemoPartFactory = async ({ logger }) => {
  const samples = (JSON.parse(await readFile(`${SAMPLES_DIR}eks/filterlogevents-records.json`, 'utf8')) as { events: SampleRecord[] }).events;
  const emulator = await EksEmulator.start({ logGroup: `/aws/eks/${CLUSTER}/cluster`, faults: 'page-size=10,empty-every=4,throttle-every=9' });
  emulator.add(rebase(samples, Date.now() - 120_000, 1000, false));
  logger.info({ part: 'eks', endpoint: emulator.url, records: emulator.stored.length }, 'CloudWatch Logs emulator listening');
  // The demo talks only to the emulator: fixed keys, so the SDK's default chain never looks for
  // real credentials (profiles, instance metadata) and nothing leaves 127.0.0.1.
  process.env.AWS_ACCESS_KEY_ID = 'AKIDDEMOEMULATOR';
  process.env.AWS_SECRET_ACCESS_KEY = 'demo-secret';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  return {
    name: 'eks',
    sources: [
      {
        name: 'demo-eks',
        type: 'eks',
        region: 'us-east-1',
        cluster: CLUSTER,
        accountId: '123456789012',
        endpoint: emulator.url,
        pollInterval: '1s',
        settleLag: '2s',
        overlap: '30s',
        startFrom: '-10m',
      },
    ],
    async run(_bridgeUrl, signal) {
      for (let replay = 2; !signal.aborted; replay++) {
        await sleepUnlessAborted(REPLAY_INTERVAL_MS, signal);
        if (signal.aborted) break;
        emulator.add(rebase(samples, Date.now() - 1000, 10, true));
        logger.info({ part: 'eks', replay, records: samples.length }, 'ingested the EKS samples again');
      }
    },
    stop: () => emulator.close(),
  };
};

/**
 * The samples as new requests at `startMs` + i·`stepMs`: fresh auditIDs (kept shared between the
 * stages of one request) and timestamps; with `late`, every tenth is ingested 4 s after its time.
 */
function rebase(samples: readonly SampleRecord[], startMs: number, stepMs: number, late: boolean): EmulatorRecord[] {
  const ids = new Map<string, string>();
  return samples.map((r, i) => {
    const timestamp = startMs + i * stepMs;
    const lag = late && i % 10 === 0 ? 4000 : Math.min(2000, r.ingestionTime - r.timestamp);
    let message = r.message;
    try {
      const event = JSON.parse(r.message) as unknown;
      if (isPlainObject(event) && typeof event.auditID === 'string') {
        if (!ids.has(event.auditID)) ids.set(event.auditID, randomUUID());
        const t = formatMicroTime(BigInt(timestamp) * 1000n);
        message = goJSON({ ...event, auditID: ids.get(event.auditID), requestReceivedTimestamp: t, stageTimestamp: t });
      }
    } catch {
      // the truncated sample stays as it is: the source rejects it into the dead-letter file
    }
    return { logStreamName: r.logStreamName, timestamp, message, ingestionTime: timestamp + lag };
  });
}
