import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../../src/check-config.js';
import { ConfigError } from '../../../src/config/errors.js';
import { parseConfig } from '../../../src/config/load.js';
import { gkePubsubSourceSchema, maxOutstandingMessages, parseSubscription } from '../../../src/sources/gke-pubsub/config.js';
import { gkePubsubSource } from '../../../src/sources/gke-pubsub/index.js';

const base = { name: 'ps', type: 'gke-pubsub', subscription: 'projects/my-project/subscriptions/kube-audit' } as const;

/** The problems `validate` would print for a config with this one source. */
function problems(source: Record<string, unknown>): string[] {
  const yaml = JSON.stringify({ sources: [source], sinks: [{ name: 'out', type: 'stdout' }] });
  try {
    const config = parseConfig(yaml, 'config.yaml', {});
    return checkConfig(config).problems;
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('gke-pubsub source config', () => {
  it('has the documented defaults; flow control follows the batches the pipeline can hold', () => {
    const config = gkePubsubSourceSchema.parse(base);
    expect(config).toMatchObject({
      insecure: false,
      keepTypeKey: false,
      maxBatchMessages: 500,
      maxBatchWait: 100,
      maxOutstandingBytes: 32 * 1024 * 1024,
      streams: 1,
      minAckDeadline: 10_000,
      maxAckDeadline: 600_000,
      maxLeaseExtension: 3_600_000,
      quietPeriod: 10_000,
    });
    expect(maxOutstandingMessages(config)).toBe(2500); // (4 + 1) × 500
    expect(maxOutstandingMessages(gkePubsubSourceSchema.parse({ ...base, maxInFlightBatches: 2, maxBatchMessages: 100 }))).toBe(300);
    expect(maxOutstandingMessages(gkePubsubSourceSchema.parse({ ...base, maxOutstandingMessages: 42 }))).toBe(42);
  });

  it('takes only a full subscription name', () => {
    expect(parseSubscription('projects/my-project/subscriptions/kube-audit')).toEqual({ project: 'my-project', id: 'kube-audit' });
    expect(parseSubscription('projects/example.com:proj/subscriptions/k8s.audit~1')).toEqual({ project: 'example.com:proj', id: 'k8s.audit~1' });
    for (const bad of ['kube-audit', 'projects/p/topics/t', 'projects/p/subscriptions/', 'projects/p/subscriptions/ab', 'projects/p/subscriptions/a/b', 'projects//subscriptions/kube-audit']) {
      expect(parseSubscription(bad), bad).toBeUndefined();
    }
    expect(problems({ ...base, subscription: 'kube-audit' })).toEqual([
      expect.stringMatching(/^sources\[0\]\.subscription: .*a subscription name such as projects\/my-project\/subscriptions\/kube-audit/),
    ]);
    expect(problems({ name: 'ps', type: 'gke-pubsub' })).toEqual([expect.stringMatching(/^sources\[0\]\.subscription: /)]);
  });

  it('checks what the schema cannot: an emulator endpoint for insecure, deadlines the service takes', () => {
    expect(problems(base)).toEqual([]);
    expect(problems({ ...base, endpoint: '127.0.0.1:8085', insecure: true, minAckDeadline: '1s', maxAckDeadline: '1s' })).toEqual([]);
    expect(problems({ ...base, insecure: true })).toEqual([expect.stringMatching(/^sources\[0\]\.insecure: .*set endpoint/)]);
    expect(problems({ ...base, minAckDeadline: '5s' })).toEqual([expect.stringMatching(/^sources\[0\]\.minAckDeadline: Pub\/Sub takes ack deadlines of 10s to 10m/)]);
    expect(problems({ ...base, minAckDeadline: '30s', maxAckDeadline: '20s' })).toEqual([expect.stringMatching(/^sources\[0\]\.maxAckDeadline: at least minAckDeadline/)]);
    expect(problems({ ...base, endpoint: 'https://pubsub.googleapis.com/' })).toEqual([expect.stringMatching(/^sources\[0\]\.endpoint: .*host:port/)]);
    expect(problems({ ...base, maxBatchMessages: 20_000 })).toEqual([expect.stringMatching(/^sources\[0\]\.maxBatchMessages: /)]);
    expect(problems({ ...base, regoin: 'x' })).toEqual([expect.stringMatching(/^sources\[0\]\.regoin: unknown key/)]);

    const warned = gkePubsubSource.check!(gkePubsubSourceSchema.parse({ ...base, endpoint: '127.0.0.1:1', insecure: true, keyFile: 'k.json', maxOutstandingMessages: 10 }), { serverTls: false, clientCertificates: false, serverLoopback: false });
    expect(warned.problems).toEqual([]);
    expect(warned.warnings).toEqual([expect.stringMatching(/^\.keyFile: not used/), expect.stringMatching(/^\.maxOutstandingMessages: below maxBatchMessages/)]);
  });
});
