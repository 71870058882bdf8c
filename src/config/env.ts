// ${VAR} and ${VAR:-default} substitution in the string values of a parsed YAML document.
// Substituting after parsing (not in the raw text) means a value can never inject YAML structure,
// and an unset variable can be reported with the key path it was used at.
import { parse as parseYamlScalar } from 'yaml';
import type { ConfigProblem } from './errors.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') return substituteString(value, env, problems, path);
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, problems, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, problems, [...path, k]);
    return out;
  }
  return value;
}

function substituteString(text: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[], path: (string | number)[]): unknown {
  if (!text.includes('${')) return text;
  let missing = false;
  const result = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const set = env[name!];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    missing = true;
    problems.push({
      path,
      message: `environment variable ${name} is not set; set it, or give a default with \${${name}:-value}`,
    });
    return '';
  });
  if (missing) return text;
  // A value that is one whole reference takes the type its text would have in YAML, so
  // `port: ${PORT:-8080}` is the number 8080 and `insecure: ${INSECURE:-false}` a boolean.
  if (WHOLE_REFERENCE.test(text)) {
    try {
      const typed: unknown = parseYamlScalar(result);
      if (typeof typed === 'number' || typeof typed === 'boolean') return typed;
    } catch {
      // not a scalar YAML would type: keep the text
    }
  }
  return result;
}
