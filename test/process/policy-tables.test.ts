// The kube-apiserver's own policy test tables (test/fixtures/k8s-policy), run against policy.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyPolicy, compilePolicy, evaluatePolicy, validatePolicy, type RequestAttributes } from '../../src/process/policy.js';
import { FIXTURES, makeEvent } from '../helpers/events.js';

const load = <T>(name: string): T => JSON.parse(readFileSync(`${FIXTURES}k8s-policy/${name}`, 'utf8')) as T;

interface RawAttrs {
  user: string | null;
  groups: string[];
  verb: string;
  resource_request: boolean;
  path: string;
  namespace: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
}
interface CheckerTables {
  attrs: Record<string, RawAttrs>;
  rules: Record<string, unknown>;
  cases: { request: string; rules_in_order: string[]; expected_level: string }[];
}
interface StageTables {
  union_stages: { policy: string[] | null; rule: string[] | null; expected: string[] }[];
  checker_omit_stages: {
    cases: { policy_omitStages: string[] | null; request: string; rules_in_order: string[]; expected_level: string; expected_omitStages: string[] }[];
  };
  omit_managed_fields: { cases: { policy_omitManagedFields: boolean; rule_omitManagedFields: boolean | null; expected: boolean }[] };
}

const checker = load<CheckerTables>('checker-cases.json');
const stages = load<StageTables>('stages-and-managedfields-cases.json');

function attrs(name: string): RequestAttributes {
  const a = checker.attrs[name]!;
  return {
    user: a.user === null ? undefined : { name: a.user, groups: a.groups },
    verb: a.verb,
    resourceRequest: a.resource_request,
    namespace: a.namespace,
    apiGroup: a.apiGroup,
    resource: a.resource,
    subresource: a.subresource,
    name: a.name,
    path: a.path,
  };
}

function policyOf(ruleNames: string[], extra: Record<string, unknown> = {}) {
  const loaded = validatePolicy({ rules: ruleNames.map((n) => checker.rules[n]), ...extra });
  expect(loaded.problems).toEqual([]);
  return loaded.policy!;
}

describe('policy checker (checker_test.go testAuditLevel)', () => {
  it('has the 31 cases of the upstream table', () => {
    expect(checker.cases).toHaveLength(31);
  });

  for (const [i, c] of checker.cases.entries()) {
    for (const policyStages of [null, ['RequestReceived', 'ResponseStarted']]) {
      it(`case ${i}: ${c.request} with [${c.rules_in_order.join(', ')}] → ${c.expected_level} (policy omitStages ${JSON.stringify(policyStages)})`, () => {
        const policy = policyOf(c.rules_in_order, policyStages ? { omitStages: policyStages } : {});
        const decision = evaluatePolicy(policy, attrs(c.request));
        expect(decision.level).toBe(c.expected_level);
        const ruleStages = new Set(policyStages ?? []);
        // The matched rules of this table have no omitStages of their own.
        expect([...decision.omitStages].sort()).toEqual([...ruleStages].sort());
      });
    }
  }
});

describe('omitStages (TestCheckerPolicyOmitStages, TestUnionStages)', () => {
  for (const [i, c] of stages.checker_omit_stages.cases.entries()) {
    it(`case ${i}: ${c.request} with [${c.rules_in_order.join(', ')}]`, () => {
      const policy = policyOf(c.rules_in_order, c.policy_omitStages ? { omitStages: c.policy_omitStages } : {});
      const decision = evaluatePolicy(policy, attrs(c.request));
      expect(decision.level).toBe(c.expected_level);
      expect([...decision.omitStages].sort()).toEqual([...c.expected_omitStages].sort());
    });
  }

  for (const [i, c] of stages.union_stages.entries()) {
    it(`union ${i}: policy ${JSON.stringify(c.policy)} + rule ${JSON.stringify(c.rule)}`, () => {
      const policy = compilePolicy({
        rules: [{ level: 'Metadata', users: [], userGroups: [], verbs: [], resources: [], namespaces: [], nonResourceURLs: [], omitStages: (c.rule ?? []) as never, omitManagedFields: undefined }],
        omitStages: (c.policy ?? []) as never,
        omitManagedFields: false,
      });
      expect([...evaluatePolicy(policy, attrs('namespaced')).omitStages].sort()).toEqual([...c.expected].sort());
    });
  }
});

describe('omitManagedFields (TestOmitManagedFields)', () => {
  for (const c of stages.omit_managed_fields.cases) {
    it(`policy ${c.policy_omitManagedFields}, rule ${String(c.rule_omitManagedFields)} → ${c.expected}`, () => {
      const rule: Record<string, unknown> = { level: 'RequestResponse', verbs: ['get'] };
      if (c.rule_omitManagedFields !== null) rule.omitManagedFields = c.rule_omitManagedFields;
      const loaded = validatePolicy({ rules: [rule], omitManagedFields: c.policy_omitManagedFields });
      expect(evaluatePolicy(loaded.policy!, attrs('namespaced')).omitManagedFields).toBe(c.expected);
    });
  }

  it('uses the policy setting when no rule matches', () => {
    const loaded = validatePolicy({ rules: [{ level: 'Metadata', verbs: ['create'] }], omitManagedFields: true, omitStages: ['Panic'] });
    const decision = evaluatePolicy(loaded.policy!, attrs('namespaced'));
    expect(decision).toEqual({ level: 'None', omitStages: new Set(['Panic']), omitManagedFields: true });
  });
});

describe('validation (validation_test.go TestValidatePolicy)', () => {
  const tables = load<{ valid_policies: unknown[]; invalid_policies: { why: string }[] }>('validation-cases.json');

  for (const [i, policy] of tables.valid_policies.entries()) {
    it(`valid policy ${i} has no problems`, () => {
      expect(validatePolicy(policy).problems).toEqual([]);
    });
  }
  for (const { why, ...policy } of tables.invalid_policies) {
    it(`refuses: ${why}`, () => {
      expect(validatePolicy(policy).problems.length).toBeGreaterThan(0);
    });
  }
});

describe('stage sequences (audit_test.go TestAudit)', () => {
  const tables = load<{ cases: { desc: string; verb: string; omitStages: string[]; expected_events: { stage: string }[] }[] }>('stage-sequence-cases.json');
  // The sequence a request produces before omission: what the same kind of request yields with
  // no stage omitted (long-running watches get ResponseStarted).
  const full = (verb: string): string[] => (verb === 'watch' ? ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] : ['RequestReceived', 'ResponseComplete', 'Panic']);

  for (const c of tables.cases.filter((x) => x.omitStages.length > 0)) {
    it(`${c.desc}: omitStages ${c.omitStages.join(', ')} leaves ${c.expected_events.map((e) => e.stage).join(', ')}`, () => {
      const policy = validatePolicy({ rules: [{ level: 'Metadata', omitStages: c.omitStages }] }).policy!;
      const expected = c.expected_events.map((e) => e.stage);
      const logged = full(c.verb).filter((s) => expected.includes(s) || c.omitStages.includes(s));
      const kept = logged.filter((stage, n) => applyPolicy(policy, makeEvent(n, { stage: stage as never, verb: c.verb })).kind === 'kept');
      expect(kept).toEqual(expected);
    });
  }
});
