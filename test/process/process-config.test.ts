import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';

function problems(processYaml: string): string[] {
  try {
    parseConfig(`sources: [{ name: w, type: webhook }]\nprocess:\n${processYaml}sinks: [{ name: o, type: stdout }]\n`, 'c.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('the process section of the config', () => {
  it('defaults to scrubbing on, no policy, no filters', () => {
    const config = parseConfig('sources: [{ name: w, type: webhook }]\nsinks: [{ name: o, type: stdout }]\n', 'c.yaml', {});
    expect(config.process).toMatchObject({ scrubSecrets: true, scrubPaths: [], drop: [], keep: [] });
    expect(config.process.policy).toBeUndefined();
  });

  it('takes scrub paths as a path or a mapping, and names what is wrong in either', () => {
    expect(problems('  scrubPaths: [user.extra, { path: [a.b, c], keys: pass, when: \'jpath("verb") = "get"\' }]\n')).toEqual([]);
    expect(problems('  scrubPaths:\n    - path: requestObject.data\n      key: password\n    - 5\n')).toEqual([
      'process.scrubPaths[0].key: unknown key; did you mean "keys"? (line 5)',
      'process.scrubPaths[1]: got 5; expected a jpath path, or a mapping {path, keys, when} (line 6)',
    ]);
  });
});
