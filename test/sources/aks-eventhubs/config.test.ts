import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../../src/check-config.js';
import { ConfigError } from '../../../src/config/errors.js';
import { parseConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { tempDir } from '../../helpers/fs.js';

const SINKS = 'sinks: [{ name: o, type: stdout }]';

function parse(source: string): Config {
  return parseConfig(`sources: [${source}]\n${SINKS}`, 'test.yaml', {});
}

function problems(source: string): string[] {
  try {
    const config = parse(source);
    return checkConfig(config, { files: false }).problems;
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('config: aks-eventhubs source', () => {
  it('fills the defaults: the hub a diagnostic setting creates, $Default, latest, batches of 50 messages within 1 s', () => {
    const config = parse('{ name: a, type: aks-eventhubs, connectionStringFile: /run/secrets/eventhubs }');
    expect(config.sources[0]).toEqual({
      name: 'a',
      type: 'aks-eventhubs',
      connectionStringFile: '/run/secrets/eventhubs',
      eventHub: 'insights-logs-kube-audit',
      consumerGroup: '$Default',
      startPosition: { kind: 'latest' },
      maxBatchSize: 50,
      maxWaitTime: 1000,
      quietPeriod: 10_000,
      loadBalancing: { strategy: 'balanced', updateInterval: 5000, ownershipExpiration: 30_000 },
    });
    expect(checkConfig(config, { files: false }).problems).toEqual([]);
  });

  it('takes earliest, latest, an RFC 3339 time or a negative duration as the start position', () => {
    const start = (value: string): unknown => (parse(`{ name: a, type: aks-eventhubs, connectionStringFile: /f, startPosition: "${value}" }`).sources[0] as { startPosition: unknown }).startPosition;
    expect(start('earliest')).toEqual({ kind: 'earliest' });
    expect(start('2026-01-02T15:04:05Z')).toEqual({ kind: 'time', epochMs: Date.parse('2026-01-02T15:04:05Z') });
    expect(start('-2h')).toEqual({ kind: 'ago', ms: 7_200_000 });
    expect(problems('{ name: a, type: aks-eventhubs, connectionStringFile: /f, startPosition: now }')[0]).toMatch(/expected "earliest", "latest", an RFC 3339 time/);
  });

  it('reuses the aks source\'s credential block with fullyQualifiedNamespace', () => {
    const config = parse('{ name: a, type: aks-eventhubs, fullyQualifiedNamespace: prod-ns.servicebus.windows.net, credential: { type: workloadIdentity, clientId: c } }');
    expect(config.sources[0]).toMatchObject({ fullyQualifiedNamespace: 'prod-ns.servicebus.windows.net', credential: { type: 'workloadIdentity', clientId: 'c' } });
    expect(checkConfig(config, { files: false }).problems).toEqual([]);
    expect(problems('{ name: a, type: aks-eventhubs, fullyQualifiedNamespace: "sb://prod-ns.servicebus.windows.net/" }')[0]).toMatch(/expected an Event Hubs namespace host/);
    expect(problems('{ name: a, type: aks-eventhubs, fullyQualifiedNamespace: ns.servicebus.windows.net, credential: { type: password } }')[0]).toMatch(/^sources\[0\]\.credential\.type: got "password"/);
  });

  it('wants one way in to the hub', () => {
    expect(problems('{ name: a, type: aks-eventhubs }')).toEqual([
      'sources[0]: set connectionStringFile (a connection string of a shared access policy with Listen) or fullyQualifiedNamespace with credential (Entra ID)',
    ]);
    expect(problems('{ name: a, type: aks-eventhubs, connectionStringFile: /f, fullyQualifiedNamespace: ns.servicebus.windows.net }')).toEqual([
      'sources[0].fullyQualifiedNamespace: the connection string in connectionStringFile names the namespace; set one of the two',
    ]);
    expect(problems('{ name: a, type: aks-eventhubs, connectionStringFile: /f, credential: { type: default } }')).toEqual([
      'sources[0].credential: the connection string in connectionStringFile is the credential; set one of the two',
    ]);
  });

  it('checks the Blob checkpoint store: a container URL with a credential, or a connection string file with a container name', () => {
    const base = '{ name: a, type: aks-eventhubs, connectionStringFile: /f, checkpointStore: ';
    expect(problems(`${base}{ containerUrl: "https://acct.blob.core.windows.net/checkpoints", credential: { type: workloadIdentity } } }`)).toEqual([]);
    expect(problems(`${base}{ connectionStringFile: /g, containerName: checkpoints } }`)).toEqual([]);
    expect(problems(`${base}{} }`)).toEqual(['sources[0].checkpointStore: set containerUrl (with credential) or connectionStringFile with containerName']);
    expect(problems(`${base}{ connectionStringFile: /g } }`)).toEqual(['sources[0].checkpointStore.containerName: the container to keep checkpoints in is required with connectionStringFile']);
    expect(problems(`${base}{ containerUrl: "https://acct.blob.core.windows.net/" } }`)).toEqual([
      'sources[0].checkpointStore.containerUrl: the URL of the container, such as https://myaccount.blob.core.windows.net/eventhub-checkpoints',
    ]);
    expect(problems(`${base}{ connectionStringFile: /g, containerName: Bad_Name } }`)[0]).toMatch(/containerName: got "Bad_Name"; expected a Blob container name/);
    expect(problems(`${base}{ containerUrl: "https://a.blob.core.windows.net/c", connectionStringFile: /g } }`)).toEqual([
      'sources[0].checkpointStore.connectionStringFile: containerUrl and connectionStringFile both name the container; set one of the two',
    ]);
  });

  it('wants claims to outlive two load-balancing rounds, and warns about a relative start with a shared store', () => {
    expect(problems('{ name: a, type: aks-eventhubs, connectionStringFile: /f, loadBalancing: { updateInterval: 20s, ownershipExpiration: 30s } }')).toEqual([
      'sources[0].loadBalancing.ownershipExpiration: at least twice updateInterval (20000 ms), or claims expire between two renewals and partitions move back and forth',
    ]);
    const config = parse('{ name: a, type: aks-eventhubs, connectionStringFile: /f, startPosition: -1h, checkpointStore: { connectionStringFile: /g, containerName: ckp } }');
    expect(checkConfig(config, { files: false }).warnings[0]).toMatch(/^sources\[0\]\.startPosition: with a checkpoint store a relative start/);
  });

  it('refuses a missing or empty connection string file at validate, naming the key and never the content', async () => {
    const dir = await tempDir();
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    const config = parse(`{ name: a, type: aks-eventhubs, connectionStringFile: ${join(dir, 'missing')}, checkpointStore: { connectionStringFile: ${empty}, containerName: ckp } }`);
    expect(checkConfig(config).problems).toEqual([
      `sources[0].connectionStringFile: the file ${join(dir, 'missing')} does not exist; mount it or fix the path`,
      `sources[0].checkpointStore.connectionStringFile: the file ${empty} is empty`,
    ]);
  });
});
