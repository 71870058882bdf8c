import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type IServiceMonitor, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { type INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import {
  ConfigMap,
  type IConfigMap,
  type IContainer,
  type IPersistentVolumeClaim,
  type IPodSpec,
  type ISecret,
  type ISecretVolumeSource,
  type IService,
  type IServiceAccount,
  PersistentVolumeClaim,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { SourceType } from '../../src/config/sources.js';
import { SINKS, SOURCES } from '../../src/registry.js';
import { parseDuration } from '../../src/util/duration.js';
import { type CliResult, REPO, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fs.js';
import { fakeApiServer, helm, type Manifest, parseManifests } from '../helpers/helm.js';

// The Helm chart, rendered by a real helm binary (test/helpers/helm.ts), checked three ways: the
// manifests against the Kubernetes (and Prometheus Operator) schemas, the deployment rules the
// chart promises (one writer, hardened pod, probes, checkpoint volume, closed by default), and the
// bridge config the default values and each example put in the ConfigMap against the bridge's own
// `validate`, with the Secret files the pod mounts written where it would see them.

/** Source types this build can run: their component has a create. */
const RUNNABLE: ReadonlySet<string> = new Set(SOURCES.filter((c) => c.create !== undefined).map((c) => c.type));

const CHART = join(REPO, 'charts', 'kube-audit-bridge');
const EXAMPLES = readdirSync(join(CHART, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const CONFIG_PATH = '/etc/kube-audit-bridge/config.yaml';
const DATA_DIR = '/var/lib/kube-audit-bridge';
// Where the chart mounts the webhook token and the TLS Secret, and the Secret it makes.
const TOKEN_DIR = '/var/run/secrets/kube-audit-bridge/webhook';
const TLS_DIR = '/var/run/secrets/kube-audit-bridge/tls';
const TOKEN_SECRET = 'kab-kube-audit-bridge-webhook-token';

/**
 * What the Secrets the chart does not render hold, as their users create them (name/key -> value):
 * the examples' and the tests' existing Secrets. A key not listed gets a placeholder; a Secret
 * mounted whole gets the keys listed here. validate only checks that the files are there and not
 * empty, so a certificate need not be a real one.
 */
const SECRET_VALUES: Record<string, string> = {
  'slack-webhook/url': 'https://hooks.slack.com/services/T000/B000/XXXX',
  'audit-webhook-token/token': 'f3a1c0de5eed0123456789abcdef0123456789abcdef0123456789abcdef0123',
  'bridge-tls/tls.crt': '-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n',
  'bridge-tls/tls.key': '-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----\n',
  'bridge-tls/ca.crt': '-----BEGIN CERTIFICATE-----\nplaceholder CA\n-----END CERTIFICATE-----\n',
};

// Each kind the chart may render, with its schema-checked model. A kind missing here fails the test.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

const rendered = new Map<string, Promise<string>>();

/** `helm template` output for these arguments, parsed afresh for each caller (one helm run per argument list). */
async function renderWith(args: string[]): Promise<Manifest[]> {
  const key = JSON.stringify(args);
  let output = rendered.get(key);
  if (!output) {
    output = helm(['template', 'kab', CHART, '--namespace', 'audit', ...args]).then((result) => {
      if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
      return result.stdout;
    });
    rendered.set(key, output);
  }
  return parseManifests(await output);
}

const example = (file: string): string[] => ['-f', join(CHART, 'examples', file)];

/** `-f` with these values, written to a file (for lists and objects that --set spells badly). */
async function valuesFile(values: Record<string, unknown>): Promise<string[]> {
  const file = join(await tempDir('kab-chart-'), 'values.yaml');
  await writeFile(file, JSON.stringify(values));
  return ['-f', file];
}

interface Kinds {
  ConfigMap: IConfigMap;
  Secret: ISecret;
  Service: IService;
  ServiceAccount: IServiceAccount;
  PersistentVolumeClaim: IPersistentVolumeClaim;
  Deployment: IDeployment;
  NetworkPolicy: INetworkPolicy;
  ServiceMonitor: IServiceMonitor;
}

function all<K extends keyof Kinds>(manifests: Manifest[], kind: K): Kinds[K][] {
  return manifests.filter((m) => m.kind === kind) as unknown as Kinds[K][];
}

function one<K extends keyof Kinds>(manifests: Manifest[], kind: K): Kinds[K] {
  const found = all(manifests, kind);
  expect(found.map((m) => m.kind), `one ${kind}`).toEqual([kind]);
  return found[0]!;
}

/** The Deployment's pod template, its one container and its labels. */
function podOf(manifests: Manifest[]): { pod: IPodSpec; container: IContainer; labels: Record<string, string> } {
  const template = one(manifests, 'Deployment').spec!.template;
  const pod = template.spec!;
  expect(pod.containers).toHaveLength(1);
  return { pod, container: pod.containers[0]!, labels: template.metadata?.labels ?? {} };
}

/** The files of a ConfigMap volume (path -> content), from the ConfigMap the chart renders. */
function configMapFiles(manifests: Manifest[], source: { name?: string; items?: { key: string; path: string }[] }): [string, string][] {
  const data = all(manifests, 'ConfigMap').find((m) => m.metadata?.name === source.name)?.data;
  expect(data, `ConfigMap ${source.name}`).toBeDefined();
  const items = source.items ?? Object.keys(data!).map((key) => ({ key, path: key }));
  return items.map((item) => {
    expect(data, `ConfigMap key ${item.key}`).toHaveProperty([item.key]);
    return [item.path, data![item.key]!];
  });
}

/**
 * The files of a Secret volume (path -> content): from the chart's own Secret when it renders one
 * (its data decoded), else from SECRET_VALUES, as the user would have created it.
 */
function secretFiles(manifests: Manifest[], source: ISecretVolumeSource): [string, string][] {
  const name = source.secretName!;
  const rendered = all(manifests, 'Secret').find((m) => m.metadata?.name === name);
  const data: Record<string, string> = rendered
    ? Object.fromEntries(Object.entries(rendered.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]))
    : Object.fromEntries(
        Object.entries(SECRET_VALUES)
          .filter(([ref]) => ref.startsWith(`${name}/`))
          .map(([ref, value]) => [ref.slice(name.length + 1), value]),
      );
  const items = source.items ?? Object.keys(data).map((key) => ({ key, path: key }));
  expect(items.length, `files of Secret ${name}`).toBeGreaterThan(0);
  return items.map((item) => {
    if (rendered) expect(data, `key ${item.key} of the chart's Secret ${name}`).toHaveProperty([item.key]);
    return [item.path, data[item.key] ?? `placeholder-for-${name}/${item.key}`];
  });
}

/**
 * Writes the ConfigMap and Secret volumes the bridge container mounts into `root`, as the kubelet
 * would; returns their mount paths.
 */
async function materializeVolumes(manifests: Manifest[], root: string): Promise<string[]> {
  const { pod, container } = podOf(manifests);
  const mounted: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    const files = volume?.configMap ? configMapFiles(manifests, volume.configMap) : volume?.secret ? secretFiles(manifests, volume.secret) : undefined;
    if (!files) continue;
    for (const [path, content] of files) {
      const file = join(root, mount.mountPath, mount.subPath ?? '', path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    mounted.push(mount.mountPath);
  }
  return mounted;
}

/** The bridge container's environment as the kubelet would set it, Secrets from SECRET_VALUES. */
function containerEnv(manifests: Manifest[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of podOf(manifests).container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.secretKeyRef) {
      const ref = `${v.valueFrom.secretKeyRef.name ?? ''}/${v.valueFrom.secretKeyRef.key}`;
      // Credentials the SDKs read are never read by validate; a placeholder is enough for them.
      env[v.name] = SECRET_VALUES[ref] ?? `placeholder-for-${ref}`;
    }
  }
  return env;
}

interface BridgeConfig {
  sources: ({ name: string; type: SourceType; bearerTokenFile?: string; allowUnauthenticated?: boolean } & Record<string, unknown>)[];
  server: { port: number; host: string; telemetry?: { port: number }; tls?: { certFile: string; keyFile: string; clientCaFile?: string } };
}

/** The bridge config the chart renders into its ConfigMap. */
function configOf(manifests: Manifest[]): BridgeConfig {
  return parseYaml(one(manifests, 'ConfigMap').data!['config.yaml']!) as BridgeConfig;
}

interface Validated extends CliResult {
  /** The config as validate read it, its paths moved under `root`. */
  file: string;
  root: string;
}

/**
 * Runs `kube-audit-bridge validate` (file checks on) on the config the pod would read: ConfigMap
 * and Secret files under a temp root, absolute paths into those mounts mapped there, relative
 * paths from the repository (the image's working directory /app holds the same config/ folder).
 */
async function validateRenderedConfig(manifests: Manifest[]): Promise<Validated> {
  const root = await tempDir('kab-chart-');
  const mounted = await materializeVolumes(manifests, root);
  const file = join(root, CONFIG_PATH);
  // One pass, so a mount path inside another is never moved twice; a path into no mount stays.
  const mounts = mounted.sort((a, b) => b.length - a.length).map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const text = readFileSync(file, 'utf8').replace(new RegExp(`(?<=^|[\\s"'\\[,])(?=(?:${mounts.join('|')})/)`, 'gm'), root);
  await writeFile(file, text);
  const result = await runCli(['validate', '--config', file], { env: containerEnv(manifests), cwd: REPO });
  return { ...result, file, root };
}

/**
 * The config passed validate. The only warnings allowed are the ones the config asks for: a webhook
 * source served over plain HTTP (no server.tls), one that allowUnauthenticated leaves open.
 */
function expectValid(result: Validated): void {
  const config = parseYaml(readFileSync(result.file, 'utf8')) as BridgeConfig;
  const warnings = config.sources.flatMap((s, i) => {
    if (s.type !== 'webhook') return [];
    const at = `: warning: sources\\[${i}\\]: the webhook source ${s.name}`;
    const open = s.allowUnauthenticated === true && s.bearerTokenFile === undefined && config.server.tls?.clientCaFile === undefined;
    return [...(open ? [new RegExp(`${at} accepts requests from anyone`)] : []), ...(config.server.tls === undefined ? [new RegExp(`${at} is served over plain HTTP`)] : [])];
  });
  const lines = result.stderr.split('\n').filter(Boolean);
  expect(lines.length, result.stderr).toBe(warnings.length);
  warnings.forEach((warning, i) => expect(lines[i]).toMatch(warning));
  expect(result.code).toBe(0);
  expect(result.stdout).toContain(': valid');
}

/** The token in the chart's Secret, decoded. */
function chartToken(manifests: Manifest[]): string {
  const secret = all(manifests, 'Secret').find((m) => m.metadata?.name === TOKEN_SECRET);
  expect(secret, `Secret ${TOKEN_SECRET}`).toBeDefined();
  return Buffer.from(secret!.data!.token!, 'base64').toString('utf8');
}

/** `helm install --dry-run=client` with these arguments: the manifests and the NOTES, apart. */
async function installDryRun(args: string[]): Promise<{ manifests: Manifest[]; notes: string }> {
  const result = await helm(['install', 'kab', CHART, '--namespace', 'audit', '--dry-run=client', ...args]);
  expect(result.code, result.stderr).toBe(0);
  const at = result.stdout.indexOf('\nNOTES:\n');
  expect(at, 'NOTES in the output').toBeGreaterThan(0);
  const manifestAt = result.stdout.indexOf('MANIFEST:\n');
  return { manifests: parseManifests(result.stdout.slice(manifestAt + 'MANIFEST:\n'.length, at)), notes: result.stdout.slice(at + '\nNOTES:\n'.length) };
}

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; 'certificate-authority'?: string } }[];
  users: { name: string; user: Record<string, string> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
}

/** The kubeconfig of each webhook source that NOTES writes with a heredoc, by source name, parsed as written. */
function notesKubeconfigs(notes: string): Map<string, { text: string; config: Kubeconfig }> {
  const found = new Map<string, { text: string; config: Kubeconfig }>();
  for (const match of notes.matchAll(/^cat > (\S+)-webhook\.kubeconfig <<EOF\n([\s\S]*?)\nEOF$/gm)) {
    found.set(match[1]!, { text: match[2]!, config: parseYaml(match[2]!) as Kubeconfig });
  }
  return found;
}

/**
 * Runs the shell lines NOTES gives for a webhook source (from its `# ---` line to the audit policy)
 * in bash, with a kubectl that answers from `secrets` (name -> key -> value) and logs its
 * arguments; returns the files the lines wrote and kubectl's calls.
 */
async function runNotesScript(notes: string, source: string, secrets: Record<string, Record<string, string>>): Promise<{ files: Record<string, string>; calls: string[] }> {
  const start = notes.indexOf(`# --- ${source}-webhook.kubeconfig`);
  expect(start, `the lines for source ${source}`).toBeGreaterThanOrEqual(0);
  const end = notes.indexOf('> audit-policy.yaml\n', start);
  expect(end).toBeGreaterThan(start);
  const script = notes.slice(start, end + '> audit-policy.yaml\n'.length).replace(/^NODE_IP=\.\.\./m, 'NODE_IP=192.0.2.10');
  const dir = await tempDir('kab-notes-');
  const bin = join(dir, 'bin');
  await mkdir(bin);
  // kubectl get secret NAME -o jsonpath='{.data.KEY}' prints the value base64-encoded, as the real
  // one does; KEY comes escaped (a.b as a\.b). get svc prints a node port, exec the policy.
  const answers = Object.entries(secrets).flatMap(([name, data]) =>
    Object.entries(data).map(([key, value]) => `  "get secret ${name} -o jsonpath={.data.${key.replaceAll('.', '\\.')}}") printf %s '${Buffer.from(value).toString('base64')}' ;;`),
  );
  await writeFile(
    join(bin, 'kubectl'),
    [
      '#!/bin/bash',
      'shift 2  # -n NAMESPACE',
      `echo "$*" >> ${JSON.stringify(join(dir, 'calls'))}`,
      'case "$*" in',
      ...answers,
      '  "get svc "*) printf 30080 ;;',
      '  "exec "*) echo "kind: Policy" ;;',
      '  *) echo "unexpected kubectl $*" >&2; exit 1 ;;',
      'esac',
      '',
    ].join('\n'),
  );
  await chmod(join(bin, 'kubectl'), 0o755);
  const work = join(dir, 'work');
  await mkdir(work);
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: work, env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` } }, (err, _stdout, stderr) =>
      resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, stderr }),
    );
  });
  expect(result.code, `${script}\n${result.stderr}`).toBe(0);
  const files = Object.fromEntries(readdirSync(work).map((f) => [f, readFileSync(join(work, f), 'utf8')]));
  return { files, calls: readFileSync(join(dir, 'calls'), 'utf8').trimEnd().split('\n') };
}

const CASES: [string, string[]][] = [['default values', []], ...EXAMPLES.map((file): [string, string[]] => [`example ${file}`, example(file)])];

describe('Helm chart charts/kube-audit-bridge', () => {
  it("lists in values.schema.json exactly the source and sink types of the registry (src/registry.ts)", () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      properties: { config: { properties: Record<'sources' | 'sinks', { items: { properties: { type: { enum: string[] } } } }> } };
    };
    const enumOf = (list: 'sources' | 'sinks'): string[] => [...schema.properties.config.properties[list].items.properties.type.enum].sort();
    expect(enumOf('sources')).toEqual(SOURCES.map((c) => c.type).sort());
    expect(enumOf('sinks')).toEqual(SINKS.map((c) => c.type).sort());
  });
  it('has the six examples the docs describe', () => {
    expect(EXAMPLES).toEqual(['aks-eventhubs-sysdig.yaml', 'aks-rules-slack.yaml', 'eks-sysdig.yaml', 'gke-falco.yaml', 'gke-pubsub-falco.yaml', 'selfmanaged-webhook-falco.yaml']);
  });

  it('lints cleanly with the default values and with each example (values checked against values.schema.json)', async () => {
    for (const args of [[], ...EXAMPLES.map(example)]) {
      const result = await helm(['lint', CHART, '--strict', ...args]);
      expect(result.code, `helm lint ${args.join(' ')}\n${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('0 chart(s) failed');
    }
  });

  describe.each(CASES)('%s', (_name, args) => {
    let manifests: Manifest[];
    beforeAll(async () => {
      manifests = await renderWith(args);
    });

    it('renders manifests that validate against the Kubernetes schemas', () => {
      expect(manifests.length).toBeGreaterThanOrEqual(5);
      for (const m of manifests) {
        const Model = MODELS[`${m.apiVersion}/${m.kind}`];
        expect(Model, `a schema for ${m.apiVersion} ${m.kind}`).toBeDefined();
        expect(() => new Model!(m as never).validate(), `${m.kind} ${m.metadata.name}`).not.toThrow();
      }
    });

    it('runs one writer with a hardened pod, probes on /healthz and /readyz (telemetry port) and the checkpoint on its volume', () => {
      const deployment = one(manifests, 'Deployment');
      expect(deployment.spec!.replicas).toBe(1);
      expect(deployment.spec!.strategy).toEqual({ type: 'Recreate' });
      const { pod, container } = podOf(manifests);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext!.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(container.securityContext).toEqual({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        privileged: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container.args).toEqual(['run', '--config', CONFIG_PATH]);
      expect(container.ports?.map((p) => p.name)).toEqual(['http', 'metrics']);
      expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(container.resources?.limits?.memory).toBeDefined();
      // Node's heap would otherwise grow toward the memory limit before collecting.
      expect(container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=256 --max-semi-space-size=8');

      // Writable: only the data volume (a claim rendered beside it) and /tmp; everything else read-only.
      const volume = (name: string) => pod.volumes?.find((v) => v.name === name);
      const writable = (container.volumeMounts ?? []).filter((m) => m.readOnly !== true);
      expect(writable.map((m) => m.mountPath).sort()).toEqual(['/tmp', DATA_DIR]);
      const claim = one(manifests, 'PersistentVolumeClaim');
      expect(volume(writable.find((m) => m.mountPath === DATA_DIR)!.name)?.persistentVolumeClaim).toEqual({ claimName: claim.metadata?.name });
      expect(claim.spec?.accessModes).toEqual(['ReadWriteOnce']);
      expect(claim.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');
      expect(volume(writable.find((m) => m.mountPath === '/tmp')!.name)?.emptyDir).toBeDefined();
      // Secrets are mounted read-only and whole directories (a subPath mount never sees an update).
      for (const mount of container.volumeMounts ?? []) {
        if (!volume(mount.name)?.secret) continue;
        expect(mount, mount.name).toMatchObject({ readOnly: true });
        expect(mount.subPath, mount.name).toBeUndefined();
      }
    });

    it('has a Service (and a ServiceMonitor when enabled) that reach the pod on its http and metrics ports', () => {
      const { labels } = podOf(manifests);
      const service = one(manifests, 'Service');
      expect(labels).toMatchObject(service.spec!.selector!);
      expect(one(manifests, 'Deployment').spec!.selector.matchLabels).toEqual(service.spec!.selector);
      expect(service.spec!.ports).toEqual([
        expect.objectContaining({ name: 'http', targetPort: 'http' }),
        expect.objectContaining({ name: 'metrics', targetPort: 'metrics' }),
      ]);
      // Rendered exactly when the values enable it (the loop below must have something to check then).
      const valuesFile = args[1];
      const values = valuesFile === undefined ? {} : (parseYaml(readFileSync(valuesFile, 'utf8')) as { serviceMonitor?: { enabled?: boolean } });
      expect(all(manifests, 'ServiceMonitor')).toHaveLength(values.serviceMonitor?.enabled === true ? 1 : 0);
      for (const monitor of all(manifests, 'ServiceMonitor')) {
        expect(service.metadata?.labels).toMatchObject(monitor.spec.selector.matchLabels!);
        expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
      }
    });

    it('puts a bridge config in its ConfigMap that passes `kube-audit-bridge validate`, every webhook source closed', async () => {
      const result = await validateRenderedConfig(manifests);
      const config = parseYaml(readFileSync(result.file, 'utf8')) as BridgeConfig;
      // Sources this build cannot run yet may only be reported as such; every other problem fails.
      // As source types become runnable (a create in their component) this tightens to a plain exit 0.
      const pending = config.sources.flatMap((s, i) => (RUNNABLE.has(s.type) ? [] : [`  sources[${i}].type: ${s.type} sources are not available yet in this version`]));
      if (pending.length === 0) {
        expectValid(result);
      } else {
        expect(result.stderr.trimEnd().split('\n').slice(1)).toEqual(pending);
        expect(result.code).toBe(2);
      }
      // Closed: each webhook source asks for a token (whose file validate found) or a client certificate.
      for (const source of config.sources.filter((s) => s.type === 'webhook')) {
        expect(source.bearerTokenFile ?? config.server.tls?.clientCaFile, source.name).toBeDefined();
        expect(source.allowUnauthenticated, source.name).toBeUndefined();
      }
      // The server listens where the probes and the Service look.
      const ports = podOf(manifests).container.ports ?? [];
      expect(config.server.port).toBe(ports.find((p) => p.name === 'http')?.containerPort);
      expect(config.server.telemetry?.port).toBe(ports.find((p) => p.name === 'metrics')?.containerPort);
    });

    it('gives SIGTERM longer than the configured shutdownTimeout to drain', () => {
      const config = parseYaml(one(manifests, 'ConfigMap').data!['config.yaml']!) as { pipeline?: { shutdownTimeout?: string } };
      const shutdownMs = parseDuration(config.pipeline?.shutdownTimeout ?? '30s')!;
      expect(podOf(manifests).pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(shutdownMs);
    });
  });

  it('annotates the ServiceAccount for each cloud’s workload identity, and labels the pod for AKS', async () => {
    const annotations = async (file: string) => one(await renderWith(example(file)), 'ServiceAccount').metadata?.annotations ?? {};
    expect(await annotations('gke-falco.yaml')).toEqual({ 'iam.gke.io/gcp-service-account': 'kube-audit-bridge@my-project.iam.gserviceaccount.com' });
    expect(await annotations('eks-sysdig.yaml')).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/kube-audit-bridge' });
    const aks = await renderWith(example('aks-rules-slack.yaml'));
    expect(one(aks, 'ServiceAccount').metadata?.annotations).toEqual({ 'azure.workload.identity/client-id': '11111111-2222-3333-4444-555555555555' });
    expect(podOf(aks).labels).toMatchObject({ 'azure.workload.identity/use': 'true' });
    for (const file of ['gke-falco.yaml', 'eks-sysdig.yaml', 'selfmanaged-webhook-falco.yaml']) {
      expect(podOf(await renderWith(example(file))).labels).not.toHaveProperty(['azure.workload.identity/use']);
    }
  });

  it('takes credentials from existing Secrets: a Google key file, AWS keys, an Azure client secret', async () => {
    const google = podOf(await renderWith(['--set', 'gcp.keySecret.name=gcp-key', '--set', 'gcp.keySecret.key=sa.json']));
    expect(google.container.env).toContainEqual({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/var/run/secrets/google/key.json' });
    expect(google.container.volumeMounts).toContainEqual({ name: 'google-key', mountPath: '/var/run/secrets/google', readOnly: true });
    expect(google.pod.volumes).toContainEqual({ name: 'google-key', secret: { secretName: 'gcp-key', items: [{ key: 'sa.json', path: 'key.json' }] } });

    const aws = await renderWith(['--set', 'aws.credentialsSecret.name=aws-keys', '--set', 'aws.credentialsSecret.sessionTokenKey=token']);
    expect(podOf(aws).container.env?.filter((e) => e.name !== 'NODE_OPTIONS')).toEqual([
      { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'aws-keys', key: 'AWS_ACCESS_KEY_ID' } } },
      { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'aws-keys', key: 'AWS_SECRET_ACCESS_KEY' } } },
      { name: 'AWS_SESSION_TOKEN', valueFrom: { secretKeyRef: { name: 'aws-keys', key: 'token' } } },
    ]);

    const azure = await renderWith(['--set', 'azure.clientSecret.name=azure-sp']);
    expect(podOf(azure).container.env?.map((e) => e.name)).toEqual(['NODE_OPTIONS', 'AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET']);
    for (const m of [aws, azure]) expect(() => new Deployment(one(m, 'Deployment')).validate()).not.toThrow();
  });

  it('caps the Node heap by default and leaves it to Node with heapLimitMiB null', async () => {
    const capped = podOf(await renderWith(['--set', 'heapLimitMiB=192'])).container;
    expect(capped.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=192 --max-semi-space-size=8');
    const oldOnly = podOf(await renderWith(['--set', 'semiSpaceMiB=null'])).container;
    expect(oldOnly.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=256');
    const uncapped = podOf(await renderWith(['--set', 'heapLimitMiB=null', '--set', 'semiSpaceMiB=null'])).container;
    expect(uncapped.env?.some((e) => e.name === 'NODE_OPTIONS') ?? false).toBe(false);
  });

  it('without persistence, keeps the checkpoint on an emptyDir and warns in NOTES', async () => {
    const manifests = await renderWith(['--set', 'persistence.enabled=false']);
    expect(all(manifests, 'PersistentVolumeClaim')).toEqual([]);
    expect(podOf(manifests).pod.volumes).toContainEqual({ name: 'data', emptyDir: {} });
    const install = await helm(['install', 'kab', CHART, '--namespace', 'audit', '--dry-run=client', '--set', 'persistence.enabled=false']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/WARNING: persistence.enabled=false: checkpoints, dedupe windows and the dead-letter file are on an\s+emptyDir/);
    const persistent = await helm(['install', 'kab', CHART, '--namespace', 'audit', '--dry-run=client']);
    expect(persistent.stdout).toContain('NOTES:');
    expect(persistent.stdout).not.toContain('WARNING');
    expect(persistent.stdout).toContain('http://kab-kube-audit-bridge.audit.svc:8080/audit/cluster');
  });

  it('uses an existing claim when given one', async () => {
    const manifests = await renderWith(['--set', 'persistence.existingClaim=audit-checkpoints']);
    expect(all(manifests, 'PersistentVolumeClaim')).toEqual([]);
    expect(podOf(manifests).pod.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'audit-checkpoints' } });
  });

  it('leaves the user and group ids to the platform when they are null (OpenShift), still non-root', async () => {
    const dir = await tempDir('kab-chart-');
    const file = join(dir, 'values.yaml');
    await writeFile(file, JSON.stringify({ podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null } }));
    const { pod, container } = podOf(await renderWith(['-f', file]));
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, fsGroupChangePolicy: 'OnRootMismatch' });
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
  });

  describe('closed by default', () => {
    it('makes a random token Secret, mounts it read-only and sets it as the webhook source’s bearerTokenFile, which validate reads', async () => {
      const manifests = await renderWith([]);
      const secret = one(manifests, 'Secret');
      expect(secret.metadata?.name).toBe(TOKEN_SECRET);
      expect(secret.type).toBe('Opaque');
      expect(Object.keys(secret.data ?? {})).toEqual(['token']);
      const token = chartToken(manifests);
      expect(token).toMatch(/^[A-Za-z0-9]{32,}$/);

      const { pod, container } = podOf(manifests);
      expect(pod.volumes).toContainEqual({ name: 'webhook-token', secret: { secretName: TOKEN_SECRET, items: [{ key: 'token', path: 'token' }] } });
      expect(container.volumeMounts).toContainEqual({ name: 'webhook-token', mountPath: TOKEN_DIR, readOnly: true });
      expect(configOf(manifests).sources).toEqual([{ name: 'cluster', type: 'webhook', bearerTokenFile: `${TOKEN_DIR}/token` }]);

      const result = await validateRenderedConfig(manifests);
      expectValid(result);
      expect(readFileSync(join(result.root, TOKEN_DIR, 'token'), 'utf8')).toBe(token);
      // validate really read it: emptied, the same config is refused.
      await writeFile(join(result.root, TOKEN_DIR, 'token'), '');
      const emptied = await runCli(['validate', '--config', result.file], { cwd: REPO });
      expect(emptied.code).toBe(2);
      expect(emptied.stderr).toContain(`sources[0].bearerTokenFile: the file ${join(result.root, TOKEN_DIR, 'token')} is empty`);

      // Drawn at random, not a constant of the chart.
      const again = await helm(['template', 'kab', CHART, '--namespace', 'audit', '--show-only', 'templates/secret-webhook-token.yaml']);
      expect(chartToken(parseManifests(again.stdout))).not.toBe(token);
    });

    it('keeps the token of the Secret already in the cluster (an upgrade), and draws one when that Secret lacks the key', async () => {
      const owned = { labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'kab', 'meta.helm.sh/release-namespace': 'audit' } };
      const existing = (data: Record<string, string>) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: TOKEN_SECRET, namespace: 'audit', ...owned },
        type: 'Opaque',
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      });
      const render = async (secret: ReturnType<typeof existing>) => {
        const api = await fakeApiServer([secret]);
        try {
          const args = ['template', 'kab', CHART, '--namespace', 'audit', '--dry-run=server', '--disable-openapi-validation', '--show-only', 'templates/secret-webhook-token.yaml'];
          const result = await helm(args, { kubeconfig: api.kubeconfig });
          expect(result.code, result.stderr).toBe(0);
          expect(api.requests).toContain(`GET /api/v1/namespaces/audit/secrets/${TOKEN_SECRET}`);
          return chartToken(parseManifests(result.stdout));
        } finally {
          await api.close();
        }
      };
      const kept = 'kept0token0from0the0first0install0000000000000';
      expect(await render(existing({ token: kept }))).toBe(kept);
      const drawn = await render(existing({ other: kept }));
      expect(drawn).toMatch(/^[A-Za-z0-9]{32,}$/);
      expect(drawn).not.toBe(kept);
    });

    it('takes the token from webhookAuth.existingSecret (its key) and renders no Secret', async () => {
      const manifests = await renderWith(['--set', 'webhookAuth.existingSecret=audit-webhook-token', '--set', 'webhookAuth.key=apiserver.token']);
      expect(all(manifests, 'Secret')).toEqual([]);
      const { pod, container } = podOf(manifests);
      expect(pod.volumes).toContainEqual({ name: 'webhook-token', secret: { secretName: 'audit-webhook-token', items: [{ key: 'apiserver.token', path: 'token' }] } });
      expect(container.volumeMounts).toContainEqual({ name: 'webhook-token', mountPath: TOKEN_DIR, readOnly: true });
      expect(configOf(manifests).sources[0]!.bearerTokenFile).toBe(`${TOKEN_DIR}/token`);
      const result = await validateRenderedConfig(manifests);
      expectValid(result);
      expect(readFileSync(join(result.root, TOKEN_DIR, 'token'), 'utf8')).toBe('placeholder-for-audit-webhook-token/apiserver.token');
      // createSecret: false changes nothing when the Secret is the user's.
      expect(await renderWith(['--set', 'webhookAuth.existingSecret=audit-webhook-token', '--set', 'webhookAuth.key=apiserver.token', '--set', 'webhookAuth.createSecret=false'])).toEqual(manifests);
    });

    it('leaves the user’s settings: allowUnauthenticated gets no token, an own bearerTokenFile stays, the rest get the chart’s', async () => {
      const sources = [
        { name: 'open', type: 'webhook', allowUnauthenticated: true },
        { name: 'own', type: 'webhook', bearerTokenFile: '/var/run/secrets/own/token' },
        { name: 'closed', type: 'webhook', allowUnauthenticated: false },
      ];
      const manifests = await renderWith(
        await valuesFile({
          config: { sources, sinks: [{ name: 'console', type: 'stdout' }] },
          extraVolumes: [{ name: 'own-token', secret: { secretName: 'own-token', items: [{ key: 'token', path: 'token' }] } }],
          extraVolumeMounts: [{ name: 'own-token', mountPath: '/var/run/secrets/own', readOnly: true }],
        }),
      );
      expect(configOf(manifests).sources).toEqual([sources[0], sources[1], { ...sources[2], bearerTokenFile: `${TOKEN_DIR}/token` }]);
      expect(one(manifests, 'Secret').metadata?.name).toBe(TOKEN_SECRET);
      expectValid(await validateRenderedConfig(manifests));

      // A source that is open on purpose needs no token: no Secret, no mount.
      const open = await renderWith(await valuesFile({ config: { sources: [sources[0]], sinks: [{ name: 'console', type: 'stdout' }] } }));
      expect(configOf(open).sources).toEqual([sources[0]]);
      expect(all(open, 'Secret')).toEqual([]);
      expect(podOf(open).pod.volumes?.map((v) => v.name)).not.toContain('webhook-token');
      expectValid(await validateRenderedConfig(open));

      // Nor do the cloud examples, which have no webhook source.
      for (const file of ['aks-rules-slack.yaml', 'eks-sysdig.yaml', 'gke-falco.yaml']) {
        const cloud = await renderWith(example(file));
        expect(all(cloud, 'Secret'), file).toEqual([]);
        expect(podOf(cloud).pod.volumes?.map((v) => v.name), file).not.toContain('webhook-token');
      }
    });

    it('serves HTTPS from tls.secretName, the Secret mounted as a directory, and asks for client certificates with tls.clientCertificates', async () => {
      const manifests = await renderWith(['--set', 'tls.secretName=bridge-tls']);
      expect(configOf(manifests).server.tls).toEqual({ certFile: `${TLS_DIR}/tls.crt`, keyFile: `${TLS_DIR}/tls.key` });
      const { pod, container } = podOf(manifests);
      expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'bridge-tls' } });
      expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
      expect(one(manifests, 'Service').spec!.ports![0]).toMatchObject({ name: 'http', appProtocol: 'https' });
      // The token stays: TLS hides it on the wire, it does not replace it.
      expect(configOf(manifests).sources[0]!.bearerTokenFile).toBe(`${TOKEN_DIR}/token`);
      expectValid(await validateRenderedConfig(manifests));
      expect(one(await renderWith([]), 'Service').spec!.ports![0]!.appProtocol).toBeUndefined();

      const mtls = await renderWith(['--set', 'tls.secretName=bridge-tls', '--set', 'tls.clientCertificates=true']);
      expect(configOf(mtls).server.tls).toEqual({ certFile: `${TLS_DIR}/tls.crt`, keyFile: `${TLS_DIR}/tls.key`, clientCaFile: `${TLS_DIR}/ca.crt` });
      expectValid(await validateRenderedConfig(mtls));

      // Client certificates alone close the source: no token asked for, none made.
      const certsOnly = await renderWith(['--set', 'tls.secretName=bridge-tls', '--set', 'tls.clientCertificates=true', '--set', 'webhookAuth.createSecret=false']);
      expect(all(certsOnly, 'Secret')).toEqual([]);
      expect(configOf(certsOnly).sources).toEqual([{ name: 'cluster', type: 'webhook' }]);
      expectValid(await validateRenderedConfig(certsOnly));
    });

    it('serves /metrics and the probes on the telemetry port: container, Service, probes, ServiceMonitor and config agree', async () => {
      for (const [args, port] of [
        [[], 9090],
        [['--set', 'service.telemetryPort=9100'], 9100],
      ] as const) {
        const manifests = await renderWith([...args, '--set', 'serviceMonitor.enabled=true']);
        const { container } = podOf(manifests);
        expect(container.ports).toContainEqual({ name: 'metrics', containerPort: port, protocol: 'TCP' });
        expect(one(manifests, 'Service').spec!.ports).toContainEqual({ name: 'metrics', port, targetPort: 'metrics', protocol: 'TCP' });
        for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) expect(probe?.httpGet?.port).toBe('metrics');
        expect(one(manifests, 'ServiceMonitor').spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
        expect(configOf(manifests).server).toEqual({ host: '0.0.0.0', port: 8080, telemetry: { port } });
      }

      // null: everything on the audit port, as before it had one of its own; HTTPS there with TLS.
      const shared = await renderWith(['--set', 'service.telemetryPort=null', '--set', 'serviceMonitor.enabled=true']);
      expect(podOf(shared).container.ports?.map((p) => p.name)).toEqual(['http']);
      expect(one(shared, 'Service').spec!.ports?.map((p) => p.name)).toEqual(['http']);
      expect(podOf(shared).container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(one(shared, 'ServiceMonitor').spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
      expect(configOf(shared).server.telemetry).toBeUndefined();
      expectValid(await validateRenderedConfig(shared));

      const sharedTls = await renderWith(['--set', 'service.telemetryPort=null', '--set', 'serviceMonitor.enabled=true', '--set', 'tls.secretName=bridge-tls']);
      const { container } = podOf(sharedTls);
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) expect(probe?.httpGet).toMatchObject({ port: 'http', scheme: 'HTTPS' });
      expect(one(sharedTls, 'ServiceMonitor').spec.endpoints).toEqual([
        expect.objectContaining({ port: 'http', scheme: 'https', tlsConfig: { ca: { secret: { name: 'bridge-tls', key: 'ca.crt' } }, serverName: 'kab-kube-audit-bridge.audit.svc' } }),
      ]);
      for (const m of sharedTls) {
        const Model = MODELS[`${m.apiVersion}/${m.kind}`]!;
        expect(() => new Model(m as never).validate(), m.kind).not.toThrow();
      }
    });
  });

  describe('NetworkPolicy', () => {
    const AUDIT_PEERS = [{ ipBlock: { cidr: '10.0.0.0/24' } }, { ipBlock: { cidr: '10.0.1.0/28', except: ['10.0.1.8/29'] } }];
    const METRICS_PEERS = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }];
    const policyWith = async (networkPolicy: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      const manifests = await renderWith(await valuesFile({ networkPolicy: { enabled: true, ...networkPolicy }, ...extra }));
      const policy = one(manifests, 'NetworkPolicy');
      expect(() => new NetworkPolicy(policy).validate()).not.toThrow();
      expect(podOf(manifests).labels).toMatchObject(policy.spec!.podSelector.matchLabels!);
      expect(policy.spec!.policyTypes).toEqual(['Ingress']);
      // Never a rule that admits everyone.
      for (const rule of policy.spec!.ingress ?? []) expect(rule.from?.length).toBeGreaterThan(0);
      return policy.spec!.ingress;
    };

    it('is off by default', async () => {
      expect(all(await renderWith([]), 'NetworkPolicy')).toEqual([]);
    });

    it('admits exactly the named peers, the audit peers on the audit port and the scrapers on the telemetry port', async () => {
      expect(await policyWith({ auditFrom: AUDIT_PEERS, metricsFrom: METRICS_PEERS })).toEqual([
        { from: AUDIT_PEERS, ports: [{ port: 8080, protocol: 'TCP' }] },
        { from: METRICS_PEERS, ports: [{ port: 9090, protocol: 'TCP' }] },
      ]);
      // With the telemetry port off, scrapers are admitted to the one port there is.
      expect(await policyWith({ auditFrom: AUDIT_PEERS, metricsFrom: METRICS_PEERS }, { service: { type: 'ClusterIP', port: 8443, telemetryPort: null } })).toEqual([
        { from: AUDIT_PEERS, ports: [{ port: 8443, protocol: 'TCP' }] },
        { from: METRICS_PEERS, ports: [{ port: 8443, protocol: 'TCP' }] },
      ]);
    });

    it('renders no rule for an empty list: nothing is admitted there', async () => {
      expect(await policyWith({ auditFrom: AUDIT_PEERS })).toEqual([{ from: AUDIT_PEERS, ports: [{ port: 8080, protocol: 'TCP' }] }]);
      expect(await policyWith({ metricsFrom: METRICS_PEERS })).toEqual([{ from: METRICS_PEERS, ports: [{ port: 9090, protocol: 'TCP' }] }]);
      expect(await policyWith({})).toEqual([]);
      const { notes } = await installDryRun(await valuesFile({ networkPolicy: { enabled: true, metricsFrom: METRICS_PEERS } }));
      expect(notes).toContain('WARNING: networkPolicy.enabled with an empty networkPolicy.auditFrom admits no one to the audit port');
    });
  });

  describe('NOTES', () => {
    it('show the kube-apiserver’s kubeconfig for the default webhook source: its URL, the token taken from the Secret, never the token', async () => {
      const { manifests, notes } = await installDryRun([]);
      const token = chartToken(manifests);
      expect(notes).not.toContain(token);
      expect(notes).not.toContain(Buffer.from(token).toString('base64'));

      const kubeconfig = notesKubeconfigs(notes);
      expect([...kubeconfig.keys()]).toEqual(['cluster']);
      const { config } = kubeconfig.get('cluster')!;
      expect(config.clusters).toEqual([{ name: 'kube-audit-bridge', cluster: { server: 'http://kab-kube-audit-bridge.audit.svc:8080/audit/cluster' } }]);
      expect(config.users).toEqual([{ name: 'kube-apiserver', user: { token: '${TOKEN}' } }]);
      expect(config.contexts).toEqual([{ name: config['current-context'], context: { cluster: 'kube-audit-bridge', user: 'kube-apiserver' } }]);
      expect(notes).toContain(`TOKEN=$(kubectl -n audit get secret ${TOKEN_SECRET} -o jsonpath='{.data.token}' | base64 -d)`);
      expect(notes).toContain('--audit-webhook-config-file=/etc/kubernetes/audit/cluster-webhook.kubeconfig');
      expect(notes).toMatch(/^ {2}--audit-policy-file=\/etc\/kubernetes\/audit\/audit-policy\.yaml$/m);

      // Run as written, the lines write a kubeconfig with the Secret's token in it.
      const run = await runNotesScript(notes, 'cluster', { [TOKEN_SECRET]: { token } });
      expect(Object.keys(run.files).sort()).toEqual(['audit-policy.yaml', 'cluster-webhook.kubeconfig']);
      expect((parseYaml(run.files['cluster-webhook.kubeconfig']!) as Kubeconfig).users[0]!.user).toEqual({ token });
      expect(run.calls).toEqual([`get secret ${TOKEN_SECRET} -o jsonpath={.data.token}`, 'exec deploy/kab-kube-audit-bridge -- cat /app/config/audit-policy.yaml']);
    });

    it('with TLS, client certificates, a NodePort and an existing Secret: https to the node port, the CA, the client certificate, that Secret’s key', async () => {
      const { manifests, notes } = await installDryRun([
        '--set',
        'tls.secretName=bridge-tls',
        '--set',
        'tls.clientCertificates=true',
        '--set',
        'service.type=NodePort',
        '--set',
        'webhookAuth.existingSecret=audit-webhook-token',
        '--set',
        'webhookAuth.key=apiserver.token',
      ]);
      expect(all(manifests, 'Secret')).toEqual([]);
      const { config } = notesKubeconfigs(notes).get('cluster')!;
      expect(config.clusters[0]!.cluster).toEqual({ server: 'https://${NODE_IP}:${NODE_PORT}/audit/cluster', 'certificate-authority': '/etc/kubernetes/audit/kube-audit-bridge-ca.crt' });
      expect(config.users[0]!.user).toEqual({ token: '${TOKEN}', 'client-certificate': '/etc/kubernetes/audit/client.crt', 'client-key': '/etc/kubernetes/audit/client.key' });

      const run = await runNotesScript(notes, 'cluster', {
        'audit-webhook-token': { 'apiserver.token': 'the-token-the-user-made' },
        'bridge-tls': { 'ca.crt': 'THE CA' },
      });
      expect(run.files['kube-audit-bridge-ca.crt']).toBe('THE CA');
      const written = parseYaml(run.files['cluster-webhook.kubeconfig']!) as Kubeconfig;
      expect(written.clusters[0]!.cluster.server).toBe('https://192.0.2.10:30080/audit/cluster');
      expect(written.users[0]!.user.token).toBe('the-token-the-user-made');
      expect(run.calls).toContain('get svc kab-kube-audit-bridge -o jsonpath={.spec.ports[?(@.name=="http")].nodePort}');
    });

    it('for the self-managed example, and with no token where a source is open on purpose (and a warning)', async () => {
      const selfManaged = await installDryRun(example('selfmanaged-webhook-falco.yaml'));
      const onprem = notesKubeconfigs(selfManaged.notes).get('onprem')!.config;
      expect(onprem.clusters[0]!.cluster).toEqual({ server: 'http://${NODE_IP}:${NODE_PORT}/audit/onprem' });
      const run = await runNotesScript(selfManaged.notes, 'onprem', { 'audit-webhook-token': { token: SECRET_VALUES['audit-webhook-token/token']! } });
      expect((parseYaml(run.files['onprem-webhook.kubeconfig']!) as Kubeconfig).users[0]!.user).toEqual({ token: SECRET_VALUES['audit-webhook-token/token'] });

      const open = await installDryRun(await valuesFile({ config: { sources: [{ name: 'lab', type: 'webhook', allowUnauthenticated: true }], sinks: [{ name: 'console', type: 'stdout' }] } }));
      expect(notesKubeconfigs(open.notes).get('lab')!.config.users).toEqual([{ name: 'kube-apiserver', user: {} }]);
      expect(open.notes).not.toContain('TOKEN');
      expect(open.notes).toContain('WARNING: the webhook source lab has allowUnauthenticated: true: anyone who can reach port\n8080 can post audit events to it');
    });
  });

  // Values Helm must refuse, each with the part of the message that says why.
  const BAD_VALUES: [string, Record<string, unknown>, RegExp][] = [
    ['a second replica', { replicaCount: 2 }, /additional properties 'replicaCount' not allowed/],
    ['no source', { config: { sources: [] } }, /\/config\/sources.*minItems/s],
    ['an unknown source type', { config: { sources: [{ name: 'x', type: 'gce' }] } }, /\/config\/sources\/0\/type.*one of/s],
    ['a gke source without projectId', { config: { sources: [{ name: 'x', type: 'gke' }] } }, /missing property 'projectId'/],
    ['a webhook sink without url', { config: { sinks: [{ name: 'x', type: 'webhook' }] } }, /missing property 'url'/],
    ['a source name with capitals', { config: { sources: [{ name: 'Prod', type: 'webhook' }] } }, /\/config\/sources\/0\/name/],
    ['server settings (the chart owns them)', { config: { server: { port: 9000 } } }, /additional properties 'server' not allowed/],
    ['a checkpoint path (the chart owns it)', { config: { checkpoint: { path: '/x.json' } } }, /additional properties 'path' not allowed/],
    ['root', { podSecurityContext: { runAsUser: 0 } }, /\/podSecurityContext\/runAsUser/],
    ['a securityContext override', { securityContext: { privileged: true } }, /additional properties 'securityContext' not allowed/],
    ['a probe path', { livenessProbe: { httpGet: { path: '/' } } }, /\/livenessProbe.*httpGet/s],
    ['a port that is not a number', { service: { port: 'http' } }, /\/service\/port/],
    ['an unknown service type', { service: { type: 'ExternalName' } }, /\/service\/type/],
    ['a read-only access mode', { persistence: { accessModes: ['ReadOnlyMany'] } }, /\/persistence\/accessModes\/0/],
    ['a malformed role ARN', { aws: { roleArn: 'kube-audit-bridge' } }, /\/aws\/roleArn/],
    ['a client id that is not a GUID', { azure: { workloadIdentity: { clientId: 'bridge' } } }, /\/azure\/workloadIdentity\/clientId/],
    ['a Google account that is not a service account', { gcp: { serviceAccount: 'me@example.com' } }, /\/gcp\/serviceAccount/],
    ['a rule file name with a slash', { rules: { 'a/b.yaml': 'rules: []' } }, /invalid propertyName 'a\/b\.yaml'/],
    ['a misspelt key', { persistance: { enabled: false } }, /additional properties 'persistance' not allowed/],
    [
      'workload identity and a key file at once',
      { gcp: { serviceAccount: 'bridge@p-123456.iam.gserviceaccount.com', keySecret: { name: 'k' } } },
      /gcp: set serviceAccount \(workload identity\) or keySecret.name \(key file\), not both/,
    ],
    [
      'a grace period shorter than the shutdown timeout',
      { config: { pipeline: { shutdownTimeout: '2m' } }, terminationGracePeriodSeconds: 90 },
      /terminationGracePeriodSeconds \(90\) must be longer than config.pipeline.shutdownTimeout \(2m\)/,
    ],
    ['two sources of one name', { config: { sources: [{ name: 'a', type: 'webhook' }, { name: 'a', type: 'webhook' }] } }, /the name "a" is used twice/],
    [
      'a webhook source left open without a token',
      { webhookAuth: { createSecret: false } },
      /webhook source\(s\) cluster would accept audit events from anyone: keep webhookAuth.createSecret or set webhookAuth.existingSecret/,
    ],
    ['an allowUnauthenticated that is not a boolean', { config: { sources: [{ name: 'a', type: 'webhook', allowUnauthenticated: 'yes' }] } }, /\/config\/sources\/0\/allowUnauthenticated/],
    ['an existing token Secret name with capitals', { webhookAuth: { existingSecret: 'Audit-Token' } }, /\/webhookAuth\/existingSecret/],
    ['a misspelt webhookAuth key', { webhookAuth: { secretName: 'x' } }, /additional properties 'secretName' not allowed/],
    ['client certificates without a TLS Secret', { tls: { clientCertificates: true } }, /tls.clientCertificates needs tls.secretName/],
    ['the telemetry port on the audit port', { service: { type: 'ClusterIP', port: 8080, telemetryPort: 8080 } }, /service.telemetryPort \(8080\) must differ from service.port/],
    ['a telemetry port out of range', { service: { type: 'ClusterIP', port: 8080, telemetryPort: 70000 } }, /\/service\/telemetryPort/],
    ['an empty NetworkPolicy peer (it would admit everyone)', { networkPolicy: { enabled: true, auditFrom: [{}] } }, /\/networkPolicy\/auditFrom\/0/],
    ['an ipBlock beside a selector', { networkPolicy: { enabled: true, metricsFrom: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] } }, /\/networkPolicy\/metricsFrom\/0/],
    ['an ipBlock that is not a CIDR', { networkPolicy: { enabled: true, auditFrom: [{ ipBlock: { cidr: '10.0.0.1' } }] } }, /\/networkPolicy\/auditFrom\/0\/ipBlock\/cidr/],
  ];

  it.each(BAD_VALUES)('refuses %s', async (_what, values, message) => {
    const dir = await tempDir('kab-chart-');
    const file = join(dir, 'values.yaml');
    await writeFile(file, JSON.stringify(values));
    const result = await helm(['template', 'kab', CHART, '-f', file]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('agrees with the image: user, working directory, data and config paths', () => {
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { podSecurityContext: { runAsUser: number; runAsGroup: number } };
    const { runAsUser, runAsGroup } = values.podSecurityContext;
    expect(dockerfile).toMatch(new RegExp(`^USER ${runAsUser}:${runAsGroup}$`, 'm'));
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toContain(`chown ${runAsUser}:${runAsGroup} ${DATA_DIR}`);
    expect(dockerfile).toMatch(/^COPY config \.\/config$/m);
    // Exec form, so no shell sits between the signal and tini, which forwards it to node.
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/dist\/cli\/main\.js"\]$/m);
    expect(dockerfile).toContain(`CMD ["run", "--config", "${CONFIG_PATH}"]`);
  });
});
