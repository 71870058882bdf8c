// Everything a parsed config must satisfy beyond its schema, in one place: `validate`, `run` and
// Bridge.create all call checkConfig. Each component checks its own entry (src/registry.ts); what
// the checks compile (the policy, filters, rule engines) is handed on so that no file is read twice.
import { readFileSync } from 'node:fs';
import type { CheckContext } from './component/source.js';
import type { Config } from './config/schema.js';
import { compileProcessing, type CompiledProcessing } from './process/stages.js';
import { sinkComponent, sourceComponent } from './registry.js';

export interface CheckedConfig {
  /** One line each, naming the key and how to fix it; any problem refuses the config (exit 2). */
  problems: string[];
  /** Worth saying at every start; never refuse the config. */
  warnings: string[];
  /** Present when there is no problem. */
  compiled?: CompiledConfig;
}

/** What the checks compiled, for the bridge to use as is. */
export interface CompiledConfig {
  processing: CompiledProcessing;
  /** What each sink's check prepared (a rules sink's engine), by sink name. */
  prepared: ReadonlyMap<string, unknown>;
}

export interface CheckOptions {
  /**
   * Read the token, certificate and key files the config names (default). Off only where the
   * files live on another machine.
   */
  files?: boolean;
  /** Relative rule paths resolve here; default the working directory. */
  cwd?: string;
}

export function checkConfig(config: Config, options: CheckOptions = {}): CheckedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const ctx: CheckContext = {
    serverTls: config.server.tls !== undefined,
    clientCertificates: config.server.tls?.clientCaFile !== undefined,
    serverLoopback: isLoopbackHost(config.server.host),
  };

  config.sources.forEach((entry, i) => {
    const component = sourceComponent(entry.type);
    if (!component.create) problems.push(`sources[${i}].type: ${entry.type} sources are not available yet in this version`);
    const checked = component.check?.(entry, ctx);
    problems.push(...(checked?.problems ?? []).map((p) => `sources[${i}]${p}`));
    warnings.push(...(checked?.warnings ?? []).map((w) => `sources[${i}]${w}`));
  });
  const prepared = new Map<string, unknown>();
  config.sinks.forEach((entry, i) => {
    const checked = sinkComponent(entry.type).check?.(entry, { ...ctx, cwd: options.cwd });
    problems.push(...(checked?.problems ?? []).map((p) => `sinks[${i}]${p}`));
    warnings.push(...(checked?.warnings ?? []).map((w) => `sinks[${i}]${w}`));
    if (checked?.prepared !== undefined) prepared.set(entry.name, checked.prepared);
  });

  const processing = compileProcessing(config.process);
  problems.push(...processing.problems);
  warnings.push(...processing.warnings);

  if (options.files ?? true) problems.push(...credentialFileProblems(config));
  if (problems.length > 0 || !processing.processing) return { problems, warnings };
  return { problems, warnings, compiled: { processing: processing.processing, prepared } };
}

// Keys naming a file that holds a credential, a certificate or a key. The bridge reads them at
// start (or at first use), so a missing one is a config error now rather than 401s later.
const CREDENTIAL_FILE_KEYS = new Set([
  'bearerTokenFile',
  'caFile',
  'certFile',
  'keyFile',
  'clientCaFile',
  'usernameFile',
  'passwordFile',
  'clientSecretFile',
  'certificateFile',
  'connectionStringFile',
]);

/** Every credential file of the config that is missing, unreadable or empty, with its key path. */
export function credentialFileProblems(config: Config): string[] {
  const problems: string[] = [];
  const visit = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((item, i) => visit(item, `${path}[${i}]`));
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const at = path ? `${path}.${key}` : key;
      if (CREDENTIAL_FILE_KEYS.has(key) && typeof value === 'string') {
        const problem = unreadable(value);
        if (problem) problems.push(`${at}: ${problem}`);
      } else visit(value, at);
    }
  };
  visit({ sources: config.sources, sinks: config.sinks, server: config.server }, '');
  return problems;
}

function unreadable(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? 'error'})`;
    return `the file ${file} ${why}; mount it or fix the path`;
  }
  return text.trim() === '' ? `the file ${file} is empty` : undefined;
}

/** 127.0.0.0/8, ::1 and localhost: traffic to them never leaves the machine. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
