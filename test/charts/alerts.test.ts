// The chart's alert rules (templates/prometheusrule.yaml) and Grafana dashboard
// (dashboards/kube-audit-bridge.json, templates/grafana-dashboard.yaml), rendered by a real helm:
// promtool checks the rendered rules and runs a unit test per alert (alerts.promtool.yaml), and
// every metric and label a query names is held against the /metrics of a live bridge.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type IPrometheusRule, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Bridge } from '../../src/bridge.js';
import { parseConfig } from '../../src/config/load.js';
import type { AuditEvent } from '../../src/event/event.js';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import { eksPart } from '../../src/sources/eks/demo.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { REPO } from '../helpers/cli.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { tempDir } from '../helpers/fs.js';
import { helm, type Manifest, parseManifests } from '../helpers/helm.js';
import { TestReceiver } from '../helpers/http-receiver.js';
import { eventually } from '../helpers/pipeline.js';
import { labelValuesRefs, type PromqlRefs, promqlRefs, tokenize } from './promql.js';

const CHART = join(REPO, 'charts', 'kube-audit-bridge');
const DASHBOARD_FILE = join(CHART, 'dashboards', 'kube-audit-bridge.json');
const PROMTOOL_TESTS = join(REPO, 'test', 'charts', 'alerts.promtool.yaml');
const ALERTS = [
  'KubeAuditBridgeSourceLagging',
  'KubeAuditBridgeSourceNotPolling',
  'KubeAuditBridgeSourcePollsFailing',
  'KubeAuditBridgeSourceStalled',
  'KubeAuditBridgeSourceUndelivered',
  'KubeAuditBridgeSinkFailing',
  'KubeAuditBridgeDeadLetterGrowing',
  'KubeAuditBridgeEventsRejected',
  'KubeAuditBridgeSourceLastingError',
];

/** promtool's path, or undefined when it is not installed (Debian's `prometheus` package has it; .ci/run installs it). */
const PROMTOOL = ((): string | undefined => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return 'promtool';
  } catch {
    return undefined;
  }
})();

function promtool(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL!, args, { cwd }, (err, stdout, stderr) => resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, out: `${stdout}${stderr}` }));
  });
}

async function render(args: string[]): Promise<Manifest[]> {
  const result = await helm(['template', 'kab', CHART, '--namespace', 'audit', ...args]);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

async function valuesFile(values: Record<string, unknown>): Promise<string[]> {
  const file = join(await tempDir('kab-alerts-'), 'values.yaml');
  await writeFile(file, JSON.stringify(values));
  return ['-f', file];
}

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
type RuleSpec = { groups: { name: string; rules: Rule[] }[] };

const ruleOf = (manifests: Manifest[]): IPrometheusRule => {
  const found = manifests.filter((m) => m.kind === 'PrometheusRule');
  expect(found).toHaveLength(1);
  return found[0] as unknown as IPrometheusRule;
};
const rulesOf = (manifests: Manifest[]): Rule[] => (ruleOf(manifests).spec as unknown as RuleSpec).groups.flatMap((g) => g.rules);
const dashboardMapOf = (manifests: Manifest[]): IConfigMap | undefined =>
  manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name.endsWith('-dashboard')) as unknown as IConfigMap | undefined;

interface Dashboard {
  uid: string;
  panels: { id: number; type: string; title: string; datasource?: { uid: string }; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}
const DASHBOARD = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

/** Every PromQL query of the dashboard, with where it is; label_values() variable queries apart. */
function dashboardQueries(): { where: string; expr: string; refs: PromqlRefs }[] {
  const queries = DASHBOARD.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr, refs: promqlRefs(t.expr) })));
  for (const v of DASHBOARD.templating.list.filter((v) => v.type === 'query')) {
    const query = typeof v.query === 'string' ? v.query : v.query.query;
    queries.push({ where: `variable $${v.name}`, expr: query, refs: labelValuesRefs(query) });
  }
  return queries;
}

describe('chart alerts and dashboard: rendering', () => {
  let manifests: Manifest[];
  beforeAll(async () => {
    manifests = await render(['--set', 'prometheusRule.enabled=true', '--set', 'grafanaDashboard.enabled=true']);
  });

  it('lints cleanly with both turned on', async () => {
    const result = await helm(['lint', CHART, '--strict', '--set', 'prometheusRule.enabled=true', '--set', 'grafanaDashboard.enabled=true']);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });

  it('renders neither by default', async () => {
    const defaults = await render([]);
    expect(defaults.filter((m) => m.kind === 'PrometheusRule')).toEqual([]);
    expect(dashboardMapOf(defaults)).toBeUndefined();
  });

  it('renders a PrometheusRule that validates against the Prometheus Operator schema, one alert of each kind, each with a severity, a summary, a description and a runbook line', () => {
    const rule = ruleOf(manifests);
    expect(() => new PrometheusRule(rule).validate()).not.toThrow();
    expect(rule.metadata?.labels).toMatchObject({ 'app.kubernetes.io/name': 'kube-audit-bridge', 'app.kubernetes.io/instance': 'kab' });
    const rules = rulesOf(manifests);
    expect(rules.map((r) => r.alert)).toEqual(ALERTS);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels.severity);
      expect(Object.keys(r.annotations).sort(), r.alert).toEqual(['description', 'runbook', 'summary']);
      // A line or two that says what to check first, not a link to elsewhere.
      expect(r.annotations.runbook!.length, r.alert).toBeGreaterThan(100);
      expect(r.annotations.runbook, r.alert).not.toMatch(/\n/);
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
    const runbook = (name: string): string => rules.find((r) => r.alert === name)!.annotations.runbook!;
    expect(runbook('KubeAuditBridgeSourcePollsFailing')).toMatch(/IAM role/);
    expect(runbook('KubeAuditBridgeSourceLastingError')).toMatch(/diagnostic setting/);
    expect(runbook('KubeAuditBridgeEventsRejected')).toMatch(/log type/);
    expect(runbook('KubeAuditBridgeDeadLetterGrowing')).toMatch(/dead-letter\.jsonl/);
  });

  it('takes thresholds, durations, severities, extra labels and on/off per alert from the values', async () => {
    const custom = rulesOf(
      await render(
        await valuesFile({
          prometheusRule: {
            enabled: true,
            labels: { release: 'kube-prometheus-stack' },
            alertLabels: { team: 'platform' },
            alerts: {
              sourceLagging: { seconds: 120, for: '2m', severity: 'page' },
              sourceNotPolling: { window: '1h' },
              eventsRejected: { count: 5, window: '2h' },
              sinkFailing: { enabled: false },
            },
          },
        }),
      ),
    );
    expect(custom.map((r) => r.alert)).toEqual(ALERTS.filter((a) => a !== 'KubeAuditBridgeSinkFailing'));
    const lag = custom.find((r) => r.alert === 'KubeAuditBridgeSourceLagging')!;
    expect(lag).toMatchObject({ expr: 'kube_audit_bridge_source_lag_seconds > 120', for: '2m', labels: { severity: 'page', team: 'platform' } });
    expect(custom.every((r) => r.labels.team === 'platform')).toBe(true);
    expect(custom.find((r) => r.alert === 'KubeAuditBridgeSourceNotPolling')!.expr).toContain('increase(kube_audit_bridge_poll_duration_seconds_count[1h]) == 0');
    const rejects = custom.find((r) => r.alert === 'KubeAuditBridgeEventsRejected')!;
    expect(rejects.expr).toContain('increase(kube_audit_bridge_events_rejected_total[2h]) > 5');
    expect(rejects.expr).toContain('offset 2h) > 5');
    expect(rejects.annotations.description).toContain('records in 2h');
  });

  it('refuses a malformed duration or threshold in the values, naming the key', async () => {
    for (const [set, key] of [
      ['prometheusRule.alerts.sourceLagging.for=soon', 'sourceLagging/for'],
      ['prometheusRule.alerts.deadLetterGrowing.count=-1', 'deadLetterGrowing/count'],
      ['prometheusRule.alerts.sinkFailing.severty=page', 'sinkFailing'],
    ] as const) {
      const result = await helm(['template', 'kab', CHART, '--set', 'prometheusRule.enabled=true', '--set', set]);
      expect(result.code, set).not.toBe(0);
      expect(result.stderr, set).toContain(key);
    }
  });

  it('renders the dashboard in a ConfigMap with the sidecar label, its JSON the chart file unchanged', async () => {
    const map = dashboardMapOf(manifests)!;
    expect(() => new ConfigMap(map).validate()).not.toThrow();
    expect(map.metadata?.labels).toMatchObject({ grafana_dashboard: '1', 'app.kubernetes.io/instance': 'kab' });
    expect(map.metadata?.namespace).toBe('audit');
    expect(JSON.parse(map.data!['kube-audit-bridge.json']!)).toEqual(DASHBOARD);
    const moved = dashboardMapOf(
      await render(await valuesFile({ grafanaDashboard: { enabled: true, namespace: 'monitoring', labels: { grafana_dashboard: 'kab' }, annotations: { grafana_folder: 'Security' } } })),
    )!;
    expect(moved.metadata).toMatchObject({ namespace: 'monitoring', labels: { grafana_dashboard: 'kab' }, annotations: { grafana_folder: 'Security' } });
    // The bridge's own ConfigMap is still the one the Deployment mounts.
    expect(manifests.filter((m) => m.kind === 'ConfigMap').map((m) => m.metadata.name).sort()).toEqual(['kab-kube-audit-bridge', 'kab-kube-audit-bridge-dashboard']);
  });

  it('has the panels the on-call person needs: per source events in, lag, API errors, throttles; per sink delivered, retries, failing; dead letters; alerts by rule', () => {
    const ids = DASHBOARD.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const uses = (metric: string, by: string): boolean =>
      DASHBOARD.panels.some((p) => (p.targets ?? []).some((t) => t.expr.includes(`kube_audit_bridge_${metric}`) && new RegExp(`by \\([^)]*\\b${by}\\b`).test(t.expr)));
    for (const [metric, by] of [
      ['events_received_total', 'source'],
      ['source_lag_seconds', 'source'],
      ['api_errors_total', 'source'],
      ['api_throttles_total', 'source'],
      ['events_delivered_total', 'sink'],
      ['sink_retries_total', 'sink'],
      ['sink_failing', 'sink'],
      ['dead_letter_total', 'kind'],
      ['alerts_total', 'rule'],
    ]) {
      expect(uses(metric!, by!), `a panel of ${metric} by ${by}`).toBe(true);
    }
    for (const p of DASHBOARD.panels.filter((p) => p.type !== 'row')) expect(p.datasource?.uid, p.title).toBe('${datasource}');
    // No two panels overlap on the 24-column grid.
    const cells = new Set<string>();
    for (const { gridPos: g, title } of DASHBOARD.panels) {
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
    }
  });
});

describe.skipIf(!PROMTOOL)('chart alerts: promtool (skipped when promtool is not on PATH: apt-get install prometheus)', () => {
  let dir: string;
  let rules: Rule[];
  beforeAll(async () => {
    // Kept for the whole describe (tempDir's folders go after each test).
    dir = await mkdtemp(join(tmpdir(), 'kab-promtool-'));
    const manifests = await render(['--set', 'prometheusRule.enabled=true']);
    rules = rulesOf(manifests);
    // The spec of the PrometheusRule the chart renders is a Prometheus rule file as it stands.
    await writeFile(join(dir, 'rules.yaml'), stringifyYaml(ruleOf(manifests).spec));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('promtool check rules accepts the rendered rules', async () => {
    const result = await promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(result.out).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(result.code, result.out).toBe(0);
  });

  it('promtool test rules: each alert stays quiet while its condition is short or absent, then fires with its labels and texts', async () => {
    const tests = parseYaml(readFileSync(PROMTOOL_TESTS, 'utf8')) as {
      tests: { name: string; alert_rule_test: { eval_time: string; alertname: string; exp_alerts: { exp_annotations: Record<string, string> }[] }[] }[];
    };
    // A group per alert, with a time it must not fire and a time it fires.
    expect(tests.tests.map((t) => t.name)).toEqual(ALERTS);
    for (const test of tests.tests) {
      expect(test.alert_rule_test.every((c) => c.alertname === test.name), test.name).toBe(true);
      expect(test.alert_rule_test.some((c) => c.exp_alerts.length === 0), `${test.name}: a time it must not fire`).toBe(true);
      expect(test.alert_rule_test.some((c) => c.exp_alerts.length > 0), `${test.name}: a time it fires`).toBe(true);
    }
    // promtool compares every annotation; the runbook is the rendered one.
    for (const test of tests.tests) {
      const runbook = rules.find((r) => r.alert === test.name)!.annotations.runbook!;
      for (const c of test.alert_rule_test) for (const a of c.exp_alerts) a.exp_annotations.runbook = runbook;
    }
    await writeFile(join(dir, 'alerts.test.yaml'), stringifyYaml(tests, { lineWidth: 0 }));
    const result = await promtool(['test', 'rules', 'alerts.test.yaml'], dir);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('SUCCESS');
  });

  it("promtool check rules accepts every dashboard query (Grafana's variables given values)", async () => {
    const queries = dashboardQueries().filter((q) => !q.where.startsWith('variable'));
    const concrete = (expr: string): string =>
      expr.replaceAll('$__rate_interval', '2m').replaceAll('$__range', '6h').replaceAll('$__interval', '1m').replace(/\$\{?(source|sink)\}?/g, '.*');
    const file = { groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `kab_dashboard:query_${i}`, expr: concrete(q.expr) })) }] };
    await writeFile(join(dir, 'dashboard.yaml'), stringifyYaml(file, { lineWidth: 0 }));
    const result = await promtool(['check', 'rules', 'dashboard.yaml'], dir);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain(`SUCCESS: ${queries.length} rules found`);
  });
});

describe('PromQL references (test/charts/promql.ts)', () => {
  it('finds metric names, matcher labels and grouping labels, skipping functions, keywords, ranges and variables', () => {
    expect(promqlRefs('sum by (source, code) (rate(kube_audit_bridge_api_errors_total{source=~"$source"}[$__rate_interval]))')).toEqual({
      selectors: [{ metric: 'kube_audit_bridge_api_errors_total', labels: ['source'] }],
      grouping: ['source', 'code'],
    });
    expect(
      promqlRefs('increase(a_total{kind="refused"}[30m]) > 0 or (a_total{kind="refused"} unless a_total offset 30m) > 0 and on (x) group_left () b'),
    ).toEqual({
      selectors: [
        { metric: 'a_total', labels: ['kind'] },
        { metric: 'a_total', labels: ['kind'] },
        { metric: 'a_total', labels: [] },
        { metric: 'b', labels: [] },
      ],
      grouping: ['x'],
    });
    expect(promqlRefs('histogram_quantile(0.99, sum(rate(h_bucket{a!="x,}y"}[5m:1m])) by (le)) * 1e3').selectors).toEqual([{ metric: 'h_bucket', labels: ['a'] }]);
    expect(promqlRefs('{__name__="up", job=~"a|b"} == bool 1').selectors).toEqual([{ metric: '', labels: ['__name__', 'job'] }]);
    expect(labelValuesRefs('label_values(m_total, source)')).toEqual({ selectors: [{ metric: 'm_total', labels: [] }], grouping: ['source'] });
    expect(() => tokenize('up{a="b}')).toThrow(/unterminated/);
  });
});

/** /metrics as the families it declares (HELP/TYPE) and the label names of each sampled series name. */
function parseExposition(text: string): { types: Map<string, string>; samples: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  const samples = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const declared = /^# (HELP|TYPE) (\S+)(?: (\S+))?/.exec(line);
    if (declared) {
      if (declared[1] === 'TYPE') types.set(declared[2]!, declared[3]!);
      else if (!types.has(declared[2]!)) types.set(declared[2]!, 'untyped');
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? \S+/.exec(line);
    if (!sample) continue;
    const labels = samples.get(sample[1]!) ?? new Set<string>();
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) labels.add(m[1]!);
    samples.set(sample[1]!, labels);
  }
  return { types, samples };
}

/**
 * Families the live bridge below declares but cannot give a sample without a failure the test
 * does not stage: a lasting error of a source, a stalled source. Their labels are the ones
 * src/telemetry/metrics.ts declares. Every other name a query uses must have samples.
 */
const FAILURE_ONLY = new Set(['kube_audit_bridge_source_failing', 'kube_audit_bridge_source_lasting_errors_total', 'kube_audit_bridge_source_stalled']);

describe('chart alerts and dashboard: every metric and label a query names is on a live /metrics', () => {
  let exposition: ReturnType<typeof parseExposition>;
  let metricsText: string;
  const declared = new Metrics({ processMetrics: false });
  const stops: (() => Promise<void>)[] = [];
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kab-live-metrics-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const logger = silentLogger();
    await writeFile(join(dir, 'token'), 'live-metrics-token\n');
    await writeFile(
      join(dir, 'rules.yaml'),
      `rules:
  - name: ConfigMap read
    condition: jpath("objectRef.resource") = "configmaps" and jpath("verb") = "get"
    message: ConfigMap read (user={user.username} cm={objectRef.name})
    priority: NOTICE
`,
    );
    // A polling source: the EKS demo part's CloudWatch Logs emulator on 127.0.0.1, which throttles
    // now and then (api_errors_total, api_throttles_total) and holds a truncated record (a reject).
    const eks = await eksPart({ workDir: dir, logger });
    stops.push(async () => {
      await eks.stop?.();
    });
    // A receiver that fails the first post (a sink retry) and refuses one event for good (a dead letter).
    const receiver = await TestReceiver.start();
    stops.push(() => receiver.close());
    const refused = makeEvent(900).auditID;
    let posts = 0;
    receiver.respond = (req) => (++posts === 1 ? { status: 503 } : req.text.includes(refused) ? { status: 422, body: 'no' } : { status: 200 });
    const config = parseConfig(
      stringifyYaml({
        sources: [{ name: 'onprem', type: 'webhook', cluster: 'lab-1', bearerTokenFile: join(dir, 'token') }, ...(eks.sources ?? [])],
        sinks: [
          { name: 'archive', type: 'file', path: join(dir, 'audit.jsonl') },
          { name: 'hook', type: 'webhook', url: receiver.url, batchMaxWait: '10ms', retry: { initialBackoff: '10ms', maxBackoff: '50ms' } },
          { name: 'detections', type: 'rules', rules: [join(dir, 'rules.yaml')], alerts: [{ type: 'stdout' }] },
        ],
        checkpoint: { path: join(dir, 'checkpoints.json') },
        deadLetter: { path: join(dir, 'dead.jsonl') },
        server: { host: '127.0.0.1', port: 0 },
      }),
      'live.yaml',
      {},
    );
    const bridge = await Bridge.create(config, { logger, stdout: new PassThrough(), processMetrics: true });
    const { port } = await bridge.start();
    stops.unshift(() => bridge.stop());
    const base = `http://127.0.0.1:${port}`;

    // Events, one the receiver refuses, and one the webhook source rejects (a bad stageTimestamp).
    const bad: AuditEvent = { ...makeEvent(901), stageTimestamp: 'yesterday' };
    const result = await new AuditWebhookClient({ url: `${base}/audit/onprem`, bearerToken: 'live-metrics-token' }).post([...makeEvents(0, 5), makeEvent(900), bad]);
    expect(result.statuses).toEqual([200]);

    const scrape = async (): Promise<string> => (await request(`${base}/metrics`)).body.text();
    const wanted = [
      /^kube_audit_bridge_api_throttles_total\{source="demo-eks"\} [1-9]/m,
      /^kube_audit_bridge_poll_duration_seconds_count\{source="demo-eks"\} [1-9]/m,
      /^kube_audit_bridge_events_rejected_total\{source="demo-eks",reason="[^"]+"\} 1/m,
      /^kube_audit_bridge_events_rejected_total\{source="onprem",reason="[^"]+"\} 1/m,
      /^kube_audit_bridge_sink_retries_total\{sink="hook"\} [1-9]/m,
      /^kube_audit_bridge_dead_letter_total\{kind="refused",component="hook"\} 1/m,
      /^kube_audit_bridge_alerts_total\{sink="detections",rule="ConfigMap read",priority="Notice"\} [1-9]/m,
    ];
    let missing: RegExp[] = wanted;
    try {
      await eventually(async () => {
        const text = await scrape();
        missing = wanted.filter((w) => !w.test(text));
        return missing.length === 0;
      }, 30_000);
    } catch {
      throw new Error(`/metrics never showed ${missing.join(', ')}:\n${await scrape()}`);
    }
    metricsText = await scrape();
    exposition = parseExposition(metricsText);
  }, 60_000);

  afterAll(async () => {
    for (const stop of stops) await stop().catch(() => undefined);
    // The EKS part sets fixed emulator credentials in the environment.
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  /** The label names a referenced series name has on the live /metrics, or why it has none. */
  function liveLabels(name: string): Set<string> | string {
    const sampled = exposition.samples.get(name);
    if (sampled) return sampled;
    const family = /^(.*)_(bucket|sum|count)$/.exec(name);
    const base = family && ['histogram', 'summary'].includes(exposition.types.get(family[1]!) ?? '') ? family[1]! : name;
    if (!exposition.types.has(base)) return `${name} is not on /metrics (no sample, no HELP/TYPE)`;
    if (!FAILURE_ONLY.has(base)) return `${name}: /metrics declares ${base} but the live bridge has no sample of it; drive traffic that makes one`;
    const metric = declared.registry.getSingleMetric(base) as unknown as { labelNames?: string[] } | undefined;
    return new Set([...(metric?.labelNames ?? []), ...(family?.[2] === 'bucket' ? ['le'] : [])]);
  }

  /** Problems of one query: unknown metrics, labels no metric of it has. */
  function problems(where: string, refs: PromqlRefs, templateLabels: string[] = []): string[] {
    const found: string[] = [];
    const all = new Set<string>();
    for (const { metric, labels } of refs.selectors) {
      expect(metric, `${where}: a selector without a metric name`).not.toBe('');
      const live = liveLabels(metric);
      if (typeof live === 'string') {
        found.push(`${where}: ${live}`);
        continue;
      }
      live.forEach((l) => all.add(l));
      for (const label of labels) if (!live.has(label)) found.push(`${where}: ${metric} has no label ${label} (it has ${[...live].join(', ') || 'none'})`);
    }
    for (const label of [...refs.grouping, ...templateLabels]) {
      if (!all.has(label)) found.push(`${where}: no metric of the query has the label ${label}`);
    }
    return found;
  }

  it('has the scrape the checks below read: families, samples and labelled series', () => {
    expect(metricsText).toMatch(/^# TYPE kube_audit_bridge_source_failing gauge$/m);
    expect(exposition.samples.get('kube_audit_bridge_events_received_total')).toEqual(new Set(['source']));
    expect(exposition.samples.get('kube_audit_bridge_sink_write_duration_seconds_bucket')).toEqual(new Set(['sink', 'le']));
  });

  it('every query of the rendered alert rules, and every $labels the alert texts use', async () => {
    const rules = rulesOf(await render(['--set', 'prometheusRule.enabled=true']));
    expect(rules).toHaveLength(ALERTS.length);
    const found = rules.flatMap((r) => {
      const templated = Object.values(r.annotations).flatMap((text) => [...text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)].map((m) => m[1]!));
      return problems(r.alert, promqlRefs(r.expr), templated);
    });
    expect(found).toEqual([]);
  });

  it('every query of the dashboard: its panels and its variables', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(18);
    expect(queries.flatMap((q) => problems(q.where, q.refs))).toEqual([]);
  });
});
