import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatMicroTime, type AuditEvent } from '../../event/event.js';
import { AuditWebhookClient } from './apiserver-client.js';
import type { DemoPartFactory } from '../../component/demo.js';
import { loadSampleEvents } from '../../component/samples.js';

const REPLAY_INTERVAL_MS = 5000;

/**
 * A self-managed cluster: a replayer that posts the sample audit events to the bridge's inbound
 * webhook the way a kube-apiserver does. Each replay after the first gives them fresh auditIDs
 * and timestamps, as new requests would have.
 */
export const apiserverPart: DemoPartFactory = async ({ logger, workDir }) => {
  const samples = await loadSampleEvents();
  // The webhook source is closed by default: the replayer presents a token, as a kube-apiserver would.
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(workDir, 'apiserver-token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  return {
    name: 'apiserver',
    sources: [{ name: 'demo-apiserver', type: 'webhook', cluster: 'demo-onprem', bearerTokenFile: tokenFile }],
    async run(bridgeUrl, signal) {
      const client = new AuditWebhookClient({ url: `${bridgeUrl}/audit/demo-apiserver`, initialBackoffMs: 500, bearerToken: token });
      for (let replay = 1; !signal.aborted; replay++) {
        const result = await client.post(replay === 1 ? samples : freshCopies(samples, Date.now()));
        logger.info({ part: 'apiserver', replay, delivered: result.delivered, dropped: result.dropped }, 'replayed sample audit events');
        await sleepUnlessAborted(REPLAY_INTERVAL_MS, signal);
      }
    },
  };
};

function freshCopies(events: readonly AuditEvent[], nowMs: number): AuditEvent[] {
  const ids = new Map<string, string>();
  return events.map((e, i) => {
    const t = formatMicroTime(BigInt(nowMs + i) * 1000n);
    if (!ids.has(e.auditID)) ids.set(e.auditID, randomUUID());
    return { ...e, auditID: ids.get(e.auditID)!, requestReceivedTimestamp: t, stageTimestamp: t };
  });
}

export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
