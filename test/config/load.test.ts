import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';

const MINIMAL = `
sources:
  - name: onprem
    type: webhook
sinks:
  - name: out
    type: stdout
`;

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the config to be refused');
}

describe('config: valid files', () => {
  it('fills every default from a minimal file', () => {
    const config = parseConfig(MINIMAL, 'test.yaml', {});
    expect(config.pipeline).toEqual({ maxInFlightBatches: 4, shutdownTimeout: 30_000, stallThreshold: 300_000, workers: 'auto' });
    expect(config.process.dedupe.maxKeys).toBe(500_000);
    expect(config.process.scrubSecrets).toBe(true);
    expect(config.server).toEqual({ host: '0.0.0.0', port: 8080, maxConnections: 256, statusPage: true });
    expect(config.sources[0]).toMatchObject({ type: 'webhook', ackTimeout: 20_000, maxBodyBytes: 8 * 1024 * 1024, maxEventsPerRequest: 10_000, allowUnauthenticated: false });
  });

  it('applies the per-provider polling defaults of the design', () => {
    const config = parseConfig(
      `
sources:
  - { name: g, type: gke, projectId: p }
  - { name: e, type: eks, region: us-east-1, cluster: c }
  - { name: a, type: aks, workspaceId: 00000000-0000-0000-0000-000000000000 }
sinks: [{ name: out, type: stdout }]
`,
      'test.yaml',
      {},
    );
    const timing = config.sources.map((s) => 'settleLag' in s && [s.pollInterval, s.settleLag, s.overlap]);
    expect(timing).toEqual([
      [10_000, 30_000, 120_000],
      [10_000, 60_000, 300_000],
      [60_000, 300_000, 600_000],
    ]);
    expect(config.sources[0]).toMatchObject({ startFrom: { kind: 'now' }, logs: ['activity'], pageSize: 1000 });
  });

  it('parses startFrom as now, an RFC 3339 time or a negative duration', () => {
    const config = parseConfig(
      `
sources:
  - { name: a, type: gke, projectId: p, startFrom: -24h }
  - { name: b, type: gke, projectId: p, startFrom: "2026-01-02T03:04:05Z" }
sinks: [{ name: out, type: stdout }]
`,
      'test.yaml',
      {},
    );
    expect(config.sources.map((s) => 'startFrom' in s && s.startFrom)).toEqual([
      { kind: 'ago', ms: 86_400_000 },
      { kind: 'time', epochMs: Date.UTC(2026, 0, 2, 3, 4, 5) },
    ]);
  });

  it('types a whole reference by what the schema expects at its key, never by how YAML reads the text', () => {
    const config = parseConfig(
      `
sources:
  - { name: s, type: eks, region: eu-west-1, cluster: c, accountId: "\${ACCOUNT}" }
  - { name: w, type: webhook, allowUnauthenticated: "\${OPEN:-false}", maxEventsPerRequest: "\${MAX}" }
sinks:
  - name: out
    type: webhook
    url: http://127.0.0.1:9/
    basicAuth: { username: "\${USER_NAME}", password: "\${SINK_PASSWORD}" }
    headers: { x-api-key: "\${KEY}" }
`,
      'test.yaml',
      { ACCOUNT: '012345678912', SINK_PASSWORD: '123456', USER_NAME: 'true', KEY: '1e3', MAX: '400' },
    );
    expect(config.sources[0]).toMatchObject({ accountId: '012345678912' });
    expect(config.sources[1]).toMatchObject({ allowUnauthenticated: false, maxEventsPerRequest: 400 });
    expect(config.sinks[0]).toMatchObject({ basicAuth: { username: 'true', password: '123456' }, headers: { 'x-api-key': '1e3' } });
  });

  it('substitutes ${VAR} and ${VAR:-default}, typing whole references by the schema', () => {
    const config = parseConfig(
      `
sources: [{ name: s, type: webhook, cluster: "\${CLUSTER}-x" }]
sinks: [{ name: out, type: file, path: "\${DIR:-/tmp}/audit.jsonl" }]
server:
  port: \${PORT:-8080}
`,
      'test.yaml',
      { CLUSTER: 'prod', PORT: '9090' },
    );
    expect(config.sources[0]).toMatchObject({ cluster: 'prod-x' });
    expect(config.sinks[0]).toMatchObject({ path: '/tmp/audit.jsonl' });
    expect(config.server.port).toBe(9090);
  });

  it('never prints the value of a secret-bearing key in a problem', () => {
    const lines = problems(
      `sources: [{ name: a, type: webhook }]
sinks:
  - { name: s, type: webhook, url: http://127.0.0.1:9/, basicAuth: { username: u, password: "\${PW}" }, headers: { authorization: 7, x-api-key: "\${PW}x" } }`,
      { PW: 'hunter2hunter2' },
    );
    const text = lines.join('\n');
    expect(text).not.toContain('hunter2');
    expect(lines.some((l) => l.startsWith('sinks[0].headers.authorization: got a number (not shown); expected a string'))).toBe(true);
  });

  it('refuses a YAML alias bomb and an over-deep document with a clear problem', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [i, name] of ['b', 'c', 'd', 'e', 'f', 'g'].entries()) {
      const prev = String.fromCharCode('a'.charCodeAt(0) + i);
      bomb.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    expect(problems(bomb.join('\n'))).toEqual(['YAML: aliases expand to too much data; write the values out instead of nesting aliases']);
    const deep = problems(`sources: ${'['.repeat(5000)}${']'.repeat(5000)}`);
    expect(deep[0]).toMatch(/^line 1, column \d+: the document nests too deeply to be a configuration$/);
  });

  it('keeps $${ as a literal ${', () => {
    const yaml = MINIMAL.replace('type: webhook', () => 'type: webhook\n    cluster: "$${NOT_A_VAR}"');
    const config = parseConfig(yaml, 'test.yaml', {});
    expect(config.sources[0]).toMatchObject({ cluster: '${NOT_A_VAR}' });
  });

  it('accepts config/example.yaml as shipped', () => {
    const config = parseConfig(readFileSync('config/example.yaml', 'utf8'), 'config/example.yaml', {});
    expect(config.sources.map((s) => s.type)).toEqual(['gke', 'gke-pubsub', 'eks', 'aks', 'aks-eventhubs', 'webhook']);
    expect(config.sinks.map((s) => s.type)).toEqual(['webhook', 'file', 'rules']);
  });
});

describe('config: every error names the key, the value and what is expected', () => {
  const cases: [string, string, string[]][] = [
    [
      'an unknown source type',
      `sources: [{ name: a, type: gce }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].type: got "gce"; expected one of "gke", "gke-pubsub", "eks", "aks", "aks-eventhubs", "webhook", "file" (line 1)'],
    ],
    [
      'a misspelt key',
      `sources: [{ name: a, type: eks, regoin: us-east-1, region: r, cluster: c }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].regoin: unknown key; did you mean "region"? (line 1)'],
    ],
    [
      'a missing required field',
      `sources: [{ name: a, type: gke }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].projectId: got nothing; expected the Google Cloud project id that holds the cluster logs (line 1)'],
    ],
    [
      'a duration without a unit',
      `sources: [{ name: a, type: gke, projectId: p, pollInterval: 10 }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].pollInterval: got 10; expected a duration such as 500ms, 10s, 1m30s or 2h (line 1)'],
    ],
    [
      'a bad startFrom',
      `sources: [{ name: a, type: gke, projectId: p, startFrom: yesterday }]\nsinks: [{ name: o, type: stdout }]`,
      [
        'sources[0].startFrom: got "yesterday"; expected "now", an RFC 3339 time such as 2026-01-02T15:04:05Z, or a negative duration such as -24h (line 1)',
      ],
    ],
    [
      'no sinks',
      `sources: [{ name: a, type: webhook }]\nsinks: []`,
      ['sinks: got an empty list; expected a list with at least one sink (line 2)'],
    ],
    [
      'a port out of range',
      `${MINIMAL}server: { port: 70000 }`,
      ['server.port: got 70000; expected a TCP port from 0 to 65535 (line 8)'],
    ],
    [
      'a name used twice',
      `sources: [{ name: a, type: webhook }, { name: a, type: webhook }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[1].name: got "a"; expected a name not used by another entry (sources[0] has it) (line 1)'],
    ],
    [
      'a name that cannot appear in a URL',
      `sources: [{ name: "Prod GKE", type: webhook }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].name: got "Prod GKE"; expected a name of lower-case letters, digits, ".", "_" or "-" (at most 63), such as prod-gke (line 1)'],
    ],
    [
      'an unset environment variable',
      `sources: [{ name: a, type: webhook }]\nsinks: [{ name: s, type: webhook, url: "\${SLACK_URL}" }]`,
      [
        'sinks[0].url: environment variable SLACK_URL is not set; set it, or give a default with ${SLACK_URL:-value} (line 2)',
        'sinks[0].url: got "${SLACK_URL}"; expected a URL starting with http:// or https:// (line 2)',
      ],
    ],
    [
      'a wrong enum value',
      `sources: [{ name: a, type: aks, workspaceId: 00000000-0000-0000-0000-000000000000, table: AKSAuditLogs }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].table: got "AKSAuditLogs"; expected one of "AKSAudit", "AKSAuditAdmin", "AzureDiagnostics" (line 1)'],
    ],
    [
      'a size that is not one',
      `sources: [{ name: a, type: webhook, maxBodyBytes: lots }]\nsinks: [{ name: o, type: stdout }]`,
      ['sources[0].maxBodyBytes: got "lots"; expected a size in bytes, or with a unit such as 256KiB or 10MiB, at least 1024 bytes (line 1)'],
    ],
    [
      'a client certificate without its key',
      `sources: [{ name: a, type: webhook }]\nsinks: [{ name: w, type: webhook, url: "https://falco:9765/k8s-audit", certFile: /c.pem }]`,
      ['sinks[0].keyFile: got nothing; expected certFile and keyFile together (a client certificate needs its key) (line 2)'],
    ],
    [
      'a list where a mapping belongs',
      `sources: [{ name: a, type: webhook }]\nsinks: [{ name: o, type: stdout }]\npipeline: [1]`,
      ['pipeline: got a list of 1; expected a mapping (line 3)'],
    ],
    [
      'YAML that does not parse',
      `sources: [{ name: a, type: webhook }\nsinks: []`,
      ['line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ],
  ];

  it.each(cases)('%s', (_what, yaml, expected) => {
    expect(problems(yaml)).toEqual(expected);
  });

  it('reports all problems of a file at once', () => {
    const found = problems(`
sources:
  - { name: a, type: gce }
  - { name: b, type: eks, cluster: c, pollInterval: 10 seconds }
sinks: []
server: { port: -1 }
surprise: true
`);
    expect(found).toHaveLength(6);
    expect(found.map((p) => p.split(':')[0])).toEqual([
      'sources[0].type',
      'sources[1].region',
      'sources[1].pollInterval',
      'sinks',
      'server.port',
      'surprise',
    ]);
  });
});
