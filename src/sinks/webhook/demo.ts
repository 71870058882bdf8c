import { FalcoReceiver } from './emulator/falco-receiver.js';
import type { DemoPartFactory } from '../../component/demo.js';

/**
 * A Falco-like k8saudit receiver on 127.0.0.1 and a webhook sink with `preset: falco` pointing at
 * it; each batch the receiver takes is summed up in one log line (counts only, no payload).
 */
export const falcoPart: DemoPartFactory = async ({ logger }) => {
  const receiver = await FalcoReceiver.start({
    keepEvents: false,
    onBatch: (batch) =>
      logger.info(
        { part: 'falco', events: batch.accepted, dropped: batch.dropped.length, bytes: batch.bytes, total: receiver.accepted },
        'falco receiver took a batch',
      ),
  });
  logger.info({ part: 'falco', url: receiver.url }, 'falco-like receiver listening');
  return {
    name: 'falco',
    sinks: [{ name: 'falco', type: 'webhook', preset: 'falco', url: receiver.url, batchMaxWait: '500ms' }],
    stop: () => receiver.close(),
  };
};
