import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rulesSinkSchema } from '../../../src/sinks/rules/config.js';
import { rulesSink } from '../../../src/sinks/rules/index.js';
import { tempDir } from '../../helpers/fs.js';

describe('rules sink component', () => {
  it("says Falco's load warnings at validate and start, and refuses only for errors", async () => {
    const dir = await tempDir();
    const file = join(dir, 'falco.yaml');
    await writeFile(
      file,
      [
        '- macro: never_used',
        '  condition: ka.verb=create',
        '- rule: Namespace created',
        '  desc: a namespace was created',
        '  condition: ka.verb=create and ka.target.resource=namespaces',
        '  output: namespace %ka.target.name created by %ka.user.name',
        '  priority: NOTICE',
        '  source: k8s_audit',
      ].join('\n'),
    );
    const config = rulesSinkSchema.parse({ name: 'falco', type: 'rules', rules: [file], alerts: [{ type: 'stdout' }] });
    const checked = rulesSink.check!(config, { serverTls: false, clientCertificates: false, serverLoopback: false });
    expect(checked.problems).toEqual([]);
    expect(checked.prepared?.rules.map((r) => r.name)).toEqual(['Namespace created']);
    expect(checked.warnings).toHaveLength(1);
    expect(checked.warnings[0]).toMatch(new RegExp(`^\\.rules: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:1:\\d+: .*never_used`));
  });
});
