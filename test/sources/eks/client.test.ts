import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { afterEach, describe, expect, it } from 'vitest';
import { createFilterLogEvents, SDK_LOGGER_MIDDLEWARE } from '../../../src/sources/eks/client.js';
import { EksEmulator } from '../../../src/sources/eks/emulator/server.js';
import { systemClock } from '../../../src/util/clock.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { eksConfig, records, STATIC_CREDENTIALS } from './helpers.js';

const GROUP = '/aws/eks/demo-eks/cluster';
const emulators: EksEmulator[] = [];

afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()));
});

describe('the EKS FilterLogEvents client', () => {
  it('has no SDK logger middleware (it copied every page for a line nobody logs) and still reads pages through the SDK', async () => {
    const now = Date.now();
    const emulator = await EksEmulator.start({ logGroup: GROUP, records: records(5, (i) => now - 10_000 + i) });
    emulators.push(emulator);
    const { client, filterLogEvents } = await createFilterLogEvents(eksConfig(emulator.url), new TokenBucket(10, 100, systemClock), STATIC_CREDENTIALS);
    try {
      // A client as the SDK makes it has the middleware under that name ("<name> - <step>"): were it
      // renamed, removing it by name would do nothing, and this fails rather than the copy coming back.
      const plain = new CloudWatchLogsClient({ region: 'us-east-1', endpoint: emulator.url, credentials: STATIC_CREDENTIALS });
      expect(plain.middlewareStack.identify().filter((n) => n.startsWith(SDK_LOGGER_MIDDLEWARE))).toHaveLength(1);
      plain.destroy();
      expect(client.middlewareStack.identify().filter((n) => n.startsWith(SDK_LOGGER_MIDDLEWARE))).toEqual([]);

      const page = await filterLogEvents({ logGroupName: GROUP, startTime: now - 60_000, endTime: now }, new AbortController().signal);
      expect(page.events?.map((e) => (JSON.parse(e.message!) as { auditID: string }).auditID)).toEqual(['eks-t-0', 'eks-t-1', 'eks-t-2', 'eks-t-3', 'eks-t-4']);
    } finally {
      client.destroy();
    }
  });
});
