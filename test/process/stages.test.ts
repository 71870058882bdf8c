// dedupe → policy → filters → scrub → sinks, through a bridge built from a config file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge.js';
import { parseConfig } from '../../src/config/load.js';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import type { AuditEvent } from '../../src/event/event.js';
import { REDACTED, SCRUBBED_ANNOTATION } from '../../src/process/scrub.js';
import { processProblems } from '../../src/process/stages.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { makeEvent, readJsonLines } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';

const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
    resources: [{group: "", resources: [configmaps]}]
  - level: RequestResponse
`;

function lease(n: number): AuditEvent {
  return makeEvent(n, {
    verb: 'update',
    requestURI: `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-${n}`,
    objectRef: { resource: 'leases', namespace: 'kube-node-lease', name: `node-${n}`, apiGroup: 'coordination.k8s.io', apiVersion: 'v1' },
  });
}

function secretCreate(n: number): AuditEvent {
  const secret = { kind: 'Secret', apiVersion: 'v1', metadata: { name: `s-${n}`, namespace: 'default' }, data: { password: 'aHVudGVyMg==' } };
  return makeEvent(n, {
    level: 'RequestResponse',
    verb: 'create',
    requestURI: '/api/v1/namespaces/default/secrets',
    objectRef: { resource: 'secrets', namespace: 'default', name: `s-${n}`, apiVersion: 'v1' },
    requestObject: secret,
    responseObject: secret,
  });
}

describe('processing stages in the pipeline', () => {
  it('drops by policy and by filter, strips bodies, scrubs per sink, and counts each', async () => {
    const dir = await tempDir();
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    const config = parseConfig(
      `
sources:
  - name: onprem
    type: webhook
    allowUnauthenticated: true
process:
  policy: ${policyFile}
  drop:
    - jpath("user.username") startswith "system:node:"
  scrubPaths:
    - path: requestObject.metadata.annotations
      keys: token
sinks:
  - name: scrubbed
    type: file
    path: ${join(dir, 'scrubbed.jsonl')}
  - name: raw
    type: file
    path: ${join(dir, 'raw.jsonl')}
    scrubSecrets: false
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
      'test.yaml',
      {},
    );
    expect(processProblems(config)).toEqual([]);
    const bridge = await Bridge.create(config, { logger: silentLogger() });
    const { port } = await bridge.start();
    const base = `http://127.0.0.1:${port}`;

    const configMap = makeEvent(10, { level: 'RequestResponse', requestObject: { kind: 'ConfigMap', data: { a: 'b' } }, responseObject: { kind: 'ConfigMap', data: { a: 'b' } } });
    const node = makeEvent(11, { user: { username: 'system:node:n1', groups: ['system:nodes'] } });
    const received = makeEvent(12, { stage: 'RequestReceived' });
    const secret = secretCreate(13);
    const annotated = makeEvent(14, {
      level: 'Request',
      verb: 'create',
      objectRef: { resource: 'widgets', apiGroup: 'example.com', apiVersion: 'v1' },
      requestObject: { metadata: { annotations: { 'example.com/token': 't0k', note: 'n' } } },
    });
    const events = [lease(1), lease(2), configMap, node, received, secret, annotated];
    // The same batch twice: dedupe drops the repeats before the policy sees them.
    const result = await new AuditWebhookClient({ url: `${base}/audit/onprem` }).post([...events, ...events]);
    expect(result).toMatchObject({ delivered: 14, statuses: [200] });

    const scrubbed = readJsonLines(join(dir, 'scrubbed.jsonl')) as AuditEvent[];
    const raw = readJsonLines(join(dir, 'raw.jsonl')) as AuditEvent[];
    expect(scrubbed.map((e) => e.auditID)).toEqual([configMap, secret, annotated].map((e) => e.auditID));
    expect(raw.map((e) => e.auditID)).toEqual(scrubbed.map((e) => e.auditID));

    // Policy: the ConfigMap rule is Metadata, so its bodies are gone.
    expect(scrubbed[0]!.level).toBe('Metadata');
    expect(scrubbed[0]).not.toHaveProperty('requestObject');
    // Scrub on the default sink only.
    expect((scrubbed[1]!.requestObject as { data: unknown }).data).toEqual({ password: REDACTED });
    expect(scrubbed[1]!.annotations?.[SCRUBBED_ANNOTATION]).toBe('requestObject,responseObject');
    expect(JSON.stringify(scrubbed)).not.toContain('aHVudGVyMg==');
    expect((raw[1]!.requestObject as { data: unknown }).data).toEqual({ password: 'aHVudGVyMg==' });
    expect(raw[1]!.annotations?.[SCRUBBED_ANNOTATION]).toBeUndefined();
    expect((scrubbed[2]!.requestObject as { metadata: unknown }).metadata).toEqual({ annotations: { 'example.com/token': REDACTED, note: 'n' } });

    const metrics = await (await request(`${base}/metrics`)).body.text();
    expect(metrics).toContain('kube_audit_bridge_events_deduplicated_total{source="onprem"} 7');
    expect(metrics).toContain('kube_audit_bridge_events_dropped_total{source="onprem",stage="policy"} 3');
    expect(metrics).toContain('kube_audit_bridge_events_dropped_total{source="onprem",stage="filter"} 1');
    expect(metrics).toContain('kube_audit_bridge_events_scrubbed_total{sink="scrubbed"} 2');
    expect(metrics).not.toContain('kube_audit_bridge_events_scrubbed_total{sink="raw"}');
    expect(metrics).toContain('kube_audit_bridge_events_delivered_total{sink="scrubbed"} 3');
    await bridge.stop();
  });

  it('reports the policy file, filter and scrub path problems, all of them', async () => {
    const dir = await tempDir();
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Loud\n  - verbs: [get]\n');
    const config = parseConfig(
      `
sources: [{ name: onprem, type: webhook }]
process:
  policy: ${policyFile}
  drop: ['jpath("verb") = ']
  keep: ['jpath("verb") = "get"', 'jpath(verb) = "x"']
  scrubPaths: [{ path: requestObject.data, keys: "[" }]
sinks: [{ name: out, type: stdout }]
`,
      'test.yaml',
      {},
    );
    const problems = processProblems(config);
    expect(problems).toEqual([
      `process.policy: ${policyFile}: rules[0].level: got "Loud"; expected one of None, Metadata, Request, RequestResponse (line 4)`,
      `process.policy: ${policyFile}: rules[1].level: got nothing; expected a level: None, Metadata, Request or RequestResponse (required) (line 5)`,
      expect.stringMatching(/^process\.drop\[0\]: line 1, column \d+: expected /),
      expect.stringMatching(/^process\.keep\[1\]: line 1, column \d+: expected /),
      expect.stringMatching(/^process\.scrubPaths\[0\]\.keys: got "\["; expected a regular expression/),
    ]);
    await expect(Bridge.create(config, { logger: silentLogger() })).rejects.toThrow(/rules\[0\]\.level/);
  });
});
