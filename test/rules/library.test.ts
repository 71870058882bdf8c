import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { buildAlert } from '../../src/rules/alert.js';
import { enableRules, RuleEngine } from '../../src/rules/engine.js';
import { loadRuleFiles } from '../../src/rules/load.js';
import { formatProblem } from '../../src/rules/rule.js';
import { parseAuditBody } from '../../src/sources/webhook/parse.js';
import { FIXTURES, readJsonLines, SAMPLES } from '../helpers/events.js';

const LIBRARY = 'config/rules/library.yaml';
const loaded = loadRuleFiles([LIBRARY]);
const rules = enableRules(loaded.rules, ['all']).rules;
const everyRule = new RuleEngine(rules, 'all');

function events(file: string): unknown[] {
  return readJsonLines(`${FIXTURES}rules/events/${file}.json`);
}

function fired(event: unknown): string[] {
  return everyRule.match(event).map((r) => r.name);
}

// Each library rule with real events it must fire on and real events it must stay quiet on
// (test/fixtures/rules/README.md says where each comes from).
const CASES: { rule: string; matches: string[]; misses: string[] }[] = [
  {
    rule: 'Privileged pod created',
    matches: ['falco_create_nginx_pod_privileged', 'falco_create_nginx_pod_no_secctx_1st_container_privileged_2nd_container'],
    misses: ['falco_create_nginx_pod_unprivileged', 'falco_create_nginx_pod_hostnetwork', 'falco_create_nginx_pod_sensitive_mount'],
  },
  {
    rule: 'Pod with sensitive host path mount',
    matches: ['falco_create_nginx_pod_sensitive_mount'],
    misses: ['falco_create_nginx_pod_unsensitive_mount', 'falco_create_nginx_pod_privileged', 'panther_pod_hostpid'],
  },
  {
    rule: 'Pod sharing host namespaces',
    matches: ['falco_create_nginx_pod_hostnetwork', 'panther_pod_hostpid', 'panther_pod_hostipc'],
    misses: ['falco_create_nginx_pod_nohostnetwork', 'falco_create_nginx_pod_privileged'],
  },
  {
    rule: 'Binding to cluster-admin',
    matches: ['falco_attach_cluster_admin_role'],
    misses: ['falco_create_clusterrolebinding', 'falco_create_clusterrole'],
  },
  {
    rule: 'Role with wildcard verbs or resources',
    matches: ['falco_create_cluster_role_wildcard_resources', 'panther_clusterrole_wildcard_verbs'],
    misses: ['falco_create_clusterrole', 'falco_create_cluster_role_write_privileges', 'falco_attach_cluster_admin_role'],
  },
  {
    rule: 'Anonymous request allowed',
    matches: ['falco_anonymous_creates_namespace_foo'],
    misses: ['falco_some-user_creates_namespace_foo', 'eks_anonymous_get_version'],
  },
  {
    rule: 'Impersonation used',
    matches: ['derived_impersonated_create_secret'],
    misses: ['falco_create_secret', 'falco_exec_pod'],
  },
  {
    rule: 'Pod exec or attach',
    matches: ['falco_exec_pod'],
    misses: ['derived_portforward_pod', 'falco_create_nginx_pod_unprivileged'],
  },
  {
    rule: 'Pod port-forward',
    matches: ['derived_portforward_pod'],
    misses: ['falco_exec_pod', 'falco_create_nginx_pod_unprivileged'],
  },
  {
    rule: 'ConfigMap with credentials',
    matches: ['falco_create_configmap_sensitive_values'],
    misses: ['falco_create_configmap', 'falco_delete_configmap'],
  },
  {
    rule: 'Secret read by a non-system user',
    matches: ['panther_user_gets_secret'],
    misses: ['panther_system_lists_secrets', 'falco_create_secret'],
  },
  {
    rule: 'Service account token created',
    matches: ['panther_serviceaccount_token_created'],
    misses: ['falco_create_service_account_token_secret', 'falco_create_secret'],
  },
  {
    rule: 'DaemonSet created or changed in kube-system',
    matches: ['canonical_k8s_daemonset_updated'],
    misses: ['canonical_k8s_daemonset_created'],
  },
  {
    rule: 'NodePort service created',
    matches: ['falco_create_nginx_service_nodeport'],
    misses: ['falco_create_nginx_service_nonodeport'],
  },
  {
    rule: 'Namespace deleted',
    matches: ['derived_delete_namespace'],
    misses: ['falco_delete_configmap', 'falco_some-user_creates_namespace_foo'],
  },
];

describe('the rule library (config/rules/library.yaml)', () => {
  it('loads without problems, at least 15 rules, every one shipped disabled and tagged k8s plus an area', () => {
    expect(loaded.problems.map(formatProblem)).toEqual([]);
    expect(loaded.rules.length).toBeGreaterThanOrEqual(15);
    const areas = new Set(['pod-security', 'access', 'secrets', 'rbac', 'network', 'persistence', 'impact']);
    for (const rule of loaded.rules) {
      expect(rule.enabled, rule.name).toBe(false);
      expect(rule.tags[0], rule.name).toBe('k8s');
      expect(rule.tags.filter((t) => areas.has(t)), rule.name).toHaveLength(1);
      expect(rule.description, rule.name).toBeTruthy();
    }
    expect(new RuleEngine(loaded.rules).rules).toEqual([]);
  });

  it('has a test case for every rule', () => {
    expect(CASES.map((c) => c.rule).sort()).toEqual(loaded.rules.map((r) => r.name).sort());
  });

  describe.each(CASES)('$rule', ({ rule, matches, misses }) => {
    it.each(matches)('fires on %s', (file) => {
      const list = events(file);
      expect(list.length).toBeGreaterThan(0);
      for (const event of list) expect(fired(event)).toContain(rule);
    });
    it.each(misses)('stays quiet on %s', (file) => {
      for (const event of events(file)) expect(fired(event)).not.toContain(rule);
    });
  });

  it('raises exactly the expected alerts on every native sample event (the demo\'s events), with every rule enabled', async () => {
    const expected: Record<string, string[]> = {
      'falco-trace-files/anonymous_creates_namespace_foo.json': ['Anonymous request allowed'],
      'falco-trace-files/attach_cluster_admin_role.json': ['Binding to cluster-admin'],
      'falco-trace-files/create_cluster_role_wildcard_resources.json': ['Role with wildcard verbs or resources'],
      'falco-trace-files/create_configmap_sensitive_values.json': Array<string>(6).fill('ConfigMap with credentials'),
      'falco-trace-files/create_nginx_pod_hostnetwork.json': ['Pod sharing host namespaces'],
      'falco-trace-files/create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json': ['Privileged pod created'],
      'falco-trace-files/create_nginx_pod_privileged.json': ['Privileged pod created'],
      'falco-trace-files/create_nginx_pod_sensitive_mount.json': ['Pod with sensitive host path mount'],
      'falco-trace-files/create_nginx_service_nodeport.json': ['NodePort service created'],
      'falco-trace-files/exec_pod.json': ['Pod exec or attach'],
      'canonical-smoke-alerts/canonical_k8s_daemonset_updated.json': ['DaemonSet created or changed in kube-system'],
    };
    const actual: Record<string, string[]> = {};
    let files = 0;
    for (const folder of ['falco-trace-files', 'canonical-smoke-alerts']) {
      for (const file of readdirSync(`${SAMPLES}k8s-events/${folder}`).filter((f) => f.endsWith('.json') && f !== 'fal_01_003.json')) {
        files++;
        const lines = readFileSync(`${SAMPLES}k8s-events/${folder}/${file}`, 'utf8').split('\n').filter((l) => l.trim() !== '');
        const parsed = parseAuditBody(`[${lines.join(',')}]`);
        expect(parsed.ok, file).toBe(true);
        const names = parsed.ok ? parsed.events.flatMap(fired) : [];
        if (names.length > 0) actual[`${folder}/${file}`] = names;
      }
    }
    expect(files).toBe(35);
    expect(actual).toEqual(expected);
  });

  it('renders readable messages with <NA> for what the event lacks', () => {
    const [event] = events('falco_create_nginx_pod_privileged');
    const rule = rules.find((r) => r.name === 'Privileged pod created')!;
    const alert = buildAlert(rule, event, { hostname: 'bridge-0', nowMs: 0 });
    expect(alert.output).toBe(
      '14:09:12.581541000: Warning Privileged pod created (user=system:serviceaccount:kube-system:replicaset-controller pod=nginx-deployment-5cdcc99dbf-rgw6z ns=default images=nginx code=201)',
    );
    const [ns] = events('derived_delete_namespace');
    const deleted = buildAlert(rules.find((r) => r.name === 'Impersonation used')!, ns, { hostname: 'h', nowMs: 0 });
    expect(deleted.output).toMatch(/\(user=minikube-user as=<NA> groups=<NA> verb=delete uri=\/api\/v1\/namespaces\/foo code=200\)$/);
  });
});
