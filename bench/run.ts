import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { formatFigure, type Figure } from './harness.js';
import { suites } from './suites/index.js';

process.env.METADATA_SERVER_DETECTION = 'none';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** The suite of each key prefix (the longest that matches), for entries written before results.json recorded the suite. */
const LEGACY_SUITES: Record<string, string> = {
  'latency.gke_pubsub': 'gke-pubsub',
  gke_pubsub: 'gke-pubsub',
  ceiling: 'ceiling',
  normalize: 'normalizers',
  gke: 'gke',
  eks: 'eks',
  aks: 'aks',
  cpu_pipeline: 'cpu-pipeline',
  process: 'process',
  rules: 'rules',
  falco: 'falco',
  webhook_sink: 'webhook-sink',
  end_to_end: 'end-to-end',
  backlog: 'backlog',
  latency: 'latency',
  hostile: 'hostile',
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.flatMap((a, i) => (a === '--only' && args[i + 1] ? [args[i + 1]!] : []));
// A CPU profile of each bridge process the end-to-end suite starts, written to DIR at its exit.
const profileDir = args.flatMap((a, i) => (a === '--bridge-cpu-prof' && args[i + 1] ? [args[i + 1]!] : []))[0];
const bridgeNodeArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
// The end-to-end suite for these providers only (gke, eks, aks).
const providers = args.flatMap((a, i) => (a === '--provider' && args[i + 1] ? [args[i + 1]!] : []));
const selected = suites.filter((s) => only.length === 0 || only.includes(s.name));
if (selected.length === 0) {
  process.stderr.write(`no benchmark suite selected; available: ${suites.map((s) => s.name).join(', ') || 'none yet'}\n`);
  process.exit(only.length > 0 ? 2 : 0);
}

const machine = `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
process.stdout.write(`kube-audit-bridge benchmarks${quick ? ' (quick)' : ''} on ${machine}\n\n`);
const figures: Figure[] = [];
const suiteOf = new Map<Figure, string>();
for (const suite of selected) {
  process.stdout.write(`# ${suite.name}: ${suite.description}\n`);
  const result = await suite.run({ quick, log: (m) => process.stderr.write(`  ${m}\n`), bridgeNodeArgs, providers });
  for (const f of result) {
    process.stdout.write(`${formatFigure(f)}\n`);
    suiteOf.set(f, suite.name);
  }
  process.stdout.write('\n');
  figures.push(...result);
}
// One key per figure, each with the suite that wrote it. A run of some suites (--only) replaces
// those suites' keys (a key such a suite no longer writes goes; not so in a run narrowed by
// --provider, which replaces only the keys it writes) and keeps the other suites'; keys of
// suites that no longer exist go too. A figure too short to measure is kept without a value.
const resultsFile = 'bench/results.json';
type Entry = Record<string, unknown> & { suite?: string };
const previous = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { figures?: Record<string, Entry> }) : {};
const ran = new Set(selected.map((s) => s.name));
const existing = new Set(suites.map((s) => s.name));
const byKey: Record<string, unknown> = {};
for (const [key, entry] of Object.entries(previous.figures ?? {})) {
  const legacy = Object.keys(LEGACY_SUITES)
    .filter((prefix) => key.startsWith(`${prefix}.`))
    .sort((a, b) => b.length - a.length)[0];
  const suite = entry.suite ?? (legacy === undefined ? undefined : LEGACY_SUITES[legacy]);
  // A run narrowed to some providers (--provider) keeps the other providers' figures of its suites.
  if (suite !== undefined && existing.has(suite) && (!ran.has(suite) || providers.length > 0)) byKey[key] = { ...entry, suite };
}
const at = new Date().toISOString();
for (const f of figures) byKey[f.key] = { ...f, suite: suiteOf.get(f)!, machine, quick, at };
if (profileDir !== undefined) {
  // The profiler slows the bridge: such figures are not the bridge's own.
  process.stdout.write(`bridge CPU profiles in ${profileDir}; figures not written to ${resultsFile}\n`);
} else {
  writeFileSync(resultsFile, `${JSON.stringify({ machine, at, figures: Object.fromEntries(Object.entries(byKey).sort(([a], [b]) => a.localeCompare(b))) }, null, 2)}\n`);
  process.stdout.write(`figures written to ${resultsFile}\n`);
}
