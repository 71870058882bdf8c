// The resource index: which resources a rule can fire on, read from its condition, and an engine
// that skips rules by it deciding exactly what an engine trying every rule decides.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RuleEngine } from '../../../src/rules/engine.js';
import { parseCondition } from '../../../src/rules/falco/parser.js';
import { resourcePrefilter } from '../../../src/rules/falco/prefilter.js';
import type { CompiledRule } from '../../../src/rules/rule.js';
import { eventFile, FALCO, K8S_AUDIT_RULES, loadRuleFiles, readTrace } from './helpers.js';

const MACROS: Record<string, string> = {
  pod: 'ka.target.resource=pods and not ka.target.subresource exists',
  role: 'ka.target.resource=roles',
  clusterrole: 'ka.target.resource=clusterroles',
  loop: 'loop and ka.target.resource=pods',
};
const LISTS: Record<string, string[]> = { workloads: ['deployments', 'daemonsets'] };

function resources(condition: string): string[] | 'any' {
  const p = resourcePrefilter(parseCondition(condition), (n) => (MACROS[n] ? parseCondition(MACROS[n]) : undefined), (n) => LISTS[n]);
  return p ? [...p.values].sort() : 'any';
}

describe('the resources a Falco condition can fire on', () => {
  it.each([
    ['kevt and pod and ka.verb=create', ['pods']],
    ['kevt and (role or clusterrole) and ka.verb=create', ['clusterroles', 'roles']],
    ['ka.target.resource in (workloads, pods)', ['daemonsets', 'deployments', 'pods']],
    ['pod and role', []],
    ['ka.target.resource=pods and ka.target.resource in (pods, services)', ['pods']],
    ['not pod', 'any'],
    ['pod or ka.verb=create', 'any'],
    ['ka.target.resource != pods', 'any'],
    ['ka.target.resource startswith pod', 'any'],
    ['jevt.value[/objectRef/resource] = pods', 'any'],
    ['loop', ['pods']],
    ['undefined_macro and pod', ['pods']],
  ])('%s: %j', (condition, expected) => {
    expect(resources(condition)).toEqual(expected);
  });
});

describe('an engine with the resource index', () => {
  const loaded = loadRuleFiles([K8S_AUDIT_RULES]);
  const unindexed: CompiledRule[] = loaded.rules.map(({ prefilter: _, ...rule }) => rule);

  it("indexes most of Falco's rules, and leaves the rules that can fire on any resource unindexed", () => {
    expect(loaded.rules.filter((r) => r.prefilter).length).toBe(43);
    expect(loaded.rules.filter((r) => !r.prefilter).map((r) => r.name)).toEqual(['Disallowed K8s User', 'Anonymous Request Allowed', 'port-forward', 'All K8s Audit Events', 'Full K8s Administrative Access']);
  });

  it('fires exactly the rules, in the same order, as trying every rule', () => {
    const events = readdirSync(`${FALCO}/events`).flatMap((f) => readTrace(eventFile(f)).events);
    const variants = events.flatMap((e) => [
      e,
      { ...e, objectRef: { ...(e.objectRef as object), resource: 'roles' } },
      { ...e, objectRef: { ...(e.objectRef as object), resource: 'unknown' } },
      { ...e, objectRef: undefined },
      { ...e, auditID: undefined },
      { ...e, user: { username: 'someone-else' } },
    ]);
    for (const matching of ['first', 'all'] as const) {
      const indexed = new RuleEngine(loaded.rules, matching);
      const plain = new RuleEngine(unindexed, matching);
      for (const event of variants) expect(indexed.match(event).map((r) => r.name)).toEqual(plain.match(event).map((r) => r.name));
    }
    expect(variants.length).toBeGreaterThan(150);
  });
});
