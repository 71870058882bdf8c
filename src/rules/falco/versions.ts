// Which Falco engine and plugins a Falco rule file may require here. The bridge declares the engine
// version of a recent Falco release and the k8saudit and json plugin versions whose fields it
// implements (fields.ts); a file requiring more is refused, as Falco refuses it.

export const ENGINE_VERSION = '0.62.0';

/** The plugins whose fields the bridge provides, and their versions. */
export const PLUGIN_VERSIONS: ReadonlyMap<string, string> = new Map([
  ['k8saudit', '0.18.0'],
  ['json', '0.7.0'],
]);

/**
 * The cloud variants of k8saudit read the same events from a provider's log service and extract the
 * same ka.* fields; the bridge does that reading itself, so a requirement on any of them, at any
 * version, is met by its k8saudit fields.
 */
export const K8SAUDIT_VARIANTS: ReadonlySet<string> = new Set(['k8saudit-aks', 'k8saudit-eks', 'k8saudit-gke', 'k8saudit-ovh']);

/** [major, minor, patch] of "1.2.3" (missing parts are 0), or undefined. */
export function parseVersion(text: string): [number, number, number] | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Falco's problem with a required_engine_version value, or undefined when this engine meets it. */
export function engineVersionProblem(required: unknown): string | undefined {
  // A bare number is the old form: 15 means 0.15.0.
  const text = typeof required === 'number' && Number.isInteger(required) && required >= 0 ? `0.${required}.0` : typeof required === 'string' ? required : undefined;
  const version = text === undefined ? undefined : parseVersion(text);
  if (!version) return `Unable to parse engine version '${String(required)}' as a semantic version`;
  if (compareVersions(version, parseVersion(ENGINE_VERSION)!) > 0) return `Rules require engine version ${version.join('.')}, but engine version is ${ENGINE_VERSION}`;
  return undefined;
}

export interface PluginRequirement {
  name: string;
  version: string;
}

/**
 * Whether one requirement (a plugin or any of its alternatives) is met: undefined when it is; an
 * error when a plugin the bridge provides is too old; a warning when none is provided (its rules
 * are of a source the bridge does not read, and are skipped).
 */
export function pluginRequirementProblem(alternatives: readonly PluginRequirement[]): { error?: string; warning?: string } | undefined {
  let tooOld: string | undefined;
  for (const { name, version } of alternatives) {
    if (K8SAUDIT_VARIANTS.has(name)) return undefined;
    const provided = PLUGIN_VERSIONS.get(name);
    if (provided === undefined) continue;
    const want = parseVersion(version);
    if (want && compareVersions(parseVersion(provided)!, want) >= 0) return undefined;
    tooOld ??= `Plugin '${name}' version '${provided}' is not compatible with required plugin version '${version}'`;
  }
  if (tooOld) return { error: tooOld };
  return { warning: `Plugin requirement not satisfied, must load one of: ${alternatives.map((a) => `${a.name} (>= ${a.version})`).join(', ')}` };
}
