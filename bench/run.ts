import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { formatFigure, type Figure } from './harness.js';
import { suites } from './suites/index.js';

process.env.METADATA_SERVER_DETECTION = 'none';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.flatMap((a, i) => (a === '--only' && args[i + 1] ? [args[i + 1]!] : []));
const selected = suites.filter((s) => only.length === 0 || only.includes(s.name));
if (selected.length === 0) {
  process.stderr.write(`no benchmark suite selected; available: ${suites.map((s) => s.name).join(', ') || 'none yet'}\n`);
  process.exit(only.length > 0 ? 2 : 0);
}

const machine = `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
process.stdout.write(`kube-audit-bridge benchmarks${quick ? ' (quick)' : ''} on ${machine}\n\n`);
const figures: Figure[] = [];
for (const suite of selected) {
  process.stdout.write(`# ${suite.name}: ${suite.description}\n`);
  const result = await suite.run({ quick, log: (m) => process.stderr.write(`  ${m}\n`) });
  for (const f of result) process.stdout.write(`${formatFigure(f)}\n`);
  process.stdout.write('\n');
  figures.push(...result);
}
// One key per figure; a run of some suites (--only) updates their keys and keeps the others'.
const resultsFile = 'bench/results.json';
const previous = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { figures?: Record<string, unknown> }) : {};
const byKey: Record<string, unknown> = { ...(previous.figures ?? {}) };
const at = new Date().toISOString();
for (const f of figures) byKey[f.key] = { ...f, machine, quick, at };
writeFileSync(resultsFile, `${JSON.stringify({ machine, at, figures: Object.fromEntries(Object.entries(byKey).sort(([a], [b]) => a.localeCompare(b))) }, null, 2)}\n`);
process.stdout.write(`figures written to ${resultsFile}\n`);
