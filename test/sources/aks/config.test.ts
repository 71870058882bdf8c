import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { parseConfig } from '../../../src/config/load.js';

const WS = '00000000-0000-0000-0000-000000000000';

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'test.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the config to be refused');
}

describe('config: aks source', () => {
  it('fills the defaults of src/sources/aks/README.md and the query settings', () => {
    const config = parseConfig(`sources: [{ name: a, type: aks, workspaceId: ${WS} }]\nsinks: [{ name: o, type: stdout }]`, 'test.yaml', {});
    expect(config.sources[0]).toMatchObject({
      table: 'AKSAudit',
      categories: ['kube-audit'],
      pageSize: 5000,
      serverTimeout: 180_000,
      maxLateness: 3_600_000,
      requestsPer30s: 200,
      pollInterval: 60_000,
      settleLag: 300_000,
      overlap: 600_000,
      credential: { type: 'default' },
    });
  });

  it('wants an https endpoint that ends with /v1 (the SDK appends /workspaces/{id}/query to it)', () => {
    expect(problems(`sources: [{ name: a, type: aks, workspaceId: ${WS}, endpoint: "https://127.0.0.1:8443" }]\nsinks: [{ name: o, type: stdout }]`)).toEqual([
      'sources[0].endpoint: got "https://127.0.0.1:8443"; expected the query API base URL ending with /v1, such as https://api.loganalytics.io/v1 (line 1)',
    ]);
    expect(problems(`sources: [{ name: a, type: aks, workspaceId: ${WS}, endpoint: "http://127.0.0.1:8443/v1" }]\nsinks: [{ name: o, type: stdout }]`)[0]).toMatch(
      /expected a URL starting with https:\/\//,
    );
    const ok = parseConfig(`sources: [{ name: a, type: aks, workspaceId: ${WS}, endpoint: "https://127.0.0.1:8443/v1" }]\nsinks: [{ name: o, type: stdout }]`, 'test.yaml', {});
    expect(ok.sources[0]).toMatchObject({ endpoint: 'https://127.0.0.1:8443/v1' });
  });

  it('takes the client secret from a file, never inline', () => {
    const config = parseConfig(
      `sources: [{ name: a, type: aks, workspaceId: ${WS}, credential: { type: clientSecret, clientSecretFile: /run/secrets/azure } }]\nsinks: [{ name: o, type: stdout }]`,
      'test.yaml',
      {},
    );
    expect(config.sources[0]).toMatchObject({ credential: { type: 'clientSecret', clientSecretFile: '/run/secrets/azure' } });
    expect(problems(`sources: [{ name: a, type: aks, workspaceId: ${WS}, credential: { type: clientSecret, clientSecret: hunter2 } }]\nsinks: [{ name: o, type: stdout }]`)[0]).toMatch(
      /^sources\[0\]\.credential\.clientSecret: unknown key/,
    );
  });
});
