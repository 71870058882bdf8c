#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Argument, Command, Option } from 'commander';
import { convertCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { EMULATORS, emulatorCommand } from './emulator.js';
import { SOURCES } from '../registry.js';
import { policyApplyCommand } from './policy.js';
import { rulesCheckCommand, rulesTestCommand } from './rules.js';
import { runCommand } from './run.js';
import { validateCommand } from './validate.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Runs a command's action and turns its result into the process exit code. */
function exitWith<A extends unknown[]>(action: (...args: A) => Promise<number>) {
  return async (...args: A): Promise<void> => {
    process.exitCode = await action(...args);
  };
}

const program = new Command()
  .name('kube-audit-bridge')
  .description('Gets Kubernetes audit events out of GKE, EKS and AKS log services and delivers them to Falco, Sysdig, any HTTP endpoint and its own rules.')
  .version(version)
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) })
  .exitOverride((err) => {
    // commander's own usage errors exit 2, like a bad config; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command('run')
  .description('run the pipeline until stopped (SIGTERM/SIGINT drain in-flight deliveries and commit)')
  .requiredOption('-c, --config <file>', 'configuration file (YAML)')
  .option('--once', 'drain every source up to now − settleLag, deliver, commit and exit')
  .action(exitWith((opts: { config: string; once?: boolean }) => runCommand({ config: opts.config, once: opts.once ?? false })));

program
  .command('validate')
  .description('load and validate a configuration without starting anything')
  .requiredOption('-c, --config <file>', 'configuration file (YAML)')
  .action(exitWith((opts: { config: string }) => validateCommand(opts.config)));

program
  .command('demo')
  .description('run the bridge end to end on embedded sample audit logs until interrupted')
  .option('--duration <duration>', 'stop after this long (e.g. 30s); default: until interrupted')
  .option('--port <port>', 'server port (default: any free port)', '0')
  .option('--json', 'print events and alerts as JSON lines (default: one readable line each)')
  .action(exitWith((opts: { duration?: string; port: string; json?: boolean }) => demoCommand(opts)));

program
  .command('convert')
  .description('convert provider records (gcloud/aws/az exports) to audit Events as JSON lines, each (auditID, stage) once')
  .addOption(new Option('--from <provider>', 'provider format').choices(SOURCES.filter((c) => c.converter).map((c) => c.type)).makeOptionMandatory())
  .option('--cluster <name>', 'cluster name for annotations.cluster_name, when the records do not carry it')
  .option('--region <region>', 'region for the annotations (eks)')
  .option('--account-id <id>', 'account id for the annotations (eks)')
  .option('--no-scrub', 'print Secret values as logged (by default they are redacted, as sinks do)')
  .option('--no-dedupe', 'print every record (by default each (auditID, stage) is printed once, as the pipeline delivers it)')
  .argument('[file]', 'input file, or - for stdin', '-')
  .action(
    exitWith((file: string, opts: { from: string; cluster?: string; region?: string; accountId?: string; scrub: boolean; dedupe: boolean }) =>
      convertCommand(file, opts),
    ),
  );

const rules = program.command('rules').description('check and test rule files');
rules
  .command('check')
  .description('load and compile rule files; report every error with file, rule and position')
  .argument('<files...>', 'rule files (YAML) or globs, in load order')
  .action(exitWith((files: string[]) => rulesCheckCommand(files)));
rules
  .command('test')
  .description('evaluate rules on events and print alerts as JSON lines')
  .requiredOption('--rules <files...>', 'rule files (YAML) or globs, in load order')
  .option('--enable <what>', 'turn on rules shipped disabled: all, a rule name, or tag:TAG (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .addOption(new Option('--matching <mode>', 'first matching rule only, or all').choices(['first', 'all']).default('first'))
  .argument('[events]', 'events: JSON array, JSON lines or an EventList; - for stdin (the default)')
  .action(
    exitWith((events: string | undefined, opts: { rules: string[]; enable: string[]; matching: 'first' | 'all' }) =>
      rulesTestCommand(events, { rules: opts.rules, enable: opts.enable, matching: opts.matching }),
    ),
  );

program
  .command('policy')
  .description('audit Policy tools')
  .command('apply')
  .description('apply an audit Policy to events and print the surviving events as JSON lines')
  .requiredOption('--policy <file>', 'audit.k8s.io/v1 Policy file')
  .option('--no-scrub', 'print Secret values as logged (by default they are redacted, as sinks do)')
  .argument('[events]', 'events file, or - for stdin', '-')
  .action(exitWith((events: string, opts: { policy: string; scrub: boolean }) => policyApplyCommand(events, opts)));

const emulator = program
  .command('emulator')
  .description('serve a cloud API on 127.0.0.1 from provider records, for local development')
  .addArgument(new Argument('<name>', [...EMULATORS.values()].map((e) => `${e.name}: ${e.summary}`).join('; ')).choices([...EMULATORS.keys()]))
  .requiredOption('--port <port>', 'port to listen on (0: any)')
  .requiredOption('--data <file>', 'provider records, in the shapes convert reads')
  .option('--faults <spec>', "faults to inject (see the emulator's README)");
// Each emulator's own options, from its component.
for (const option of [...EMULATORS.values()].flatMap((e) => e.options ?? [])) emulator.option(option.flags, option.description);
emulator.action(exitWith((name: string, opts: Record<string, unknown> & { port: string; data: string }) => emulatorCommand(name, opts)));

await program.parseAsync(process.argv);
