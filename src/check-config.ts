// Everything a parsed config must satisfy beyond its schema, in one place: `validate`, `run` and
// Bridge.create all call checkConfig, and what it compiles (the policy, filters, rule engines) is
// handed on so that no file is read twice.
import { readFileSync } from 'node:fs';
import { AVAILABLE_SINK_TYPES } from './sinks/index.js';
import { loadSinkRules } from './sinks/rules/sink.js';
import type { Config } from './config/schema.js';
import { compileProcessing, type CompiledProcessing } from './process/stages.js';
import { AVAILABLE_SOURCE_TYPES } from './sources/index.js';
import type { RuleEngine } from './rules/engine.js';

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
  /** The rule engine of each rules sink, by sink name. */
  rules: ReadonlyMap<string, RuleEngine>;
}

export interface CheckOptions {
  /**
   * Read the token, certificate and key files the config names (default). Off only where the
   * files live on another machine (a chart's config checked in CI).
   */
  files?: boolean;
  /** Relative rule paths resolve here; default the working directory. */
  cwd?: string;
}

export function checkConfig(config: Config, options: CheckOptions = {}): CheckedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];

  config.sources.forEach((s, i) => {
    if (!AVAILABLE_SOURCE_TYPES.has(s.type)) problems.push(`sources[${i}].type: ${s.type} sources are not available yet in this version`);
  });
  config.sinks.forEach((s, i) => {
    if (!AVAILABLE_SINK_TYPES.has(s.type)) problems.push(`sinks[${i}].type: ${s.type} sinks are not available yet in this version`);
  });
  checkWebhookSources(config, problems, warnings);

  const processing = compileProcessing(config.process);
  problems.push(...processing.problems);
  warnings.push(...processing.warnings);

  const rules = new Map<string, RuleEngine>();
  config.sinks.forEach((sink, i) => {
    if (sink.type !== 'rules') return;
    const loaded = loadSinkRules(sink, options.cwd);
    problems.push(...loaded.problems.map((p) => `sinks[${i}].rules: ${p}`));
    if (loaded.engine) rules.set(sink.name, loaded.engine);
  });

  if (options.files ?? true) problems.push(...credentialFileProblems(config));
  if (problems.length > 0 || !processing.processing) return { problems, warnings };
  return { problems, warnings, compiled: { processing: processing.processing, rules } };
}

/** A webhook source is closed unless the config says otherwise: a bearer token, client certificates, or both. */
function checkWebhookSources(config: Config, problems: string[], warnings: string[]): void {
  const mtls = config.server.tls?.clientCaFile !== undefined;
  config.sources.forEach((source, i) => {
    if (source.type !== 'webhook') return;
    const at = `sources[${i}]`;
    const token = source.bearerTokenFile !== undefined;
    if (!token && !mtls && !source.allowUnauthenticated) {
      problems.push(
        `${at}: the webhook source ${source.name} would accept audit events from anyone who can reach the port; ` +
          'set bearerTokenFile (a file holding the token the kube-apiserver presents) or server.tls.clientCaFile (client certificates), ' +
          'or allowUnauthenticated: true if a NetworkPolicy or a private network keeps everyone else out',
      );
    }
    if (source.allowedClientNames !== undefined && !mtls) {
      problems.push(`${at}.allowedClientNames: client names are checked only with client certificates; set server.tls.clientCaFile too, or remove it`);
    }
    if (source.maxBodyBytes > source.maxPendingBytes) {
      problems.push(`${at}.maxBodyBytes: at most maxPendingBytes (${source.maxPendingBytes} bytes), or a body that size could never be taken`);
    }
    if (source.allowUnauthenticated && !token && !mtls) {
      warnings.push(`${at}: the webhook source ${source.name} accepts requests from anyone who can reach the port (allowUnauthenticated: true)`);
    }
    if (config.server.tls === undefined) {
      warnings.push(`${at}: the webhook source ${source.name} is served over plain HTTP${token ? ': its bearer token crosses the network in clear text' : ''}; set server.tls`);
    }
  });
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
